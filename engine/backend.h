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

/// How a worker ended, as its backend saw it.
typedef struct {
  int64_t status;          ///< exit status (0 when killed by a signal)
  int signal;              ///< terminating signal, or 0
  /// Non-NULL when the worker was lost with its node (a node failure the
  /// backend detected, e.g. Slurm's "Node failure on n2" although srun
  /// exits 0): the node's name. The engine fails the trial with the node
  /// named, and the backend places nothing more on that node.
  const char *lost_node;
  /// The backend's own one-line account, or NULL (e.g. srun's last error).
  const char *reason;
} tune_exit_t;

struct cJSON;

typedef struct {
  /// Bytes from a worker stream; len == 0 means end of that stream.
  void (*on_data)(void *ud, int stream, const char *data, size_t len);
  /// The worker ended and its streams are drained. The proc is freed by the
  /// backend after this returns: do not touch it again.
  void (*on_exit)(void *ud, const tune_exit_t *e);
  /// One whole protocol message as a tree, which the callee then owns. A
  /// backend whose workers are in-process (TUNE_BACKEND_IN_PROCESS: the
  /// simulator) hands over every message this way instead of as protocol
  /// bytes, and refuses a spawn without it (-EINVAL); workers that are
  /// processes never do (NULL is fine for them).
  void (*on_message)(void *ud, struct cJSON *msg);
} tune_proc_cb_t;

typedef struct {
  const char *file;       ///< executable
  char **argv;            ///< NULL-terminated
  char **env;             ///< NULL-terminated, complete environment
  const char *cwd;        ///< working directory
  size_t bundle;          ///< which bundle of the placement it runs in
  /// Where it runs; NULL for a prestarted (standby) worker, which only a
  /// backend with TUNE_BACKEND_PRESTART is asked for.
  const tune_placement_t *placement;
  const tune_pgf_t *pgf;  ///< the placement's factory (resources per bundle), or NULL
  /// The local backend may fork it from a prepared worker (engine/zygote.h)
  /// instead of starting the binary anew.
  int fork_server;
} tune_spawn_t;

/// What reserve() answers.
enum {
  TUNE_RESERVE_OK = 0,      ///< reserved now: the request's placement is filled
  TUNE_RESERVE_LATER = 1,   ///< submitted: the backend calls request->done later
  TUNE_RESERVE_NO_ROOM = -1 ///< does not fit now; the engine asks again later
};

/// One placement-group reservation, owned by the engine (embedded in its
/// placement group) from reserve() until release() or cancel() returns.
typedef struct tune_reservation {
  /// Set by the engine. A backend that answered TUNE_RESERVE_LATER calls it
  /// exactly once, from inside wait() (never from reserve() itself), unless
  /// the request was cancelled first: rc 0 with `placement` filled, or a
  /// negative errno and `why` when the request can never be met (the
  /// engine then fails the trials that wait for this factory, naming why).
  void (*done)(struct tune_reservation *r, int rc, const char *why);
  void *engine_data;            ///< the engine's (its placement group)
  tune_placement_t placement;   ///< filled by the backend
  void *backend_data;           ///< the backend's own state for this request
} tune_reservation_t;

/// Capabilities (tune_backend_ops_t.caps).
enum {
  /// Workers can be started ahead of any trial (the prestarted standby
  /// worker); their resources come with the start request.
  TUNE_BACKEND_PRESTART = 1 << 0,
  /// now(), timers and wait() run on a virtual clock (the simulator).
  TUNE_BACKEND_VIRTUAL_TIME = 1 << 1,
  /// Workers are in-process (the simulator): spawn() does not use the
  /// program, its arguments or its environment, which the engine then
  /// does not build, and their messages come through on_message.
  TUNE_BACKEND_IN_PROCESS = 1 << 2,
};

typedef struct {
  const char *name;
  unsigned caps;
  /// Start a worker. 0 and *out on success; a negative errno otherwise, and
  /// then no callback will ever be called.
  int (*spawn)(tune_backend_t *b, const tune_spawn_t *opts, const tune_proc_cb_t *cb, void *ud,
               tune_proc_t **out);
  /// Queue bytes for the worker's protocol input. Negative errno when the
  /// worker's input is closed.
  int (*send)(tune_proc_t *p, const char *data, size_t len);
  /// End the worker now (local: SIGKILL of its process group; Slurm: SIGKILL
  /// of the srun process, never its group).
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
  /// Returns 1 when something ran, 0 on timeout. Callbacks run only here.
  int (*wait)(tune_backend_t *b, double timeout);
  /// Make a blocked wait() return. Async-signal-safe (called from signal
  /// handlers).
  void (*wake)(tune_backend_t *b);
  /// Reserve every bundle of `f` or none: TUNE_RESERVE_OK, TUNE_RESERVE_LATER
  /// or TUNE_RESERVE_NO_ROOM (see above).
  int (*reserve)(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r);
  /// Withdraw a request answered TUNE_RESERVE_LATER whose done() has not
  /// run; done() is then never called. NULL when reserve never says LATER.
  void (*cancel)(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r);
  /// Give a completed reservation back.
  void (*release)(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r);
  /// Optional: the CUDA_VISIBLE_DEVICES value a worker of bundle `bundle`
  /// gets. NULL op: the engine names the GPU slots its cluster model gave
  /// (tune_placement_gpu_ids). A backend whose launcher sets the variable
  /// itself (Slurm, from GRES) returns NULL, and the engine leaves the
  /// variable to the launcher. Caller owns a non-NULL result.
  char *(*gpu_ids)(tune_backend_t *b, const tune_placement_t *p, size_t bundle);
  /// Optional: 0 when the backend can run group `f` at all (beyond what the
  /// cluster model checks); else -1 with why in `err`.
  int (*feasible)(tune_backend_t *b, const tune_pgf_t *f, char *err, size_t errlen);
  /// Optional: 0 when every worker will see directory `dir` as the driver
  /// does (a shared filesystem); else -1 with what is wrong in `err`.
  int (*check_dir)(tune_backend_t *b, const char *dir, char *err, size_t errlen);
  /// Free the backend. Every proc must have exited and every timer freed.
  /// Returns 0, or -EBUSY if handles were still open (a leak).
  int (*destroy)(tune_backend_t *b);
  /// Optional: the cluster's total and available resources, as shown to
  /// the user (both initialised here; the caller frees them). NULL op: the
  /// sums over the cluster's nodes (tune_cluster_total). Slurm's nodes each
  /// carry the cluster-wide licenses, which count once. (Last: an ops table
  /// an embedder wrote for an earlier version still fits.)
  void (*resources)(tune_backend_t *b, tune_res_t *total, tune_res_t *avail);
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
  /// Kill a process by its pid alone, and leave its process group when it
  /// exits (a launcher such as srun forks a helper that must outlive it).
  int kill_pid_only;
} tune_local_opts_t;

/// The local backend. Caller owns the result (ops->destroy).
tune_backend_t *tune_backend_local_new(const tune_local_opts_t *opts);

/// For a backend built over the local one (Slurm): the loop its processes
/// run on, where the caller may add handles of its own, and a mark that a
/// callback of those reached the executor (the next wait() returns 1).
struct uv_loop_s *tune_backend_local_loop(tune_backend_t *local);
void tune_backend_local_touch(tune_backend_t *local);

/// Detect this machine's resources: CPUs from the affinity mask, memory from
/// sysinfo, GPUs from CUDA_VISIBLE_DEVICES or else `nvidia-smi`. `*gpu_ids`
/// is an owned array of owned strings.
void tune_detect_node(tune_res_t *out, char ***gpu_ids, size_t *ngpu);

#endif
