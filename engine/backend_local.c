/// The local backend: workers are child processes in their own session and
/// process group, speaking the protocol on stdin/stdout, with the
/// trainable's stdout on fd 3 and its stderr on fd 2. Placement groups are
/// reserved by arithmetic over this one node.
///
/// Workers are started with posix_spawn (vfork semantics) and watched
/// through a pidfd on the loop, not with uv_spawn: libuv 1.44 forks, and a
/// fork costs time in proportion to the driver's memory (3 ms from a 50 MB
/// driver, 14 ms from 500 MB, against a flat 1.1 ms; docs/architecture.md,
/// "Spawning"). uv_spawn remains the fallback where pidfd_open is missing.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "backend.h"
#include "common.h"
#include "log.h"
#include "signals.h"
#include "uvstream.h"
#include "zygote.h"

/// Seconds to wait for a dead worker's streams to reach EOF (a grandchild
/// that inherited them may hold them open).
#define DRAIN_TIMEOUT_S 2.0
#define READ_CHUNK 65536

typedef struct {
  tune_backend_t base;
  uv_loop_t loop;
  uv_timer_t wait_timer;
  uv_async_t wakeup;
  int wait_fired;
  int activity;     ///< set by every callback that reaches the executor
  int kill_pid_only;
  tune_zygote_t *zygote;  ///< the fork server, started with the third worker that may use it
  int zygote_failed;      ///< it could not be started, or died: spawn as before
  int forkable_spawns;    ///< workers that could have been forked so far
} local_backend_t;

/* A worker process: the process handle, four pipes and a drain timer, all
 * embedded here; freed from the last close callback (refcount `open`). */
struct tune_proc {
  local_backend_t *b;
  uv_process_t proc;     /* fallback: uv_spawn */
  uv_poll_t exit_poll;   /* posix_spawn: readable when the child exits */
  int pidfd;             /* -1 with the fallback */
  uv_pipe_t in;          /* protocol to the worker (its stdin) */
  uv_pipe_t out[3];      /* protocol, trainable stdout, trainable stderr */
  uv_timer_t drain;
  int open;              /* handles not yet closed */
  int streams_open;      /* readable streams not at EOF */
  int eof[3];
  int exited;
  int64_t exit_status;
  int term_signal;
  int notified;
  int64_t pid;
  tune_proc_cb_t cb;
  void *ud;
  char buf[READ_CHUNK];
};

struct tune_timer {
  local_backend_t *b;
  uv_timer_t t;
  void (*cb)(void *ud);
  void *ud;
};

static void proc_handle_closed(uv_handle_t *h) {
  tune_proc_t *p = h->data;
  if (h == (uv_handle_t *)&p->exit_poll && p->pidfd >= 0) {
    close(p->pidfd);
    p->pidfd = -1;
  }
  if (--p->open == 0) free(p);
}

static void proc_close(tune_proc_t *p, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, proc_handle_closed);
}

static void proc_close_all(tune_proc_t *p) {
  proc_close(p, p->pidfd >= 0 ? (uv_handle_t *)&p->exit_poll : (uv_handle_t *)&p->proc);
  proc_close(p, (uv_handle_t *)&p->in);
  for (int i = 0; i < 3; i++) proc_close(p, (uv_handle_t *)&p->out[i]);
  proc_close(p, (uv_handle_t *)&p->drain);
}

/// Tells the executor once the process is gone and its output drained.
static void maybe_finish(tune_proc_t *p) {
  if (p->notified || !p->exited || p->streams_open > 0) return;
  p->notified = 1;
  p->b->activity = 1;
  tune_exit_t e = {p->exit_status, p->term_signal, NULL, NULL};
  p->cb.on_exit(p->ud, &e);
  proc_close_all(p);
}

