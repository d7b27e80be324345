/// How placement groups map onto what Slurm gives (slurm_place.h).
#include "slurm_place.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

tune_pgf_t *tune_slurm_whole_cpus(const tune_pgf_t *f) {
  tune_pgf_t *w = tune_pgf_dup(f);
  w->total.cpu = 0;
  for (size_t i = 0; i < w->nbundles; i++) {
    int64_t c = w->bundles[i].cpu;
    c = (c + TUNE_RES_SCALE - 1) / TUNE_RES_SCALE * TUNE_RES_SCALE;
    if (i == 0 && c < TUNE_RES_SCALE) c = TUNE_RES_SCALE;
    w->bundles[i].cpu = c;
    w->total.cpu += c;
  }
  return w;
}

static int one_node(const tune_pgf_t *f) { return f->strategy == TUNE_PACK || f->strategy == TUNE_STRICT_PACK; }

void tune_slurm_job_shape(const tune_pgf_t *f, size_t usable, tune_slurm_job_t *job) {
  size_t n = one_node(f) ? 1 : f->nbundles;
  if (f->strategy == TUNE_SPREAD && usable && n > usable) n = usable;
  if (!n) n = 1;
  job->nnodes = n;
  tune_res_init(&job->per_node);
  for (size_t k = 0; k < n; k++) {
    tune_res_t on;
    tune_res_init(&on);
    for (size_t i = 0; i < f->nbundles; i++) {
      if (tune_slurm_job_node(f, n, i) != k) continue;
      on.cpu += f->bundles[i].cpu;
      on.gpu += f->bundles[i].gpu;
      on.memory += f->bundles[i].memory;
    }
    if (on.cpu > job->per_node.cpu) job->per_node.cpu = on.cpu;
    if (on.gpu > job->per_node.gpu) job->per_node.gpu = on.gpu;
    if (on.memory > job->per_node.memory) job->per_node.memory = on.memory;
    tune_res_free(&on);
  }
}

void tune_slurm_job_free(tune_slurm_job_t *job) { tune_res_free(&job->per_node); }

size_t tune_slurm_job_node(const tune_pgf_t *f, size_t n, size_t i) {
  return one_node(f) || !n ? 0 : i % n;
}

static void format_nodes(const tune_cluster_t *c, const int *lost, tune_buf_t *b) {
  size_t shown = 0;
  for (size_t i = 0; i < c->nnodes; i++) {
    if (lost && lost[i]) continue;
    tune_buf_puts(b, shown++ ? "; " : "");
    tune_buf_printf(b, "%s: ", c->nodes[i].name);
    tune_res_t r;
    tune_res_init(&r);
    r.cpu = c->nodes[i].total.cpu;
    r.gpu = c->nodes[i].total.gpu;
    r.memory = c->nodes[i].total.memory;
    tune_res_format(&r, b);
    tune_res_free(&r);
  }
  if (!shown) tune_buf_puts(b, "no nodes");
}

int tune_slurm_job_feasible(const tune_cluster_t *c, const int *lost, const tune_pgf_t *f,
                            const tune_slurm_job_t *job, char *err, size_t errlen) {
  size_t fit = 0;
  for (size_t i = 0; i < c->nnodes; i++)
    if (!(lost && lost[i]) && tune_res_fits(&job->per_node, &c->nodes[i].total)) fit++;
  if (fit >= job->nnodes) return 0;
  tune_buf_t b = TUNE_BUF_INIT;
  tune_buf_puts(&b, "asked for ");
  tune_pgf_format(f, &b);
  tune_buf_puts(&b, " but outside an allocation ");
  if (one_node(f)) tune_buf_puts(&b, "a PACK group is one job on one node, which needs ");
  else tune_buf_printf(&b, "this group is one job of %zu nodes, each needing ", job->nnodes);
  tune_res_format(&job->per_node, &b);
  if (!fit) tune_buf_puts(&b, ", and no node of the partition has that: ");
  else tune_buf_printf(&b, ", and only %zu node%s of the partition %s that: ", fit, fit == 1 ? "" : "s", fit == 1 ? "has" : "have");
  format_nodes(c, lost, &b);
  if (one_node(f) && f->strategy == TUNE_PACK) tune_buf_puts(&b, " (inside an allocation a PACK group may span nodes)");
  snprintf(err, errlen, "%s", b.data);
  tune_buf_free(&b);
  return -1;
}

int tune_slurm_fits_remaining(const tune_cluster_t *c, const int *lost, const tune_res_t *gone,
                              const tune_pgf_t *f) {
  tune_cluster_t rest;
  tune_cluster_init(&rest);
  for (size_t i = 0; i < c->nnodes; i++) {
    tune_res_t t;
    tune_res_copy(&t, &c->nodes[i].total);
    if (lost && lost[i]) {
      t.cpu = t.gpu = t.memory = 0;
    } else if (gone) {
      t.cpu -= gone[i].cpu < t.cpu ? gone[i].cpu : t.cpu;
      t.gpu -= gone[i].gpu < t.gpu ? gone[i].gpu : t.gpu;
      t.memory -= gone[i].memory < t.memory ? gone[i].memory : t.memory;
    }
    tune_cluster_add_node(&rest, c->nodes[i].name, &t, NULL, 0);
    tune_res_free(&t);
  }
  char err[16];
  int ok = tune_cluster_feasible(&rest, f, err, sizeof err) == 0;
  tune_cluster_free(&rest);
  return ok;
}

void tune_slurm_name_asked(const tune_pgf_t *f, const tune_pgf_t *w, char *err, size_t errlen) {
  tune_buf_t asked = TUNE_BUF_INIT, counted = TUNE_BUF_INIT;
  tune_buf_puts(&counted, "asked for ");
  tune_pgf_format(w, &counted);
  tune_pgf_format(f, &asked);
  const char *rest = strncmp(err, counted.data, counted.len) ? NULL : err + counted.len;
  char *msg = tune_xasprintf("%s%s%s (on Slurm a bundle takes whole CPUs, and the worker's bundle at least one: "
                             "%g asked, %g counted)", rest ? "asked for " : err, rest ? asked.data : "", rest ? rest : "",
                             tune_res_from_fixed(f->total.cpu), tune_res_from_fixed(w->total.cpu));
  snprintf(err, errlen, "%s", msg);
  free(msg);
  tune_buf_free(&asked);
  tune_buf_free(&counted);
}

int tune_slurm_licenses_missing(const tune_res_t *asked, const tune_res_t *licenses) {
  for (size_t i = 0; i < asked->ncustom; i++)
    if (asked->custom[i].amount > 0 && !tune_res_get_fixed(licenses, asked->custom[i].name)) return 1;
  return 0;
}

void tune_slurm_note_licenses(const tune_res_t *asked, const tune_res_t *licenses, int in_allocation, char *err,
                              size_t errlen) {
  for (size_t i = 0; i < asked->ncustom; i++) {
    const char *name = asked->custom[i].name;
    size_t n = strlen(err);
    if (asked->custom[i].amount > 0 && !tune_res_get_fixed(licenses, name) && n + 1 < errlen)
      snprintf(err + n, errlen - n, "; Slurm has no license '%s' %s", name,
               in_allocation ? "in this allocation (salloc -L name:n gives it some)" : "(slurm.conf's Licenses=)");
  }
}
