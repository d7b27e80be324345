/// Internal to the executor's files: its state, shared by executor.c (life
/// cycle, waiting), exec_trials.c (what the runner asks of trials),
/// exec_spawn.c (a worker's environment and start) and exec_replies.c (what
/// workers answer). Calls go one way: executor.c uses the other three,
/// exec_replies.c uses exec_trials.c and exec_spawn.c, exec_trials.c uses
/// exec_spawn.c, and nothing calls back up.
#ifndef TUNE_EXECUTOR_INT_H
#define TUNE_EXECUTOR_INT_H

#include <stdint.h>

#include "executor.h"
#include "loggers.h"
#include "map.h"
#include "trial.h"
#include "worker.h"

struct tune_executor {
  tune_executor_opts_t o;     ///< strings owned
  char **worker_args;         ///< owned copy
  char *worker_path;
  char *orig_cwd;
  char **env_base;            ///< environment for workers, less what spawn sets; owned
  char *user_omp;             ///< the driver's own OMP_NUM_THREADS (kept for every worker), or NULL; owned
  tune_backend_t *backend;
  tune_pg_manager_t pgm;
  tune_workers_t workers;
  tune_loggers_t loggers;
  tune_map_t trials;          ///< id -> latest record (a reference)
  tune_map_t pending_saves;   ///< final dir -> non-NULL while a save is under way
  tune_worker_t *standby;     ///< prestarted idle worker, or NULL
  int want_standby;           ///< start one when next idle
  tune_event_queue_t events;
  size_t nrunning;
  /// The last TRAINING_RESULT handed out, kept for tune_executor_commit.
  tune_trial_t *delivered;    ///< a reference, or NULL
  cJSON *delivered_batch;     ///< owned
};

/* exec_spawn.c */
/// Spawns a worker for trial `t` on `pg`, or a standby worker when both are NULL.
tune_worker_t *tune__spawn(tune_executor_t *ex, tune_trial_t *t, tune_pg_t *pg, char *err, size_t errlen);
/// The driver's environment without the variables the engine sets for each
/// worker (owned copies; NULL-terminated), filtered once.
/// The workers' base environment from `env`, less what spawn sets; *user_omp
/// gets env's OMP_NUM_THREADS (NULL: none), which Ray sets only where unset.
char **tune__env_base(const char *const *env, char **user_omp);
void tune__env_free(char **env_base, char *user_omp);
/// Bundle i of the group: {index, resources, gpu_ids, node}. Caller owns it.
cJSON *tune__bundles_json(tune_executor_t *ex, const tune_pg_t *pg);
/// OMP_NUM_THREADS and CUDA_VISIBLE_DEVICES for a standby worker that takes
/// a trial (its start request carries them). Caller owns it.
cJSON *tune__trial_env_json(tune_executor_t *ex, const tune_pg_t *pg);

/* exec_trials.c */
tune_trial_t *tune__record(tune_executor_t *ex, const char *id);
/// Queues ERROR for the trial (once per start).
void tune__push_error(tune_executor_t *ex, tune_trial_t *t, const char *msg, const char *traceback);
/// The next train request (one in flight: none); `cap` > 0 caps its batch.
void tune__send_train(tune_executor_t *ex, tune_trial_t *t, int64_t cap);
/// Raises the soft limit of descriptors to the hard one (exec_spawn.c).
void tune__raise_fd_limit(void);
void tune__send_restore(tune_executor_t *ex, tune_trial_t *t, const char *dir, int persistent);
/// Stops the worker of a cached group, or gives an empty cached group back.
void tune__drop_cached(tune_executor_t *ex, tune_pg_t *pg);

/* exec_replies.c */
extern const tune_worker_hooks_t tune__worker_hooks;
/// Row writes that failed behind the driver (tune_loggers_take_faults)
/// become their trials' ERROR events.
void tune__log_faults(tune_executor_t *ex);
/// The placement-group manager's report of a reservation that never can be met.
void tune__reservation_failed(void *ud, tune_pgf_entry_t *fe, const char *why);

#endif
