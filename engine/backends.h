/// Process backends by name (docs/architecture.md, "Backends"): `local`
/// (worker processes on this machine), `sim` (a simulator on a virtual
/// clock). A new backend is one constructor and one line in backends.c.
#ifndef TUNE_BACKENDS_H
#define TUNE_BACKENDS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"

/// The host of a simulated trial: the metrics of one iteration.
typedef struct {
  void *ud;
  /// The metrics of `iteration` (1-based) of trial `trial_id`: 1 with an
  /// object in `*out` (the caller's); 0 the trial is done; -1 failed, with
  /// the message in `err`.
  int (*metrics)(void *ud, const char *trial_id, int64_t iteration, cJSON **out, tune_buf_t *err);
} tune_sim_host_t;

typedef struct {
  const tune_res_t *resources;     ///< the node's (local) or the simulated node's (sim)
  const char *const *gpu_ids;
  size_t ngpu_ids;
  /// Backend-specific options (an object, or NULL): sim: time_per_iteration,
  /// reserve_delay, reserve_error; see docs/reference/executor.md.
  const cJSON *options;
  const tune_sim_host_t *sim_host; ///< sim only (copied)
} tune_backend_opts_t;

/// A backend by name. NULL with a message in `err` for an unknown name or
/// bad options. Caller owns the result (ops->destroy).
tune_backend_t *tune_backend_new(const char *name, const tune_backend_opts_t *o, char *err, size_t errlen);
/// The registered names, comma-separated (for messages).
const char *tune_backend_names(void);

tune_backend_t *tune_backend_sim_new(const tune_backend_opts_t *o, char *err, size_t errlen);
/// Slurm (backend_slurm.c). Options: partition, account, time, qos,
/// srun_args (a list), allocation (false: submit jobs even inside one).
tune_backend_t *tune_backend_slurm_new(const tune_backend_opts_t *o, char *err, size_t errlen);

#endif
