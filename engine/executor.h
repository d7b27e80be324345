/// The trial executor: starts trials in worker processes on placement
/// groups, trains, saves, restores, resets, pauses and stops them, and turns
/// what workers send into events. Ray's RayTrialExecutor, in C on a backend
/// (docs/architecture.md). Every call returns at once; only
/// tune_executor_next_event() and tune_executor_cleanup() block.
#ifndef TUNE_EXECUTOR_H
#define TUNE_EXECUTOR_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "pg_manager.h"

typedef struct tune_executor tune_executor_t;
typedef struct tune_trial tune_trial_t;

/// Options. Each TUNE_* environment variable has a same-named option; the
/// bindings read the environment and let constructor options override it.
typedef struct {
  int result_buffer_length;            ///< TUNE_RESULT_BUFFER_LENGTH (1)
  double result_buffer_min_time_s;     ///< TUNE_RESULT_BUFFER_MIN_TIME_S (0)
  double result_buffer_max_time_s;     ///< TUNE_RESULT_BUFFER_MAX_TIME_S (100)
  double force_trial_cleanup_s;        ///< TUNE_FORCE_TRIAL_CLEANUP_S (0: wait)
  size_t max_pending_trials_pg;        ///< TUNE_MAX_PENDING_TRIALS_PG
  size_t max_message_bytes;            ///< TUNE_MAX_MESSAGE_BYTES
  int reuse_actors;
  /// Keep one idle worker process started ahead (Ray's prestarted workers):
  /// a trial that needs a new worker takes it, and its replacement is
  /// started while the driver waits for events.
  int prestart_workers;
  const char *worker_path;             ///< the tunelua binary (copied)
  const char *const *worker_args;      ///< argv after the path (copied), NULL-terminated
  const char *orig_cwd;                ///< TUNE_ORIG_WORKING_DIR for workers (copied)
  /// Trainable output that is not logged to a file goes here, prefixed
  /// "(name pid=N) "; defaults to the driver's stdout/stderr fds.
  int console_fd[2];
} tune_executor_opts_t;

void tune_executor_opts_default(tune_executor_opts_t *o);

/// Takes ownership of `backend`. Caller owns the result.
tune_executor_t *tune_executor_new(const tune_executor_opts_t *o, tune_backend_t *backend);
/// Frees everything. tune_executor_cleanup() must have run. Returns 0, or
/// -EBUSY when a handle was left open (a leak: the tests fail on it).
int tune_executor_free(tune_executor_t *ex);

tune_backend_t *tune_executor_backend(tune_executor_t *ex);
tune_pg_manager_t *tune_executor_pgm(tune_executor_t *ex);
const tune_executor_opts_t *tune_executor_opts(const tune_executor_t *ex);
void tune_executor_set_max_pending(tune_executor_t *ex, size_t n);
/// Seconds on the backend clock.
double tune_executor_now(tune_executor_t *ex);

/// What the executor needs to run a trial.
typedef struct {
  const char *trial_id;
  const char *name;              ///< console prefix, e.g. "train_fn_00001"
  const char *logdir;            ///< created by the executor
  const char *experiment_tag;
  const char *experiment_id;
  tune_pgf_entry_t *fe;
  const cJSON *config;           ///< copied
  const cJSON *loader;           ///< copied; docs/protocol.md "start"
  const char *loader_key;        ///< equal keys: a worker can be reused
  int resettable;                ///< the trainable can be reset (reuse, reset_trial)
  const char *restore_dir;       ///< checkpoint to restore at start, or NULL
  int restore_persistent;        ///< 1: a RESTORING_RESULT event; 0: memory, train at once
  int checkpoint_at_end;         ///< disables result buffering
  int checkpoint_freq;           ///< caps the buffer length
  const char *stdout_file;       ///< log_to_file targets (NULL: console)
  const char *stderr_file;
} tune_trial_spec_t;

