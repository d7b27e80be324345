/// The cluster a Slurm backend places work on, read from Slurm
/// (slurm_nodes.c).
#ifndef TUNE_SLURM_NODES_H
#define TUNE_SLURM_NODES_H

#include <stddef.h>

#include "cluster.h"
#include "resources.h"

/// Inside allocation `job_id`: adds its nodes to `c`, each with the CPUs,
/// GPUs and memory the job holds there (memory: the job's Mem=, else
/// SLURM_MEM_PER_NODE, else SLURM_MEM_PER_CPU times its CPUs there, else
/// the node's RealMemory), less what the driver's own step holds (when
/// SLURM_STEP_ID names one: said on stderr); `licenses` gets the job's.
/// 0, or -1 with a message in err.
int tune_slurm_allocation_nodes(const char *job_id, tune_cluster_t *c, tune_res_t *licenses, char *err,
                                size_t errlen);
/// Outside an allocation: adds the nodes of `partition` (NULL: the default
/// partition; a node's partitions must name it exactly) that are up to
/// `c`; `licenses` gets the cluster's. 0, or -1 with a message in err.
int tune_slurm_partition_nodes(const char *partition, tune_cluster_t *c, tune_res_t *licenses, char *err,
                               size_t errlen);

#endif
