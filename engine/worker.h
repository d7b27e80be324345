/// The driver's side of worker processes: spawning one through a backend,
/// writing requests, and taking in what it sends. Backend callbacks only
/// queue bytes and exits on the worker (callbacks only enqueue); the owner
/// calls tune_workers_dispatch() after each backend wait, and that is where
/// protocol lines are framed and handed on, the trainable's output is
/// written to its files or the console, and exits are reported. This layer
/// knows nothing of trials' states or events: it reports upward through
/// hooks (tune_worker_hooks_t).
#ifndef TUNE_WORKER_H
#define TUNE_WORKER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "proto.h"

#define TUNE_STDERR_TAIL 12
/// Longest console line kept whole: a trainable that writes more without
/// a newline gets it printed in pieces of this size (memory stays bounded).
#define TUNE_CONSOLE_LINE_MAX 65536

typedef struct tune_worker tune_worker_t;
typedef struct tune_trial tune_trial_t;

/// Seconds a stopping worker may take before the driver says so (when
/// TUNE_FORCE_TRIAL_CLEANUP_S is 0 and it waits without limit); the
/// TUNE_STOP_WARN_S variable changes it.
#define TUNE_STOP_WARN_S 5.0

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
  unsigned log_attempt; ///< save: the trial's logging then (tune_loggers_attempt)
  struct tune_req *next;
} tune_req_t;

/// What a worker tells its owner, from tune_workers_dispatch() only.
typedef struct {
  /// One complete protocol line (without its newline).
  void (*on_line)(void *ud, tune_worker_t *w, const char *line, size_t len);
  /// One protocol message already a tree (an in-process worker's; the
  /// hook owns it).
  void (*on_message)(void *ud, tune_worker_t *w, cJSON *msg);
  /// The protocol stream is broken (oversized line, end in mid-line).
  void (*on_fault)(void *ud, tune_worker_t *w, const char *what);
  /// The process is gone and its streams are drained; `w` is freed after.
  void (*on_exit)(void *ud, tune_worker_t *w, const tune_exit_t *e);
} tune_worker_hooks_t;

/// The workers of one owner (the executor), and what they share.
typedef struct {
  tune_backend_t *backend;      ///< borrowed
  tune_worker_hooks_t hooks;
  void *ud;
  size_t max_message_bytes;
  int console_fd[2];            ///< trainable output not logged to a file
  tune_worker_t *all;           ///< every live worker
  tune_worker_t *ready_head, *ready_tail;  ///< workers with queued input, FIFO
  size_t nlive;
  size_t nspawned;
  uint64_t next_seq;
  tune_buf_t line;              ///< the request being written (kept: no malloc per request)
} tune_workers_t;

struct tune_worker {
  tune_workers_t *set;
  tune_proc_t *proc;          ///< NULL once the process is gone
  uint64_t seq;
  int64_t pid;
  char *hostname;
  char *node_ip;
  tune_trial_t *trial;        ///< the record it serves (a reference), or NULL
  void *pg;                   ///< the owner's placement group for it, or NULL
  char *loader_key;
  tune_lines_t lines;
  tune_buf_t in[3];           ///< bytes queued by callbacks, per stream
  cJSON *inbox;               ///< messages queued as trees (an array), or NULL
  int eof[3];                 ///< end of stream queued
  int eof_done[3];            ///< and handled
  tune_buf_t partial[2];      ///< console lines not yet ended (stdout, stderr)
  char *tail[TUNE_STDERR_TAIL];
  size_t tail_next;
  tune_req_t *req_head, *req_tail;
  uint64_t next_req;
  int corked;                 ///< requests wait in `cork` for tune_worker_uncork
  tune_buf_t cork;
  int hello;
  int stopping;               ///< asked to stop (or killed)
  int standby;                ///< prestarted, waiting for a trial
  int queued;                 ///< on the ready list
  int kill_due;               ///< the force-cleanup timer fired
  int warn_only;              ///< ... and only warns (no force-cleanup time)
  double stop_asked_s;        ///< the timer's delay
  int exited;                 ///< exit queued by the backend
  tune_exit_t exit;           ///< its strings owned
  char *fault;                ///< first protocol fault, if any
  tune_timer_t *kill_timer;
  struct tune_worker *prev, *next, *ready_next;
};

void tune_workers_init(tune_workers_t *s, tune_backend_t *b, const tune_worker_hooks_t *hooks, void *ud,
                       size_t max_message_bytes, const int console_fd[2]);
/// Frees what the set keeps (its workers are gone by then).
void tune_workers_free(tune_workers_t *s);

/// What a worker is started with.
typedef struct {
  const char *file;
  char **argv;                ///< NULL-terminated
  char **env;                 ///< NULL-terminated, complete
  const char *cwd;
  const tune_placement_t *placement;   ///< NULL for a standby worker
  const tune_pgf_t *pgf;
  const char *loader_key;
  int fork_server;            ///< tune_spawn_t's
} tune_worker_spawn_t;

/// Starts a worker. NULL with a message in `err` when the backend could not.
tune_worker_t *tune_worker_spawn(tune_workers_t *s, const tune_worker_spawn_t *o, char *err, size_t errlen);
/// Sends a request; the worker answers requests in order. Takes `body`.
/// Returns the request, or NULL when the worker cannot be written to.
tune_req_t *tune_worker_request(tune_worker_t *w, tune_req_kind_t kind, tune_trial_t *t, cJSON *body);
/// A `train` request for up to n results within `window` seconds (the
/// request made each result at buffer length 1: written without a body).
tune_req_t *tune_worker_train(tune_worker_t *w, tune_trial_t *t, int64_t n, double window);
/// Requests made between cork and uncork go out in one write (a reset and
/// the train request after it). uncork returns 0, or -1 when the write
/// failed (the worker is then faulted and killed; its requests stay queued
/// and end with it, as when it dies after a write).
void tune_worker_cork(tune_worker_t *w);
int tune_worker_uncork(tune_worker_t *w);
tune_req_t *tune_worker_pop_request(tune_worker_t *w);
void tune_req_free(tune_req_t *r);
/// Serve trial `t` (a reference is taken), or none with NULL.
void tune_worker_attach(tune_worker_t *w, tune_trial_t *t);
/// Marks the protocol broken with `what` (kept) and kills the worker.
void tune_worker_fault(tune_worker_t *w, const char *what);
void tune_worker_kill(tune_worker_t *w);
/// Graceful stop: a stop request, and SIGKILL after `force_after_s` (> 0).
/// A worker already stopping without a time limit is killed after
/// force_after_s seconds.
void tune_worker_force_within(tune_worker_t *w, double force_after_s);
void tune_worker_stop(tune_worker_t *w, double force_after_s);
/// The last lines the worker wrote to stderr, or NULL. Caller owns it.
char *tune_worker_stderr_tail(const tune_worker_t *w);
/// Handles everything callbacks queued since the last call (see above).
/// Returns 1 when anything was handled.
int tune_workers_dispatch(tune_workers_t *s);

#endif