static void on_drain_timeout(uv_timer_t *t) {
  tune_proc_t *p = t->data;
  for (int i = 0; i < 3; i++) {
    if (p->eof[i]) continue;
    uv_read_stop((uv_stream_t *)&p->out[i]);
    p->eof[i] = 1;
    p->cb.on_data(p->ud, i, NULL, 0);
  }
  p->streams_open = 0;
  maybe_finish(p);
}

static void proc_exited(tune_proc_t *p, int64_t status, int sig) {
  p->exited = 1;
  p->exit_status = status;
  p->term_signal = sig;
  /* Whatever the worker left running in its group goes with it. */
  if (p->pid > 0 && !p->b->kill_pid_only) kill(-(pid_t)p->pid, SIGKILL);
  if (p->streams_open > 0) uv_timer_start(&p->drain, on_drain_timeout, (uint64_t)(DRAIN_TIMEOUT_S * 1000), 0);
  maybe_finish(p);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig) { proc_exited(h->data, status, sig); }

static void on_pidfd(uv_poll_t *h, int status, int events) {
  tune_proc_t *p = h->data;
  int st;
  pid_t r;
  do r = waitpid((pid_t)p->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return; /* not yet (spurious wake-up) */
  uv_poll_stop(h);
  if (r < 0) {
    /* Someone else reaped it (an embedding application's SIGCHLD handler). */
    proc_exited(p, -1, 0);
  } else if (WIFSIGNALED(st)) {
    proc_exited(p, 0, WTERMSIG(st));
  } else {
    proc_exited(p, WEXITSTATUS(st), 0);
  }
}

/// A worker forked by the fork server (zygote.h), with the pipe ends as its
/// fds 0-3: 0 and *pid, or -ENOTSUP where it must be spawned as before.
static int spawn_forked(local_backend_t *b, const tune_spawn_t *o, const int fds[4], pid_t *pid) {
  if (!o->fork_server || b->zygote_failed || b->kill_pid_only) return -ENOTSUP;
  if (!o->argv[1] || strcmp(o->argv[1], "--worker")) return -ENOTSUP;
  if (!b->zygote) {
    /* Not for the first two workers (a one-trial experiment starts its
       trial's and a standby: its start-up would pay for the zygote's);
       with the third it loads beside the workers, and serves once it has. */
    if (++b->forkable_spawns < 3) return -ENOTSUP;
    b->zygote = tune_zygote_start(o->file, o->env);
    b->zygote_failed = b->zygote == NULL;
    return -ENOTSUP;
  }
  int rc = tune_zygote_spawn(b->zygote, o->file, o->argv, o->env, o->cwd ? o->cwd : ".", fds, pid);
  if (rc == -EAGAIN) return -ENOTSUP;
  if (rc < 0 && !tune_zygote_alive(b->zygote)) {
    /* It died, or never could serve (an older binary without --zygote):
       nothing is lost, workers are started as without it. */
    TUNE_DEBUG("the fork server stopped (%s): workers are started one by one", strerror(-rc));
    tune_zygote_free(b->zygote);
    b->zygote = NULL;
    b->zygote_failed = 1;
    return -ENOTSUP;
  }
  return rc;
}

/// posix_spawn the worker with the pipe ends as fds 0-3 (or fork it, above).
/// 0 or -errno.
static int spawn_posix(local_backend_t *b, tune_proc_t *p, const tune_spawn_t *o) {
  int in[2] = {-1, -1}, out[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int rc = 0;
  if (pipe2(in, O_CLOEXEC) < 0) return -errno;
  for (int i = 0; i < 3; i++)
    if (pipe2(out[i], O_CLOEXEC) < 0) {
      rc = -errno;
      goto out;
    }
  pid_t pid;
  int child[4] = {in[0], out[TUNE_STREAM_PROTOCOL][1], out[TUNE_STREAM_STDERR][1], out[TUNE_STREAM_STDOUT][1]};
  rc = spawn_forked(b, o, child, &pid);
  if (rc == 0) goto spawned;
  if (rc != -ENOTSUP) goto out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[TUNE_STREAM_PROTOCOL][1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[TUNE_STREAM_STDERR][1], 2);
  posix_spawn_file_actions_adddup2(&fa, out[TUNE_STREAM_STDOUT][1], 3);
  if (o->cwd) posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
  rc = tune_spawn_clean(&pid, o->file, &fa, o->argv, o->env, 1, 0);
  if (rc < 0) goto out;
spawned:
  p->pid = pid;
  p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (p->pidfd < 0) {
    /* Cannot watch it: the caller found pidfd_open working before, so this
       is a resource limit. Kill and reap it rather than leak it. */
    rc = -errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    goto out;
  }
  uv_poll_init(&b->loop, &p->exit_poll, p->pidfd);
  uv_poll_start(&p->exit_poll, UV_READABLE, on_pidfd);
  uv_pipe_open(&p->in, in[1]);
  in[1] = -1;
  for (int i = 0; i < 3; i++) {
    uv_pipe_open(&p->out[i], out[i][0]);
    out[i][0] = -1;
  }
out:
  /* The child's ends, and ours when something failed. */
  for (int i = 0; i < 2; i++)
    if (in[i] >= 0) close(in[i]);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++)
      if (out[i][k] >= 0) close(out[i][k]);
  return rc;
}

static int pidfd_supported(void) {
  static int ok = -1;
  if (ok < 0) {
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    ok = fd >= 0;
    if (fd >= 0) close(fd);
  }
  return ok;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tune_proc_t *p = h->data;
  (void)suggested;
  buf->base = p->buf;
  buf->len = sizeof p->buf;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  tune_proc_t *p = s->data;
  int stream = (int)((uv_pipe_t *)s - p->out);
  if (n > 0) {
    p->b->activity = 1;
    p->cb.on_data(p->ud, stream, buf->base, (size_t)n);
    return;
  }
  if (n == 0) return;
  /* EOF or error: the stream is finished either way. */
  uv_read_stop(s);
  if (p->eof[stream]) return;
  p->eof[stream] = 1;
  p->b->activity = 1;
  p->cb.on_data(p->ud, stream, NULL, 0);
  p->streams_open--;
  maybe_finish(p);
}

static int local_spawn(tune_backend_t *base, const tune_spawn_t *o, const tune_proc_cb_t *cb, void *ud,
                       tune_proc_t **out) {
  local_backend_t *b = (local_backend_t *)base;
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->cb = *cb;
  p->ud = ud;
  uv_handle_t *handles[] = {(uv_handle_t *)&p->in, (uv_handle_t *)&p->out[0], (uv_handle_t *)&p->out[1],
                            (uv_handle_t *)&p->out[2]};
  uv_pipe_init(&b->loop, &p->in, 0);
  for (int i = 0; i < 3; i++) uv_pipe_init(&b->loop, &p->out[i], 0);
  uv_timer_init(&b->loop, &p->drain);
  for (size_t i = 0; i < TUNE_ARRAY_LEN(handles); i++) handles[i]->data = p;
  p->drain.data = p;
  p->proc.data = p;
  p->exit_poll.data = p;
  p->pidfd = -1;
  p->open = 6;

  if (pidfd_supported()) {
    int rc = spawn_posix(b, p, o);
    if (rc < 0) {
      /* The exit watcher was never initialised: close what was. */
      p->open = 5;
      proc_close(p, (uv_handle_t *)&p->in);
      for (int i = 0; i < 3; i++) proc_close(p, (uv_handle_t *)&p->out[i]);
      proc_close(p, (uv_handle_t *)&p->drain);
      return rc;
    }
    goto started;
  }

  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&p->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->out[TUNE_STREAM_PROTOCOL];
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&p->out[TUNE_STREAM_STDERR];
  stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[3].data.stream = (uv_stream_t *)&p->out[TUNE_STREAM_STDOUT];

  uv_process_options_t po;
  memset(&po, 0, sizeof po);
  po.exit_cb = on_exit_cb;
  po.file = o->file;
  po.args = o->argv;
  po.env = o->env;
  po.cwd = o->cwd;
  po.flags = UV_PROCESS_DETACHED;   /* own session and process group */
  po.stdio_count = 4;
  po.stdio = stdio;

  int rc = uv_spawn(&b->loop, &p->proc, &po);
  if (rc < 0) {
    /* libuv: the process handle must be closed even after a failed spawn. */
    proc_close_all(p);
    return rc;
  }
  p->pid = p->proc.pid;
started:
  p->streams_open = 3;
  for (int i = 0; i < 3; i++) uv_read_start((uv_stream_t *)&p->out[i], alloc_cb, read_cb);
  *out = p;
  return 0;
}

static int local_send(tune_proc_t *p, const char *data, size_t len) {
  if (p->exited || uv_is_closing((uv_handle_t *)&p->in) || !uv_is_writable((uv_stream_t *)&p->in))
    return -EPIPE;
  return tune_stream_send((uv_stream_t *)&p->in, data, len);
}

static int local_kill(tune_proc_t *p) {
  if (p->exited || p->pid <= 0) return 0;
  pid_t target = p->b->kill_pid_only ? (pid_t)p->pid : -(pid_t)p->pid;
  if (kill(target, SIGKILL) == 0) return 0;
  /* A worker just forked by the fork server may not have made its own
     process group yet (setsid is its first step): kill the process. */
  if (errno == ESRCH && target < 0 && kill((pid_t)p->pid, SIGKILL) == 0) return 0;
  if (errno != ESRCH) return -errno;
  return 0;
}

static int64_t local_pid(const tune_proc_t *p) { return p->pid; }

static double local_now(tune_backend_t *base) {
  (void)base;
  return (double)uv_hrtime() / 1e9;
}

/* A timer that fires at the start of a uv_run(UV_RUN_ONCE) turn would let
   that turn's poll block with no timeout at all when no other timer is
   active (libuv runs due timers before it computes the poll timeout): the
   driver then slept until the next I/O, whatever timeout it asked for.
   uv_stop makes that turn's poll return at once. */
static void timer_cb(uv_timer_t *t) {
  tune_timer_t *tt = t->data;
  tt->b->activity = 1;
  uv_stop(&tt->b->loop);
  tt->cb(tt->ud);
}

static tune_timer_t *local_timer_new(tune_backend_t *base, void (*cb)(void *), void *ud) {
  local_backend_t *b = (local_backend_t *)base;
  tune_timer_t *t = tune_xcalloc(1, sizeof *t);
  t->b = b;
  t->cb = cb;
  t->ud = ud;
  uv_timer_init(&b->loop, &t->t);
  t->t.data = t;
  return t;
}

static void local_timer_start(tune_timer_t *t, double s) {
  /* NaN as 0; capped where the cast is defined. */
  uv_timer_start(&t->t, timer_cb, !(s > 0) ? 0 : (uint64_t)((s < TUNE_MAX_WAIT_S ? s : TUNE_MAX_WAIT_S) * 1000.0 + 0.5), 0);
}

static void local_timer_stop(tune_timer_t *t) { uv_timer_stop(&t->t); }

static void timer_closed(uv_handle_t *h) { free(h->data); }

static void local_timer_free(tune_timer_t *t) {
  if (!t) return;
  uv_timer_stop(&t->t);
  uv_close((uv_handle_t *)&t->t, timer_closed);
}

static void wait_timeout(uv_timer_t *t) {
  local_backend_t *b = t->data;
  b->wait_fired = 1;
  uv_stop(&b->loop); /* see timer_cb */
}

static int local_wait(tune_backend_t *base, double timeout) {
  local_backend_t *b = (local_backend_t *)base;
  b->activity = 0;
  if (!(timeout > 0)) { /* NaN too: a poll */
    uv_run(&b->loop, UV_RUN_NOWAIT);
    return b->activity;
  }
  b->wait_fired = 0;
  if (timeout > TUNE_MAX_WAIT_S) timeout = TUNE_MAX_WAIT_S;
  /* From now, not from the loop's cached time (which may be old). */
  uv_update_time(&b->loop);
  uv_timer_start(&b->wait_timer, wait_timeout, (uint64_t)(timeout * 1000.0 + 0.5), 0);
  while (!b->activity && !b->wait_fired) uv_run(&b->loop, UV_RUN_ONCE);
  uv_timer_stop(&b->wait_timer);
  return b->activity;
}

static void on_wakeup(uv_async_t *h) {
  local_backend_t *b = h->data;
  b->activity = 1;
}

static void local_wake(tune_backend_t *base) {
  local_backend_t *b = (local_backend_t *)base;
  uv_async_send(&b->wakeup);
}

static int local_reserve(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  return tune_cluster_reserve(&base->cluster, f, &r->placement) == 0 ? TUNE_RESERVE_OK : TUNE_RESERVE_NO_ROOM;
}

static void local_release(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  tune_cluster_release(&base->cluster, f, &r->placement);
}

static void walk_count(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) (*(int *)arg)++;
}

