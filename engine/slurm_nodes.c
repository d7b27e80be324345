/// The cluster a Slurm backend places work on, as Slurm describes it:
/// inside an allocation its nodes with what the job holds on each (CPUs,
/// GPUs, memory; less what the driver's own step holds when the driver
/// runs in one) and its licenses; outside one, the partition's nodes that
/// are up and the cluster's licenses. Each node also carries the licenses
/// (cluster-wide counts) so that the engine's placement sees them.
#define _GNU_SOURCE
#include "slurm_nodes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "slurm_query.h"

/// Cluster-wide licenses, copied onto every node as well so that the
/// engine's placement sees them; the backend keeps the global count.
static void add_licenses(const tune_res_t *licenses, tune_res_t *node) {
  for (size_t i = 0; i < licenses->ncustom; i++)
    tune_res_set(node, licenses->custom[i].name, tune_res_from_fixed(licenses->custom[i].amount));
}

static void parse_licenses(tune_res_t *licenses, const char *spec) {
  /* "custom:4,other:2" (a job's) */
  if (!spec || !strcmp(spec, "(null)")) return;
  char *copy = tune_xstrdup(spec), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(tok, ':');
    double n = colon ? strtod(colon + 1, NULL) : 1;
    if (colon) *colon = '\0';
    tune_res_set(licenses, tok, n);
  }
  free(copy);
}

static void cluster_licenses(tune_res_t *licenses) {
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "licenses", "-o", NULL};
  if (tune_slurm_run(argv, &out, NULL) == 0 && out.len) {
    tune_buf_putc(&out, '\0');
    char *save = NULL;
    for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      char *name = tune_slurm_field(line, "LicenseName"), *total = tune_slurm_field(line, "Total");
      if (name && total) tune_res_set(licenses, name, strtod(total, NULL));
      free(name);
      free(total);
    }
  }
  tune_buf_free(&out);
}

static void add_node(tune_cluster_t *c, const tune_res_t *licenses, const char *name, long cpus, double mem_mb,
                     long gpus) {
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", (double)cpus);
  tune_res_set(&r, "GPU", (double)gpus);
  if (mem_mb > 0) tune_res_set(&r, "memory", mem_mb * 1024 * 1024);
  add_licenses(licenses, &r);
  tune_cluster_add_node(c, name, &r, NULL, 0);
  tune_res_free(&r);
}

/// What the driver's own step holds on each of its nodes, when the driver
/// runs in one (`srun tunelua ...` in a batch script): Slurm gives no other
/// step those CPUs (nor the GPUs a step without --gres=none takes).
typedef struct {
  char **nodes;
  size_t n;
  double cpus, gpus, mem_mb;    ///< per node
} driver_step_t;

static void driver_step(const char *job_id, driver_step_t *d) {
  memset(d, 0, sizeof *d);
  const char *step = getenv("SLURM_STEP_ID");
  if (!step || !*step || strspn(step, "0123456789") != strlen(step)) return; /* none, or "batch" / "extern" */
  char *id = tune_xasprintf("%s.%s", job_id, step);
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "step", "-o", id, NULL};
  if (tune_slurm_run(argv, &out, NULL) == 0 && out.len) {
    char *list = tune_slurm_field(out.data, "NodeList"), *tres = tune_slurm_field(out.data, "TRES");
    char *per_node = tune_slurm_field(out.data, "TresPerNode");
    if (list) d->nodes = tune_slurm_hostnames(list, &d->n);
    if (d->n && tres) {
      /* TRES=cpu=2,mem=100M,node=1 (the step's, over its nodes) */
      char *cpu = strstr(tres, "cpu="), *mem = strstr(tres, "mem=");
      if (cpu) d->cpus = strtod(cpu + 4, NULL) / (double)d->n;
      if (mem) {
        char *v = tune_xstrndup(mem + 4, strcspn(mem + 4, ","));
        d->mem_mb = tune_slurm_mem_mb(v) / (double)d->n;
        free(v);
      }
    }
    if (per_node) {
      /* TresPerNode=gres:gpu:2 (or gres/gpu:2) */
      tune_buf_t g = TUNE_BUF_INIT;
      for (const char *q = per_node; *q;) {
        if (!strncmp(q, "gres:", 5) || !strncmp(q, "gres/", 5)) q += 5;
        else tune_buf_putc(&g, *q++);
      }
      d->gpus = (double)tune_slurm_gres_gpus(g.len ? g.data : "");
      tune_buf_free(&g);
    }
    free(list);
    free(tres);
    free(per_node);
  }
  /* The advice only where the step holds more than that would. */
  int least = d->n == 1 && ceil(d->cpus) <= 1 && d->gpus == 0;
  if (d->n)
    tune_log(TUNE_LOG_INFO, "slurm: the driver runs in step %s, which holds %g CPU(s) and %g GPU(s) on %s%s: trials get "
             "the rest of the allocation%s", id, ceil(d->cpus), d->gpus, d->nodes[0],
             d->n > 1 ? " and its other nodes" : "",
             least ? "" : " (srun --exact -n1 -c1 --gres=none tunelua ... leaves them more)");
  tune_buf_free(&out);
  free(id);
}

