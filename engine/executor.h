/// The trial executor: starts trials in worker processes on placement
/// groups, trains, saves, restores, resets, pauses and stops them, turns
/// what workers send into events, and logs the results the runner accepted.
/// Ray's RayTrialExecutor, in C on a backend (docs/architecture.md). Every
/// call returns at once; only tune_executor_next_event() and
/// tune_executor_cleanup() block.
#ifndef TUNE_EXECUTOR_H
#define TUNE_EXECUTOR_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "events.h"
#include "fsutil.h"
#include "pg_manager.h"
#include "trial.h"

typedef struct tune_executor tune_executor_t;

/// Options. Each has a same-named TUNE_* environment variable and a
/// default, listed once in tune_executor_options() (executor.c).
typedef struct {
  int result_buffer_length;            ///< TUNE_RESULT_BUFFER_LENGTH (1)
  double result_buffer_min_time_s;     ///< TUNE_RESULT_BUFFER_MIN_TIME_S (0)
  double result_buffer_max_time_s;     ///< TUNE_RESULT_BUFFER_MAX_TIME_S (100)
  double force_trial_cleanup_s;        ///< TUNE_FORCE_TRIAL_CLEANUP_S (0: wait)
  /// TUNE_MAX_PENDING_TRIALS_PG; 0: max(16, 1.1 x the cluster's CPUs).
  size_t max_pending_trials_pg;
  size_t max_message_bytes;            ///< TUNE_MAX_MESSAGE_BYTES (16 MiB)
  double placement_group_recon_interval;  ///< TUNE_PLACEMENT_GROUP_RECON_INTERVAL (5)
  double get_executor_event_wait_s;    ///< TUNE_GET_EXECUTOR_EVENT_WAIT_S (5)
  int reuse_actors;
  /// Keep one idle worker process started ahead (Ray's prestarted workers)
  /// on backends that can (TUNE_BACKEND_PRESTART).
  int prestart_workers;
  int fork_server;
  const char *worker_path;             ///< the tunelua binary (copied)
  const char *const *worker_args;      ///< argv after the path (copied), NULL-terminated
  const char *orig_cwd;                ///< TUNE_ORIG_WORKING_DIR for workers (copied)
  /// Trainable output that is not logged to a file goes here, prefixed
  /// "(name pid=N) "; defaults to the driver's stdout/stderr fds.
  int console_fd[2];
} tune_executor_opts_t;

typedef enum { TUNE_OPT_INT, TUNE_OPT_SIZE, TUNE_OPT_DOUBLE, TUNE_OPT_BOOL } tune_opt_type_t;

/// One option: its name (the constructor's and Lua's), its environment
/// variable (or NULL), its type, where it lives, and its default.
typedef struct {
  const char *name;
  const char *env;
  tune_opt_type_t type;
  size_t offset;
  double dflt;
} tune_option_desc_t;

/// The table of every option. `*n` gets its length.
const tune_option_desc_t *tune_executor_options(size_t *n);
/// Defaults, then the TUNE_* variables of the environment.
void tune_executor_opts_default(tune_executor_opts_t *o);
/// Whether `v` is a value option `d` can take: a whole number from 0 to
/// 1e6 (INT) or to 2^40 (SIZE), a finite number of seconds >= 0 (DOUBLE).
/// Returns 0, or -1 with `err` saying what it must be.
int tune_executor_opt_check(const tune_option_desc_t *d, double v, char *err, size_t errlen);
/// Sets option `d` of `o` from a number (the bindings' constructor options),
/// one tune_executor_opt_check accepted.
void tune_executor_opt_set(tune_executor_opts_t *o, const tune_option_desc_t *d, double v);
double tune_executor_opt_get(const tune_executor_opts_t *o, const tune_option_desc_t *d);

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

/// 1 started (RUNNING), 0 no placement group is ready (stays PENDING),
/// -1 failed with a message in `err` (the trial is in ERROR).
int tune_executor_start(tune_executor_t *ex, const tune_trial_spec_t *spec, char *err, size_t errlen);
/// Ask for the next (batch of) results; `cap` > 0 caps this request's batch
/// below the buffer length (the scheduler decides after that many). 0, or
/// -1 when the trial is not running.
int tune_executor_continue(tune_executor_t *ex, const char *trial_id, int64_t cap);
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

/// Block until an event or `timeout` seconds. With `next_trial_exists`, a
/// ready placement group or cached worker is reported first (PG_READY).
/// Caller owns the event (tune_event_free). A TRAINING_RESULT's batch stays
/// the executor's too, until the next one: tune_executor_commit() logs it.
tune_event_t *tune_executor_next_event(tune_executor_t *ex, int next_trial_exists, double timeout);
/// Process whatever is ready without blocking (no event is returned).
void tune_executor_poll(tune_executor_t *ex);

/// Which result loggers run (result.json, progress.csv).
void tune_executor_set_loggers(tune_executor_t *ex, int json, int csv);
/// Trial results also go to `target` as `--events` lines: a file (appended
/// to), "-" for stdout, or NULL for none. 0 or a negative errno.
int tune_executor_set_event_stream(tune_executor_t *ex, const char *target);
/// One `--events` line written by the host (an event other than a result).
void tune_executor_write_event(tune_executor_t *ex, const char *line, size_t len);
/// The runner accepted results 1..n of `trial_id`'s last delivered batch:
/// log them (the function-finished duplicate never); with `stopped` the
/// n-th was a STOP and is logged with done = true. Results after it are
/// never logged. 0, or -1 when that trial's batch is not the last one.
int tune_executor_commit(tune_executor_t *ex, const char *trial_id, size_t n, int stopped);
/// Forget a trial's CSV columns (read back from its file if it logs again).
void tune_executor_forget_logs(tune_executor_t *ex, const char *trial_id);
/// Writes the result rows the loggers hold and returns once they are on
/// disk (tune_loggers_sync): the experiment calls it before each snapshot
/// and dashboard publish. A trial whose rows could not be written gets an
/// ERROR event (also when it has ended: then its last rows were lost), as
/// it does from tune_executor_next_event.
void tune_executor_flush_logs(tune_executor_t *ex);
/// The experiment journal, written ahead of every row (and whenever the
/// driver is about to wait); NULL for none. Not owned: the caller keeps it
/// alive, and closed (fd -1) or unset, before it goes.
void tune_executor_set_journal(tune_executor_t *ex, tune_appendbuf_t *journal);
/// Result rows, log files' closes and the journal's flushes are written
/// behind the driver by `writer`'s thread (engine/loggers.h), which the
/// executor holds (tune_fsprep_retain) from here on; once only.
struct tune_fsprep;
void tune_executor_set_writer(tune_executor_t *ex, struct tune_fsprep *writer);

/// Stop every worker (cached ones too) and wait for them to exit, killing
/// them after force_trial_cleanup_s when that is set; then give every
/// placement group back.
void tune_executor_cleanup(tune_executor_t *ex);
/// The same, killing any worker that has not stopped after force_s seconds
/// (when force_s > 0 and the force_trial_cleanup_s option is longer or 0):
/// an interrupted experiment ends in bounded time.
void tune_executor_cleanup_within(tune_executor_t *ex, double force_s);
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

#endif
