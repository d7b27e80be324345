/// Asking Slurm: its commands' output and the small parsers the Slurm
/// backend needs (scontrol's key=value lines, GRES, CPU id lists).
#ifndef TUNE_SLURM_QUERY_H
#define TUNE_SLURM_QUERY_H

#include <errno.h>
#include <stddef.h>

#include "buf.h"

/// Seconds a query of Slurm may take (slurmctld's own retries included).
#define TUNE_SLURM_QUERY_S 60.0

/// Runs argv (found on PATH) with stdin from /dev/null, waits at most
/// TUNE_SLURM_QUERY_S, appends its stdout to `out` and stderr to `err`
/// (either may be NULL). Returns its exit status (128 + signal when
/// killed), a negative errno when it could not start, or
/// TUNE_SLURM_TIMEDOUT.
int tune_slurm_run(char *const argv[], tune_buf_t *out, tune_buf_t *err);
/// What tune_slurm_run_bounded answers for a command it ended.
#define TUNE_SLURM_TIMEDOUT (-ETIMEDOUT)
/// tune_slurm_run, bounded: a command still running after `timeout_s`
/// seconds (0: no limit), or, with `stop_on_retry`, one whose stderr says
/// it is retrying ("cannot stat file ... retrying in 1sec up to 60sec"), is
/// ended (SIGTERM, SIGKILL 2 s later) and TUNE_SLURM_TIMEDOUT returned;
/// what it wrote is in `out` and `err`.
int tune_slurm_run_bounded(char *const argv[], tune_buf_t *out, tune_buf_t *err, double timeout_s,
                           int stop_on_retry);
/// The first line of `b` that is not blank, or NULL. Caller owns it.
char *tune_slurm_first_line(const tune_buf_t *b);
/// Whether the comma-separated `list` ("debug,gpu") has `name`, exactly.
int tune_slurm_list_has(const char *list, const char *name);
/// Megabytes in a Slurm memory amount ("1000", "100M", "2G", "512K").
double tune_slurm_mem_mb(const char *s);
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