static int local_destroy(tune_backend_t *base) {
  local_backend_t *b = (local_backend_t *)base;
  uv_close((uv_handle_t *)&b->wait_timer, NULL);
  uv_close((uv_handle_t *)&b->wakeup, NULL);
  int busy = 0;
  uv_walk(&b->loop, walk_count, &busy);
  /* Let pending close callbacks run (again if a timer's uv_stop ended
     the turn). */
  while (uv_run(&b->loop, UV_RUN_DEFAULT) != 0) {
  }
  int rc = uv_loop_close(&b->loop);
  tune_zygote_free(b->zygote);
  tune_cluster_free(&b->base.cluster);
  free(b);
  if (busy) TUNE_WARN("local backend destroyed with %d open handle(s)", busy);
  return (rc < 0 || busy) ? -EBUSY : 0;
}

static const tune_backend_ops_t local_ops = {
    .name = "local",
    .caps = TUNE_BACKEND_PRESTART,
    .spawn = local_spawn,
    .send = local_send,
    .kill = local_kill,
    .pid = local_pid,
    .now = local_now,
    .timer_new = local_timer_new,
    .timer_start = local_timer_start,
    .timer_stop = local_timer_stop,
    .timer_free = local_timer_free,
    .wait = local_wait,
    .wake = local_wake,
    .reserve = local_reserve,
    .release = local_release,
    .destroy = local_destroy,
};

struct uv_loop_s *tune_backend_local_loop(tune_backend_t *base) { return &((local_backend_t *)base)->loop; }

void tune_backend_local_touch(tune_backend_t *base) { ((local_backend_t *)base)->activity = 1; }

tune_backend_t *tune_backend_local_new(const tune_local_opts_t *o) {
  local_backend_t *b = tune_xcalloc(1, sizeof *b);
  b->base.ops = &local_ops;
  if (uv_loop_init(&b->loop) < 0) tune_abort(__FILE__, __LINE__, "uv_loop_init failed");
  uv_timer_init(&b->loop, &b->wait_timer);
  b->wait_timer.data = b;
  uv_async_init(&b->loop, &b->wakeup, on_wakeup);
  b->wakeup.data = b;
  b->kill_pid_only = o->kill_pid_only;
  tune_cluster_init(&b->base.cluster);
  if (o->resources) tune_cluster_add_node(&b->base.cluster, "local", o->resources, o->gpu_ids, o->ngpu_ids);
  /* A worker that died must not kill the driver through a write. */
  tune_signals_ignore_write_errors();
  return &b->base;
}
