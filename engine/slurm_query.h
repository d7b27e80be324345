/// Asking Slurm: its commands' output and the small parsers the Slurm
/// backend needs (scontrol's key=value lines, GRES, CPU id lists).
#ifndef TUNE_SLURM_QUERY_H
#define TUNE_SLURM_QUERY_H

#include <stddef.h>

#include "buf.h"

/// Runs argv (found on PATH) with stdin from /dev/null, waits, appends its
/// stdout to `out` and stderr to `err` (either may be NULL). Returns its
/// exit status (128 + signal when killed), or a negative errno when it
/// could not start.
int tune_slurm_run(char *const argv[], tune_buf_t *out, tune_buf_t *err);
/// `scontrol show hostnames LIST`: the names, *n of them. Caller frees
/// (tune_slurm_free_strv).
char **tune_slurm_hostnames(const char *list, size_t *n);
void tune_slurm_free_strv(char **v, size_t n);
/// The value of `key=` in scontrol's output (up to a space or newline), or
/// NULL. Caller owns it.
char *tune_slurm_field(const char *text, const char *key);
/// GPUs in a GRES string ("gpu:2", "gpu:tesla:2(S:0-1)", "gpu:2(IDX:0-1)").
long tune_slurm_gres_gpus(const char *gres);
/// How many ids a list such as "0-3" or "0,2,4-5" names.
long tune_slurm_count_ids(const char *ids);

#endif
