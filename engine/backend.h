/// Process backends: how workers are launched, talked to, killed and timed,
/// and where placement groups are reserved. The executor sees only this
/// interface (docs/architecture.md, "Backends"): `local` runs workers with
/// uv_spawn on this machine; a Slurm backend runs them as srun steps; a
/// simulation backend can replay curves on a virtual clock. Nothing here
/// assumes a real process or a wall clock.
#ifndef TUNE_BACKEND_H
#define TUNE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "pgf.h"

typedef struct tune_backend tune_backend_t;
typedef struct tune_proc tune_proc_t;
typedef struct tune_timer tune_timer_t;

/// The streams of a worker.
enum { TUNE_STREAM_PROTOCOL = 0, TUNE_STREAM_STDOUT = 1, TUNE_STREAM_STDERR = 2 };

typedef struct {
  /// Bytes from a worker stream; len == 0 means end of that stream.
  void (*on_data)(void *ud, int stream, const char *data, size_t len);
  /// The worker ended and its streams are drained. The proc is freed by the
  /// backend after this returns: do not touch it again.
  void (*on_exit)(void *ud, int64_t exit_status, int term_signal);
} tune_proc_cb_t;

typedef struct {
  const char *file;       ///< executable
  char **argv;            ///< NULL-terminated
  char **env;             ///< NULL-terminated, complete environment
  const char *cwd;        ///< working directory
  size_t bundle;          ///< which bundle of the placement it runs in
  const tune_placement_t *placement;
} tune_spawn_t;

typedef struct {
  const char *name;
  /// Start a worker. 0 and *out on success; a negative errno otherwise, and
  /// then no callback will ever be called.
  int (*spawn)(tune_backend_t *b, const tune_spawn_t *opts, const tune_proc_cb_t *cb, void *ud,
               tune_proc_t **out);
  /// Queue bytes for the worker's protocol input. Negative errno when the
  /// worker's input is closed.
  int (*send)(tune_proc_t *p, const char *data, size_t len);
  /// End the worker now (local: SIGKILL of its process group).
  int (*kill)(tune_proc_t *p);
  int64_t (*pid)(const tune_proc_t *p);
  /// Monotonic seconds.
  double (*now)(tune_backend_t *b);
  tune_timer_t *(*timer_new)(tune_backend_t *b, void (*cb)(void *ud), void *ud);
  void (*timer_start)(tune_timer_t *t, double seconds);
  void (*timer_stop)(tune_timer_t *t);
  /// Stops and frees the timer (asynchronously; its callback never runs again).
  void (*timer_free)(tune_timer_t *t);
  /// Block until a callback ran or `timeout` seconds passed (0: poll).
  /// Returns 1 when something ran, 0 on timeout.
  int (*wait)(tune_backend_t *b, double timeout);
  /// Make a blocked wait() return. Async-signal-safe (called from signal
  /// handlers).
  void (*wake)(tune_backend_t *b);
  int (*reserve)(tune_backend_t *b, const tune_pgf_t *f, tune_placement_t *out);
  void (*release)(tune_backend_t *b, const tune_pgf_t *f, tune_placement_t *p);
  /// Free the backend. Every proc must have exited and every timer freed.
  /// Returns 0, or -EBUSY if handles were still open (a leak).
  int (*destroy)(tune_backend_t *b);
} tune_backend_ops_t;

struct tune_backend {
  const tune_backend_ops_t *ops;
  tune_cluster_t cluster;       ///< owned
};

typedef struct {
  /// Node resources; copied.
  const tune_res_t *resources;
  const char *const *gpu_ids;
  size_t ngpu_ids;
} tune_local_opts_t;

/// The local backend. Caller owns the result (ops->destroy).
tune_backend_t *tune_backend_local_new(const tune_local_opts_t *opts);

/// Detect this machine's resources: CPUs from the affinity mask, memory from
/// sysinfo, GPUs from CUDA_VISIBLE_DEVICES or else `nvidia-smi`. `*gpu_ids`
/// is an owned array of owned strings.
void tune_detect_node(tune_res_t *out, char ***gpu_ids, size_t *ngpu);

#endif
