#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void tune_cluster_init(tune_cluster_t *c) { memset(c, 0, sizeof *c); }

void tune_cluster_free(tune_cluster_t *c) {
  for (size_t i = 0; i < c->nnodes; i++) {
    tune_node_t *n = &c->nodes[i];
    free(n->name);
    tune_res_free(&n->total);
    tune_res_free(&n->avail);
    for (size_t g = 0; g < n->ngpus; g++) free(n->gpu_ids[g]);
    free(n->gpu_ids);
    free(n->gpu_free);
  }
  free(c->nodes);
  tune_cluster_init(c);
}

size_t tune_cluster_add_node(tune_cluster_t *c, const char *name, const tune_res_t *total,
                             const char *const *gpu_ids, size_t ngpu_ids) {
  c->nodes = tune_xrealloc(c->nodes, (c->nnodes + 1) * sizeof *c->nodes);
  tune_node_t *n = &c->nodes[c->nnodes];
  memset(n, 0, sizeof *n);
  n->name = tune_xstrdup(name);
  tune_res_copy(&n->total, total);
  /* Only whole GPUs exist on a node. */
  n->total.gpu -= n->total.gpu % TUNE_RES_SCALE;
  tune_res_copy(&n->avail, &n->total);
  n->ngpus = (size_t)(n->total.gpu / TUNE_RES_SCALE);
  n->gpu_ids = tune_xcalloc(n->ngpus, sizeof(char *));
  n->gpu_free = tune_xcalloc(n->ngpus, sizeof(int64_t));
  for (size_t g = 0; g < n->ngpus; g++) {
    n->gpu_ids[g] = g < ngpu_ids ? tune_xstrdup(gpu_ids[g]) : tune_xasprintf("%zu", g);
    n->gpu_free[g] = TUNE_RES_SCALE;
  }
  return c->nnodes++;
}

/* Scratch copy of what is free, so a group is placed completely or not at all. */
typedef struct {
  tune_res_t *avail;
  int64_t **gpu_free;
  size_t nnodes;
} scratch_t;

static void scratch_init(scratch_t *s, const tune_cluster_t *c, int empty) {
  s->nnodes = c->nnodes;
  s->avail = tune_xcalloc(c->nnodes ? c->nnodes : 1, sizeof *s->avail);
  s->gpu_free = tune_xcalloc(c->nnodes ? c->nnodes : 1, sizeof *s->gpu_free);
  for (size_t i = 0; i < c->nnodes; i++) {
    const tune_node_t *n = &c->nodes[i];
    tune_res_copy(&s->avail[i], empty ? &n->total : &n->avail);
    s->gpu_free[i] = tune_xcalloc(n->ngpus ? n->ngpus : 1, sizeof(int64_t));
    for (size_t g = 0; g < n->ngpus; g++) s->gpu_free[i][g] = empty ? TUNE_RES_SCALE : n->gpu_free[g];
  }
}

static void scratch_free(scratch_t *s) {
  for (size_t i = 0; i < s->nnodes; i++) {
    tune_res_free(&s->avail[i]);
    free(s->gpu_free[i]);
  }
  free(s->avail);
  free(s->gpu_free);
}

/// Picks GPU slots for `want` (fixed point) on node `ni`. Fills `bp`.
static int pick_gpus(const tune_cluster_t *c, scratch_t *s, size_t ni, int64_t want,
                     tune_bundle_place_t *bp) {
  const tune_node_t *n = &c->nodes[ni];
  int64_t *free_ = s->gpu_free[ni];
  bp->ngpu = 0;
  if (want <= 0) return 0;
  if (want % TUNE_RES_SCALE == 0) {
    size_t need = (size_t)(want / TUNE_RES_SCALE), got = 0;
    for (size_t g = 0; g < n->ngpus && got < need; g++)
      if (free_[g] == TUNE_RES_SCALE) got++;
    if (got < need) return -1;
    bp->gpu = tune_xcalloc(need, sizeof(size_t));
    bp->gpu_amount = tune_xcalloc(need, sizeof(int64_t));
    for (size_t g = 0; g < n->ngpus && bp->ngpu < need; g++) {
      if (free_[g] != TUNE_RES_SCALE) continue;
      bp->gpu[bp->ngpu] = g;
      bp->gpu_amount[bp->ngpu++] = TUNE_RES_SCALE;
      free_[g] = 0;
    }
    return 0;
  }
  if (want > TUNE_RES_SCALE) return -1;
  /* A fraction of one GPU: best fit, so whole GPUs stay whole. */
  size_t best = SIZE_MAX;
  for (size_t g = 0; g < n->ngpus; g++)
    if (free_[g] >= want && (best == SIZE_MAX || free_[g] < free_[best])) best = g;
  if (best == SIZE_MAX) return -1;
  bp->gpu = tune_xcalloc(1, sizeof(size_t));
  bp->gpu_amount = tune_xcalloc(1, sizeof(int64_t));
  bp->gpu[0] = best;
  bp->gpu_amount[0] = want;
  bp->ngpu = 1;
  free_[best] -= want;
  return 0;
}

