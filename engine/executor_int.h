/// Internal to executor.c and worker.c: the executor's state and the
/// driver-side view of one worker process.
#ifndef TUNE_EXECUTOR_INT_H
#define TUNE_EXECUTOR_INT_H

#include <stdint.h>

#include "buf.h"
#include "executor.h"
#include "map.h"
#include "proto.h"
#include "trial.h"

#define TUNE_STDERR_TAIL 12

typedef enum {
  TUNE_REQ_START,
  TUNE_REQ_TRAIN,
  TUNE_REQ_SAVE,
  TUNE_REQ_RESTORE,
  TUNE_REQ_RESET,
  TUNE_REQ_STOP,
} tune_req_kind_t;

/// A request sent to a worker and not yet answered. Holds a reference on
/// the trial record it was made for.
typedef struct tune_req {
  uint64_t id;
  tune_req_kind_t kind;
  tune_trial_t *trial;
  char *tmp_dir;      ///< save: where the worker writes
  char *dir;          ///< save: final directory; restore: the checkpoint
  int persistent;
  struct tune_req *next;
} tune_req_t;

struct tune_worker {
  tune_executor_t *ex;
  tune_proc_t *proc;          ///< NULL once the process is gone
  uint64_t seq;
  int64_t pid;
  char *hostname;
  char *node_ip;
  tune_trial_t *trial;        ///< the record it serves (a reference), or NULL
  tune_pg_t *pg;              ///< the group it runs in (in use, cached or stopping)
  char *loader_key;
  tune_lines_t lines;
  tune_buf_t partial[2];      ///< console lines not yet ended (stdout, stderr)
  char *tail[TUNE_STDERR_TAIL];
  size_t tail_next;
  tune_req_t *req_head, *req_tail;
  uint64_t next_req;
  int hello;
  int stopping;               ///< asked to stop (or killed)
  int standby;                ///< prestarted, waiting for a trial
  int exited;
  char *fault;                ///< first protocol fault, if any
  tune_timer_t *kill_timer;
  struct tune_worker *prev, *next;
};

struct tune_executor {
  tune_executor_opts_t o;     ///< strings owned
  char **worker_args;         ///< owned copy
  char *worker_path;
  char *orig_cwd;
  char **env_base;            ///< environment for workers, owned
  tune_backend_t *backend;
  tune_pg_manager_t pgm;
  tune_map_t trials;          ///< id -> latest record (a reference)
  tune_map_t pending_saves;   ///< final dir -> non-NULL while a save is under way
  tune_worker_t *workers;     ///< every live worker
  tune_worker_t *standby;     ///< prestarted idle worker, or NULL
  int want_standby;           ///< start one when next idle
  tune_event_t *ev_head, *ev_tail;
  size_t nevents;
  size_t nrunning;
  size_t nspawned;
  uint64_t next_worker;
  tune_result_sink_t sink;
  void *sink_ud;
};


/* worker.c */
/// Spawn a worker for trial `t` on `pg`, or a standby worker when both are NULL.
tune_worker_t *tune__worker_spawn(tune_executor_t *ex, tune_trial_t *t, tune_pg_t *pg, char *err, size_t errlen);
/// The per-trial environment (GPUs, OMP threads) as a JSON object, for a
/// standby worker to set before it loads the trainable. Caller owns it.
cJSON *tune__worker_trial_env(tune_executor_t *ex, const tune_pg_t *pg);
/// Bundle i of the group: {index, resources, gpu_ids, node}. Caller owns it.
cJSON *tune__worker_bundles(tune_executor_t *ex, const tune_pg_t *pg);
/// Send a request; the worker answers it in order. Returns the request, or
/// NULL when the worker cannot be written to (it is dying).
tune_req_t *tune__worker_request(tune_worker_t *w, tune_req_kind_t kind, tune_trial_t *t, cJSON *body);
tune_req_t *tune__worker_pop_request(tune_worker_t *w);
void tune__req_free(tune_req_t *r);
void tune__worker_attach(tune_worker_t *w, tune_trial_t *t);
void tune__worker_kill(tune_worker_t *w);
void tune__worker_stop(tune_worker_t *w);
/// The last lines the worker wrote to stderr, or NULL. Caller owns it.
char *tune__worker_stderr_tail(const tune_worker_t *w);
void tune__worker_free(tune_worker_t *w);
cJSON *tune__start_body(const tune_trial_t *t);

/* executor.c, called by worker.c */
void tune__executor_on_line(tune_worker_t *w, const char *line, size_t len);
void tune__executor_on_fault(tune_worker_t *w, const char *what);
void tune__executor_on_exit(tune_worker_t *w, const tune_exit_t *e);
void tune__executor_push(tune_executor_t *ex, tune_event_t *ev);

#endif
