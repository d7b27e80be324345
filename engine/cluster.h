/// The nodes a backend can place work on, and all-or-nothing reservation of
/// placement groups over them. The local backend has one node; a Slurm
/// backend has one per allocated host. GPUs are tracked by id (strings, as in
/// CUDA_VISIBLE_DEVICES) with fractional sharing of one device.
#ifndef TUNE_CLUSTER_H
#define TUNE_CLUSTER_H

#include <stddef.h>

#include "pgf.h"
#include "resources.h"

typedef struct {
  char *name;
  tune_res_t total;
  tune_res_t avail;
  size_t ngpus;
  char **gpu_ids;        ///< owned strings
  int64_t *gpu_free;     ///< free share of each GPU, fixed point
} tune_node_t;

typedef struct {
  tune_node_t *nodes;
  size_t nnodes;
} tune_cluster_t;

typedef struct {
  size_t node;
  size_t ngpu;
  size_t *gpu;           ///< GPU slots on that node
  int64_t *gpu_amount;   ///< share taken of each
} tune_bundle_place_t;

/// Where each bundle of a reserved group went. Owned by its placement group.
typedef struct {
  size_t nbundles;
  tune_bundle_place_t *bundles;
} tune_placement_t;

void tune_cluster_init(tune_cluster_t *c);
void tune_cluster_free(tune_cluster_t *c);
/// Adds a node with `total` resources. GPU ids: `ngpu_ids` strings (copied);
/// when fewer than total GPUs are named, the rest are numbered.
size_t tune_cluster_add_node(tune_cluster_t *c, const char *name, const tune_res_t *total,
                             const char *const *gpu_ids, size_t ngpu_ids);
/// 0 when the group fits an empty cluster; -1 with what was asked and what
/// exists in `err` when it never can.
int tune_cluster_feasible(const tune_cluster_t *c, const tune_pgf_t *f, char *err, size_t errlen);
/// Reserve every bundle or none. 0 on success, -1 when it does not fit now.
int tune_cluster_reserve(tune_cluster_t *c, const tune_pgf_t *f, tune_placement_t *out);
void tune_cluster_release(tune_cluster_t *c, const tune_pgf_t *f, tune_placement_t *p);
/// Comma-separated GPU ids of bundle `b`. Caller owns the result.
char *tune_placement_gpu_ids(const tune_cluster_t *c, const tune_placement_t *p, size_t b);
void tune_placement_free(tune_placement_t *p);
/// Sum of totals / availability over all nodes (caller frees with tune_res_free).
void tune_cluster_total(const tune_cluster_t *c, tune_res_t *out, int available);

#endif
