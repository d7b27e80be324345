/// How placement groups map onto what Slurm gives (backend_slurm.c): whole
/// CPUs per bundle, the job a group becomes outside an allocation (how many
/// nodes, how much on each, which bundle where) and whether the partition
/// can ever grant it, and what an allocation that shrank can still give.
#ifndef TUNE_SLURM_PLACE_H
#define TUNE_SLURM_PLACE_H

#include <stddef.h>

#include "cluster.h"
#include "pgf.h"
#include "resources.h"

/// A copy of `f` whose bundles ask for whole CPUs (srun -c takes no
/// fraction), the first at least one (its worker's step). Caller frees it
/// (tune_pgf_free).
tune_pgf_t *tune_slurm_whole_cpus(const tune_pgf_t *f);

typedef struct {
  size_t nnodes;       ///< salloc -N
  tune_res_t per_node; ///< CPUs, GPUs and memory on each node (no licenses)
} tune_slurm_job_t;

/// The job that group `f` (whole CPUs) becomes outside an allocation, on a
/// partition with `usable` nodes: PACK and STRICT_PACK one node with the
/// sum of the bundles; SPREAD one node per bundle, at most `usable` nodes
/// (bundle i on node i mod N); STRICT_SPREAD one node per bundle. Each node
/// gets what the most demanding node's bundles need. tune_slurm_job_free.
void tune_slurm_job_shape(const tune_pgf_t *f, size_t usable, tune_slurm_job_t *job);
void tune_slurm_job_free(tune_slurm_job_t *job);
/// Which of the `n` nodes a job got bundle `i` is on.
size_t tune_slurm_job_node(const tune_pgf_t *f, size_t n, size_t i);
/// 0 when `job->nnodes` of the nodes not `lost` each have
/// `job->per_node`; -1 with "asked for ... but ..." in err otherwise.
int tune_slurm_job_feasible(const tune_cluster_t *c, const int *lost, const tune_pgf_t *f,
                            const tune_slurm_job_t *job, char *err, size_t errlen);
/// Whether `f` fits the nodes' totals less what is `gone` from each, the
/// `lost` nodes left out: 0 when a shrunken allocation can never run it.
int tune_slurm_fits_remaining(const tune_cluster_t *c, const int *lost, const tune_res_t *gone,
                              const tune_pgf_t *f);
/// `err` says "asked for <w> ...", `w` being tune_slurm_whole_cpus(f):
/// names what the trial asked (`f`) there instead, and says at the end how
/// many CPUs it asked and how many were counted.
void tune_slurm_name_asked(const tune_pgf_t *f, const tune_pgf_t *w, char *err, size_t errlen);
/// Whether `asked` names a custom resource of which `licenses` (Slurm's
/// licenses: the allocation's, or slurm.conf's) has none.
int tune_slurm_licenses_missing(const tune_res_t *asked, const tune_res_t *licenses);
/// Appends to `err`, for each such resource, that Slurm has no license of
/// that name, and where licenses come from.
void tune_slurm_note_licenses(const tune_res_t *asked, const tune_res_t *licenses, int in_allocation, char *err,
                              size_t errlen);

#endif