static int try_bundle(const tune_cluster_t *c, scratch_t *s, size_t ni, const tune_res_t *need,
                      tune_bundle_place_t *bp) {
  if (!tune_res_fits(need, &s->avail[ni])) return -1;
  if (pick_gpus(c, s, ni, need->gpu, bp) < 0) return -1;
  tune_res_add(&s->avail[ni], need, -1);
  bp->node = ni;
  return 0;
}

static void placement_reset(tune_placement_t *p) {
  for (size_t i = 0; i < p->nbundles; i++) {
    free(p->bundles[i].gpu);
    free(p->bundles[i].gpu_amount);
    memset(&p->bundles[i], 0, sizeof p->bundles[i]);
  }
}

void tune_placement_free(tune_placement_t *p) {
  placement_reset(p);
  free(p->bundles);
  p->bundles = NULL;
  p->nbundles = 0;
}

/// The order bundles are packed in: most GPU first (whole GPUs, then the
/// largest fractions), so best fit finds room that index order misses
/// ({0.5}, {0.3}, {0.7}, {0.5} fit two GPUs). Caller frees.
static size_t *pack_order(const tune_pgf_t *f) {
  size_t *o = tune_xcalloc(f->nbundles ? f->nbundles : 1, sizeof(size_t));
  for (size_t i = 0; i < f->nbundles; i++) {
    size_t j = i;
    for (; j > 0 && f->bundles[o[j - 1]].gpu < f->bundles[i].gpu; j--) o[j] = o[j - 1];
    o[j] = i;
  }
  return o;
}

/// PACK and STRICT_PACK: all bundles on one node, in `order`.
static int place_packed(const tune_cluster_t *c, scratch_t *s, const tune_pgf_t *f, tune_placement_t *p,
                        const size_t *order) {
  /* Trying each node in turn. */
  for (size_t ni = 0; ni < c->nnodes; ni++) {
    scratch_t t;
    scratch_init(&t, c, 0);
    for (size_t k = 0; k < c->nnodes; k++) {
      tune_res_free(&t.avail[k]);
      tune_res_copy(&t.avail[k], &s->avail[k]);
      memcpy(t.gpu_free[k], s->gpu_free[k], c->nodes[k].ngpus * sizeof(int64_t));
    }
    size_t b = 0;
    for (; b < f->nbundles; b++)
      if (try_bundle(c, &t, ni, &f->bundles[order[b]], &p->bundles[order[b]]) < 0) break;
    if (b == f->nbundles) {
      for (size_t k = 0; k < c->nnodes; k++) {
        tune_res_free(&s->avail[k]);
        tune_res_copy(&s->avail[k], &t.avail[k]);
        memcpy(s->gpu_free[k], t.gpu_free[k], c->nodes[k].ngpus * sizeof(int64_t));
      }
      scratch_free(&t);
      return 0;
    }
    placement_reset(p);
    scratch_free(&t);
  }
  if (f->strategy == TUNE_STRICT_PACK) return -1;
  /* PACK falls back to as few nodes as it can: first fit, in order. */
  for (size_t b = 0; b < f->nbundles; b++) {
    size_t ni = 0;
    for (; ni < c->nnodes; ni++)
      if (try_bundle(c, s, ni, &f->bundles[order[b]], &p->bundles[order[b]]) == 0) break;
    if (ni == c->nnodes) return -1;
  }
  return 0;
}

/// Places every bundle on the scratch state. 0 or -1.
static int place(const tune_cluster_t *c, scratch_t *s, const tune_pgf_t *f, tune_placement_t *p) {
  if (!c->nnodes) return -1;
  if (f->strategy == TUNE_STRICT_PACK || f->strategy == TUNE_PACK) {
    size_t *order = pack_order(f);
    int rc = place_packed(c, s, f, p, order);
    free(order);
    return rc;
  }
  /* SPREAD and STRICT_SPREAD: each bundle on a node this group does not use yet. */
  int *used = tune_xcalloc(c->nnodes, sizeof(int));
  int rc = 0;
  for (size_t b = 0; b < f->nbundles && rc == 0; b++) {
    size_t ni = 0;
    for (; ni < c->nnodes; ni++)
      if (!used[ni] && try_bundle(c, s, ni, &f->bundles[b], &p->bundles[b]) == 0) break;
    if (ni == c->nnodes && f->strategy == TUNE_SPREAD) {
      for (ni = 0; ni < c->nnodes; ni++)
        if (try_bundle(c, s, ni, &f->bundles[b], &p->bundles[b]) == 0) break;
    }
    if (ni == c->nnodes) rc = -1;
    else used[ni] = 1;
  }
  free(used);
  return rc;
}