/// 1 started (RUNNING), 0 no placement group is ready (stays PENDING),
/// -1 failed with a message in `err` (the trial is in ERROR).
int tune_executor_start(tune_executor_t *ex, const tune_trial_spec_t *spec, char *err, size_t errlen);
/// Ask for the next (batch of) results. 0, or -1 when the trial is not running.
int tune_executor_continue(tune_executor_t *ex, const char *trial_id);
/// Save into `dir` (created atomically). Persistent saves end with a
/// SAVING_RESULT event; memory saves with none. 0, or -1 not running.
int tune_executor_save(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent);
/// Restore a running trial from `dir`. Persistent restores end with a
/// RESTORING_RESULT event. 0, or -1 not running.
int tune_executor_restore(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent);
/// Reset a running trial to a new config and tag. 1 sent, 0 the trainable
/// cannot be reset (Ray's reset_trial returning False), -1 not running.
int tune_executor_reset(tune_executor_t *ex, const char *trial_id, const cJSON *config, const char *tag);
/// Stop a trial. With reuse_actors and a resettable trainable (and not
/// `error`), its worker is cached for the next trial; otherwise it gets a
/// graceful stop and, after force_trial_cleanup_s, is killed.
void tune_executor_stop(tune_executor_t *ex, const char *trial_id, int error);
/// 1 when the trial has a worker and was not stopped.
int tune_executor_is_running(tune_executor_t *ex, const char *trial_id);
/// Auto-filled fields known before any report (trial_id, pid, hostname,
/// node_ip, ...) as a new object. Caller owns it. NULL if not running.
cJSON *tune_executor_default_result(tune_executor_t *ex, const char *trial_id);

/// Events, named as the seed tests name them.
typedef enum {
  TUNE_EV_PG_READY,
  TUNE_EV_TRAINING_RESULT,
  TUNE_EV_SAVING_RESULT,
  TUNE_EV_RESTORING_RESULT,
  TUNE_EV_ERROR,
  TUNE_EV_YIELD,
  TUNE_EV_NO_RUNNING_TRIAL_TIMEOUT,
} tune_event_type_t;

typedef struct tune_event {
  tune_event_type_t type;
  char *trial_id;
  cJSON *results;        ///< TRAINING_RESULT: array of result objects
  char *checkpoint_dir;  ///< SAVING_RESULT / RESTORING_RESULT
  char *error;           ///< ERROR: what happened, one line
  char *traceback;       ///< ERROR: details (Lua traceback, stderr tail), or NULL
  struct tune_event *next;
} tune_event_t;

const char *tune_event_type_name(tune_event_type_t t);
void tune_event_free(tune_event_t *ev);

/// Block until an event or `timeout` seconds. With `next_trial_exists`, a
/// ready placement group or cached worker is reported first (PG_READY).
/// Caller owns the event (tune_event_free).
tune_event_t *tune_executor_next_event(tune_executor_t *ex, int next_trial_exists, double timeout);
/// Process whatever is ready without blocking (no event is returned).
void tune_executor_poll(tune_executor_t *ex);

/// Stop every worker (cached ones too) and wait for them to exit, killing
/// them after force_trial_cleanup_s when that is set; then give every
/// placement group back.
void tune_executor_cleanup(tune_executor_t *ex);
/// Stop cached workers of factories for which `needed(fe, ud)` is 0.
void tune_executor_trim_cache(tune_executor_t *ex, int (*needed)(tune_pgf_entry_t *fe, void *ud), void *ud);

/// Counts for introspection and tests.
typedef struct {
  size_t workers;       ///< live worker processes
  size_t running;       ///< trials with an active worker
  size_t cached;        ///< idle workers kept for reuse
  size_t stopping;      ///< workers asked to stop, not yet gone
  size_t events;        ///< queued events
  size_t spawned;       ///< workers started since creation
  size_t standby;       ///< prestarted idle workers (0 or 1)
} tune_executor_stats_t;
void tune_executor_stats(tune_executor_t *ex, tune_executor_stats_t *out);

/// SIGINT (unless `sigint` is 0) and SIGUSR1 end a blocked
/// tune_executor_next_event; see signals.h.
void tune_executor_install_signals(tune_executor_t *ex, int sigint);

/// Called for every training result before it is queued (the runner logs
/// results here, in C). `results` is the batch; the sink must not keep it.
typedef void (*tune_result_sink_t)(void *ud, const char *trial_id, const char *logdir,
                                   const cJSON *config, const cJSON *results);
void tune_executor_set_result_sink(tune_executor_t *ex, tune_result_sink_t sink, void *ud);

#endif
