/// The engine's record of one start of a trial: what the worker needs
/// (config, loader, logdir), where its output goes, and the counters behind
/// the auto-filled result fields (Ray's Trainable.train bookkeeping, done
/// in the driver on the result hot path). A record lives from start until
/// its worker is gone or serves another trial.
#ifndef TUNE_TRIAL_H
#define TUNE_TRIAL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "pg_manager.h"

typedef struct tune_worker tune_worker_t;
typedef struct tune_trial tune_trial_t;

/// What the executor needs to run a trial.
typedef struct {
  const char *trial_id;
  const char *name;              ///< console prefix, e.g. "train_fn_00001"
  const char *logdir;            ///< created by the executor unless logdir_made
  int logdir_made;               ///< the caller made logdir already (no stat)
  int logs_made;                 ///< result.json and progress.csv are there, empty
  int *log_fds;                  ///< or NULL: both open (made ahead), taken by the loggers
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
  int64_t batch_cap;             ///< caps the first request's batch (0: none)
  const char *stdout_file;       ///< log_to_file targets (NULL: console)
  const char *stderr_file;
} tune_trial_spec_t;

struct tune_trial {
  int refs;                  ///< map entry, worker, pending requests
  char *id;
  char *name;
  char *logdir;
  char *tag;
  char *experiment_id;
  cJSON *config;             ///< owned
  unsigned config_gen;       ///< changes with every new config (loggers cache its text)
  cJSON *loader;             ///< owned
  char *loader_key;
  int resettable;
  tune_pgf_entry_t *fe;
  int checkpoint_at_end;
  int checkpoint_freq;
  char *stdout_file;
  char *stderr_file;

  /* Counters, as Ray's Trainable keeps them. */
  int64_t iteration;
  int64_t iterations_since_restore;
  double time_total;
  double time_since_restore;
  int has_timesteps;
  double timesteps_total;
  double timesteps_since_restore;
  int has_episodes;
  double episodes_total;

  cJSON *last_result;        ///< last result of a batch already handed out, moved
                             ///< here when the batch goes (owned), for "finished"
  tune_worker_t *worker;     ///< NULL once detached
  int active;                ///< started and not stopped
  int train_inflight;
  int superseded;            ///< a newer record exists for this id
  int error_reported;        ///< an ERROR event was queued for this start
  cJSON *bundles;            ///< the placement: [{resources, gpu_ids}] (owned)
  char *waiting_restore;     ///< memory checkpoint whose save is pending
  int waiting_restore_persistent;
};

/// A record with one reference. Release with tune_trial_unref().
tune_trial_t *tune_trial_new(const tune_trial_spec_t *spec);
tune_trial_t *tune_trial_ref(tune_trial_t *t);
void tune_trial_unref(tune_trial_t *t);
void tune_trial_set_config(tune_trial_t *t, const cJSON *config, const char *tag);

/// Zero every counter (a fresh start or a reset).
void tune_trial_counters_reset(tune_trial_t *t);
/// Counters for a checkpoint's metadata. Caller owns the result.
cJSON *tune_trial_counters_json(const tune_trial_t *t);
/// Counters from a checkpoint's metadata; "since restore" counters restart.
void tune_trial_counters_restore(tune_trial_t *t, const cJSON *meta);

typedef struct {
  int64_t pid;
  const char *hostname;
  const char *node_ip;
} tune_proc_info_t;

/// Whether the first `len` bytes of `k` name a field tune_trial_fill_result
/// adds to every result (training_iteration, date, ...; "config" too),
/// rather than one only the trainable reports.
int tune_result_key_is_filled(const char *k, size_t len);

/// The keys tune_trial_fill_result adds to a result, in the order it adds
/// them: string literals linked without a copy (cJSON_AddItemToObjectCS),
/// which the Lua binding knows by their addresses (a Lua string kept for
/// each, no lookup by text).
enum {
  TUNE_RK_DONE, TUNE_RK_TIMESTEPS_TOTAL, TUNE_RK_EPISODES_TOTAL,
  TUNE_RK_TRAINING_ITERATION, TUNE_RK_NEG_MEAN_LOSS, TUNE_RK_DATE,
  TUNE_RK_TIMESTAMP, TUNE_RK_TIME_THIS_ITER_S, TUNE_RK_TIME_TOTAL_S,
  TUNE_RK_PID, TUNE_RK_HOSTNAME, TUNE_RK_NODE_IP,
  TUNE_RK_TRIAL_ID, TUNE_RK_EXPERIMENT_ID, TUNE_RK_TIME_SINCE_RESTORE,
  TUNE_RK_TIMESTEPS_SINCE_RESTORE, TUNE_RK_ITERATIONS_SINCE_RESTORE, TUNE_RK_EXPERIMENT_TAG,
  TUNE_RK_N
};
extern const char *const tune_result_keys[TUNE_RK_N];

/// Completes one report into a result: updates the counters and adds the
/// auto-filled fields. Takes ownership of `metrics` and returns it filled.
/// `dt` is the time the worker measured for the step, `ts` its wall clock.
cJSON *tune_trial_fill_result(tune_trial_t *t, cJSON *metrics, double dt, double ts,
                              const tune_proc_info_t *info);
/// Fields known before any report: trial_id, pid, hostname, node_ip,
/// experiment_id, date, timestamp. Caller owns the result.
cJSON *tune_trial_default_result(const tune_trial_t *t, const tune_proc_info_t *info);

/// The last result of `batch`, not counting Ray's repetition of it (a
/// result marked "__duplicate__", only ever a batch's last); NULL if none.
cJSON *tune_trial_last_of(cJSON *batch);
/// Moves the last result of `batch` (before Ray's repeated one, if any)
/// into t->last_result, detaching it from the batch (no copy).
void tune_trial_keep_last(tune_trial_t *t, cJSON *batch);

#endif