static int reserve_on(const tune_cluster_t *c, scratch_t *s, const tune_pgf_t *f, tune_placement_t *out) {
  out->nbundles = f->nbundles;
  out->bundles = tune_xcalloc(f->nbundles, sizeof *out->bundles);
  if (place(c, s, f, out) < 0) {
    tune_placement_free(out);
    return -1;
  }
  return 0;
}

int tune_cluster_feasible(const tune_cluster_t *c, const tune_pgf_t *f, char *err, size_t errlen) {
  for (size_t b = 0; b < f->nbundles; b++) {
    int64_t g = f->bundles[b].gpu;
    if (g > TUNE_RES_SCALE && g % TUNE_RES_SCALE) {
      snprintf(err, errlen, "bundle %zu asks for %g GPUs: GPU amounts above 1 must be whole numbers",
               b + 1, tune_res_from_fixed(g));
      return -1;
    }
  }
  scratch_t s;
  scratch_init(&s, c, 1);
  tune_placement_t p;
  int rc = reserve_on(c, &s, f, &p);
  if (rc == 0) tune_placement_free(&p);
  scratch_free(&s);
  if (rc < 0) {
    tune_buf_t b = TUNE_BUF_INIT;
    tune_buf_puts(&b, "asked for ");
    tune_pgf_format(f, &b);
    tune_buf_puts(&b, c->nnodes == 1 ? " but the node has " : " but the cluster has ");
    for (size_t i = 0; i < c->nnodes; i++) {
      if (i) tune_buf_puts(&b, "; ");
      if (c->nnodes > 1) tune_buf_printf(&b, "%s: ", c->nodes[i].name);
      tune_res_format(&c->nodes[i].total, &b);
    }
    if (!c->nnodes) tune_buf_puts(&b, "no nodes");
    /* Enough of everything, yet it never fits: say why. */
    if (f->strategy == TUNE_STRICT_SPREAD && f->nbundles > c->nnodes && c->nnodes)
      tune_buf_printf(&b, ": STRICT_SPREAD puts each of its %zu bundles on a node of its own, and there %s %zu",
                      f->nbundles, c->nnodes == 1 ? "is" : "are", c->nnodes);
    snprintf(err, errlen, "%s", b.data);
    tune_buf_free(&b);
  }
  return rc;
}

/// Whether each bundle fits some node's free resources on its own: false
/// means no placement exists (one only takes from what is free), found
/// without the scratch copies. A busy cluster answers most reservations so.
static int each_bundle_fits_somewhere(const tune_cluster_t *c, const tune_pgf_t *f) {
  for (size_t b = 0; b < f->nbundles; b++) {
    size_t ni = 0;
    while (ni < c->nnodes && !tune_res_fits(&f->bundles[b], &c->nodes[ni].avail)) ni++;
    if (ni == c->nnodes) return 0;
  }
  return 1;
}

int tune_cluster_reserve(tune_cluster_t *c, const tune_pgf_t *f, tune_placement_t *out) {
  if (!each_bundle_fits_somewhere(c, f)) {
    out->nbundles = 0;
    out->bundles = NULL;
    return -1;
  }
  scratch_t s;
  scratch_init(&s, c, 0);
  int rc = reserve_on(c, &s, f, out);
  if (rc == 0) {
    for (size_t i = 0; i < c->nnodes; i++) {
      tune_res_free(&c->nodes[i].avail);
      tune_res_copy(&c->nodes[i].avail, &s.avail[i]);
      memcpy(c->nodes[i].gpu_free, s.gpu_free[i], c->nodes[i].ngpus * sizeof(int64_t));
    }
  }
  scratch_free(&s);
  return rc;
}

void tune_cluster_release(tune_cluster_t *c, const tune_pgf_t *f, tune_placement_t *p) {
  for (size_t b = 0; b < p->nbundles; b++) {
    tune_bundle_place_t *bp = &p->bundles[b];
    tune_node_t *n = &c->nodes[bp->node];
    tune_res_add(&n->avail, &f->bundles[b], 1);
    for (size_t g = 0; g < bp->ngpu; g++) n->gpu_free[bp->gpu[g]] += bp->gpu_amount[g];
  }
  tune_placement_free(p);
}

char *tune_placement_gpu_ids(const tune_cluster_t *c, const tune_placement_t *p, size_t b) {
  tune_buf_t out = TUNE_BUF_INIT;
  tune_buf_reserve(&out, 0);
  if (b < p->nbundles) {
    const tune_bundle_place_t *bp = &p->bundles[b];
    for (size_t g = 0; g < bp->ngpu; g++) {
      if (g) tune_buf_putc(&out, ',');
      tune_buf_puts(&out, c->nodes[bp->node].gpu_ids[bp->gpu[g]]);
    }
  }
  return tune_buf_steal(&out);
}

void tune_cluster_total(const tune_cluster_t *c, tune_res_t *out, int available) {
  tune_res_init(out);
  for (size_t i = 0; i < c->nnodes; i++)
    tune_res_add(out, available ? &c->nodes[i].avail : &c->nodes[i].total, 1);
}