/// The RealMemory (MB) of node `name` in `scontrol show nodes -o`, or 0.
static double real_memory(tune_buf_t *nodes, const char *name) {
  if (!nodes->len) {
    char *argv[] = {"scontrol", "show", "nodes", "-o", NULL};
    tune_slurm_run(argv, nodes, NULL);
    tune_buf_putc(nodes, '\0');
  }
  char *save = NULL, *copy = tune_xstrdup(nodes->data);
  double mb = 0;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *n = tune_slurm_field(line, "NodeName"), *m = tune_slurm_field(line, "RealMemory");
    if (n && m && !strcmp(n, name)) mb = strtod(m, NULL);
    free(n);
    free(m);
  }
  free(copy);
  return mb;
}

/// Inside an allocation: its nodes, with the CPUs, GPUs and memory it
/// holds there (less the driver's own step's).
int tune_slurm_allocation_nodes(const char *job_id, tune_cluster_t *c, tune_res_t *licenses, char *err,
                                size_t errlen) {
  tune_buf_t out = TUNE_BUF_INIT, nodes_out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "job", "-d", (char *)job_id, NULL};
  tune_buf_t e = TUNE_BUF_INIT;
  int rc = tune_slurm_run(argv, &out, &e);
  if (rc != 0 || !out.len) {
    char *first = tune_slurm_first_line(&e);
    snprintf(err, errlen, "slurm: cannot read allocation %s (scontrol show job -d: %s)", job_id,
             first ? first : rc == TUNE_SLURM_TIMEDOUT ? "no answer within 60 s" : "no output");
    free(first);
    tune_buf_free(&out);
    tune_buf_free(&e);
    return -1;
  }
  tune_buf_free(&e);
  tune_buf_putc(&out, '\0');
  char *lic = tune_slurm_field(out.data, "Licenses");
  parse_licenses(licenses, lic);
  free(lic);
  driver_step_t d;
  driver_step(job_id, &d);
  /* Memory per node: what the job holds (Mem= below, 0 when Slurm does not
     count memory), else what it asked for, else the node's RealMemory. */
  const char *per_node = getenv("SLURM_MEM_PER_NODE"), *per_cpu = getenv("SLURM_MEM_PER_CPU");
  /* "     Nodes=n[1-2] CPU_IDs=0-3 Mem=1000 GRES=gpu:2(IDX:0-1)" */
  char *save = NULL;
  for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *nodes = tune_slurm_field(line, "Nodes"), *ids = tune_slurm_field(line, "CPU_IDs");
    if (nodes && ids) {
      char *gres = tune_slurm_field(line, "GRES"), *mem = tune_slurm_field(line, "Mem");
      size_t n;
      char **names = tune_slurm_hostnames(nodes, &n);
      for (size_t i = 0; i < n; i++) {
        long cpus = tune_slurm_count_ids(ids), gpus = tune_slurm_gres_gpus(gres);
        double mem_mb = mem ? strtod(mem, NULL) : 0;
        if (mem_mb <= 0 && per_node) mem_mb = tune_slurm_mem_mb(per_node);
        if (mem_mb <= 0 && per_cpu) mem_mb = tune_slurm_mem_mb(per_cpu) * (double)cpus;
        if (mem_mb <= 0) mem_mb = real_memory(&nodes_out, names[i]);
        for (size_t k = 0; k < d.n; k++) {
          if (strcmp(d.nodes[k], names[i])) continue;
          cpus -= (long)ceil(d.cpus);
          gpus -= (long)d.gpus;
          mem_mb -= d.mem_mb;
        }
        add_node(c, licenses, names[i], cpus < 0 ? 0 : cpus, mem_mb < 0 ? 0 : mem_mb, gpus < 0 ? 0 : gpus);
      }
      tune_slurm_free_strv(names, n);
      free(gres);
      free(mem);
    }
    free(nodes);
    free(ids);
  }
  tune_slurm_free_strv(d.nodes, d.n);
  tune_buf_free(&out);
  tune_buf_free(&nodes_out);
  if (!c->nnodes) {
    snprintf(err, errlen, "slurm: allocation %s has no nodes", job_id);
    return -1;
  }
  return 0;
}

/// The default partition's name (what salloc uses without --partition),
/// or NULL.
static char *default_partition(void) {
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "partition", "-o", NULL}, *name = NULL;
  if (tune_slurm_run(argv, &out, NULL) == 0 && out.len) {
    tune_buf_putc(&out, '\0');
    char *save = NULL;
    for (char *line = strtok_r(out.data, "\n", &save); line && !name; line = strtok_r(NULL, "\n", &save)) {
      char *def = tune_slurm_field(line, "Default");
      if (def && !strcmp(def, "YES")) name = tune_slurm_field(line, "PartitionName");
      free(def);
    }
  }
  tune_buf_free(&out);
  return name;
}

/// Outside an allocation: the partition's nodes that are up (the default
/// partition's without the option).
int tune_slurm_partition_nodes(const char *partition, tune_cluster_t *c, tune_res_t *licenses, char *err,
                               size_t errlen) {
  cluster_licenses(licenses);
  tune_buf_t out = TUNE_BUF_INIT, e = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "nodes", "-o", NULL};
  int rc = tune_slurm_run(argv, &out, &e);
  if (rc != 0) {
    char *first = tune_slurm_first_line(&e);
    snprintf(err, errlen, "slurm: cannot list the nodes (scontrol show nodes: %s)",
             rc < 0 ? strerror(-rc) : first ? first : "no reason given");
    free(first);
    tune_buf_free(&out);
    tune_buf_free(&e);
    return -1;
  }
  char *part = partition ? tune_xstrdup(partition) : default_partition();
  size_t in_part = 0;
  tune_buf_putc(&out, '\0');
  char *save = NULL;
  for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *name = tune_slurm_field(line, "NodeName"), *cpus = tune_slurm_field(line, "CPUTot");
    char *mem = tune_slurm_field(line, "RealMemory"), *gres = tune_slurm_field(line, "Gres");
    char *state = tune_slurm_field(line, "State"), *parts = tune_slurm_field(line, "Partitions");
    int in = !part || tune_slurm_list_has(parts, part);
    int up = state && !strstr(state, "DOWN") && !strstr(state, "DRAIN") && !strstr(state, "FAIL");
    in_part += in;
    if (name && cpus && in && up)
      add_node(c, licenses, name, strtol(cpus, NULL, 10), mem ? strtod(mem, NULL) : 0, tune_slurm_gres_gpus(gres));
    free(name);
    free(cpus);
    free(mem);
    free(gres);
    free(state);
    free(parts);
  }
  tune_buf_free(&out);
  tune_buf_free(&e);
  if (!c->nnodes) {
    if (part && !in_part) snprintf(err, errlen, "slurm: no partition is named %s (scontrol show partition lists them)", part);
    else snprintf(err, errlen, "slurm: no node is up%s%s", part ? " in partition " : "", part ? part : "");
    free(part);
    return -1;
  }
  free(part);
  return 0;
}
