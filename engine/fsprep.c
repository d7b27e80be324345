#include "fsprep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"
#include "fsutil.h"

struct tune_fsprep_job {
  tune_fsprep_job_t *next; ///< in the queue (guarded by the service's mutex)
  atomic_int refs;         ///< the submitter and the thread
  atomic_int done;         ///< set once, under the service's mutex
  int rc;                  ///< 0 or -errno; read after done
  tune_fsprep_t *svc;      ///< for waiting; only while not done
  char *dir;
  char *params;
  size_t len;
  tune_atomic_file_t *commit;  ///< a commit job's file (dir is NULL), until run
  tune_fsprep_task_t *task;    ///< a task job's task (dir is NULL), until run
  char *remove;                ///< what a commit job removes after it, or NULL
  int fds[2];                  ///< result.json, progress.csv kept open, or -1
};

/// How many log files made ahead are held open, in every service: beyond
/// tune_fsprep_max_kept(), jobs close theirs (their loggers open by path).
static atomic_int kept_fds;

int tune_fsprep_max_kept(void) {
  static atomic_int limit;
  int n = atomic_load(&limit);
  if (n) return n;
  struct rlimit rl;
  n = TUNE_FSPREP_MAX_KEPT;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 16 < (rlim_t)n)
    n = (int)(rl.rlim_cur / 16);
  if (n < 2) n = -1; /* none kept (-1: known, not 0) */
  atomic_store(&limit, n);
  return n;
}

struct tune_fsprep {
  uv_mutex_t mu;
  uv_cond_t work;  ///< signalled when a job is queued or the service stops
  uv_cond_t done;  ///< broadcast when a job is done
  tune_fsprep_job_t *head, *tail;   ///< commits and tasks, in order
  tune_fsprep_job_t *dhead, *dtail; ///< directory jobs: taken first (no order to keep)
  uv_thread_t thread;
  int started, stopping;
  atomic_int refs; ///< its holders (tune_fsprep_retain)
  int idle;        ///< the thread waits on `work` (guarded by mu)
  int busy;        ///< the thread is doing a commit or task it took (guarded by mu)
  int unwoken;     ///< lazy jobs queued while it waits, not woken for yet
  int untasked;    ///< tasks queued while it waits, not woken for yet
  unsigned long wakeups;  ///< signals sent (for tests)
};

static void drop_fds(tune_fsprep_job_t *j) {
  for (int i = 0; i < 2; i++)
    if (j->fds[i] >= 0) {
      close(j->fds[i]);
      j->fds[i] = -1;
      atomic_fetch_sub(&kept_fds, 1);
    }
}

static void job_unref(tune_fsprep_job_t *j) {
  if (atomic_fetch_sub(&j->refs, 1) != 1) return;
  drop_fds(j);
  tune_fs_atomic_abort(j->commit); /* never run: only when its file could not be handed over */
  free(j->remove);
  free(j->dir);
  free(j->params);
  free(j);
}

static const char *const FILES[3] = {"params.json", "result.json", "progress.csv"};

/// Makes a file that must not exist, with `data`. 0 or -errno. With
/// `keep` (not NULL), its descriptor (opened with `flags`: the access mode
/// and O_APPEND) is left in *keep instead of being closed.
static int make_file(const char *path, const char *data, size_t len, int flags, int *keep) {
  int fd = open(path, O_CREAT | O_EXCL | O_CLOEXEC | flags, 0666);
  if (fd < 0) return -errno;
  int rc = len ? tune_fs_write_all(fd, data, len) : 0;
  if (keep && rc == 0) {
    *keep = fd; /* counted in kept_fds by the caller's reservation */
    return 0;
  }
  if (close(fd) < 0 && rc == 0) rc = -errno;
  return rc;
}

/// A commit job's work: the file's commit, then the removal of the one it
/// replaces.
static int run_commit(tune_fsprep_job_t *j) {
  tune_atomic_file_t *f = j->commit;
  j->commit = NULL;
  int rc = tune_fs_atomic_commit(f, 1);
  if (rc == 0 && j->remove) tune_fs_remove_tree(j->remove);
  return rc;
}

/// The job's work, on the service's thread. What it made is removed again
/// when a later step fails.
static int run_job(tune_fsprep_job_t *j) {
  if (j->task) {
    tune_fsprep_task_t *t = j->task;
    j->task = NULL;
    t->run(t);
    return 0;
  }
  if (!j->dir) return run_commit(j);
  if (mkdir(j->dir, 0777) < 0) return -errno;
  size_t n = strlen(j->dir);
  char *path = tune_xmalloc(n + 16);
  memcpy(path, j->dir, n);
  path[n] = '/';
  int rc = 0, made = 0;
  /* The log files stay open for the loggers (the flags they open them
     with), within the limit on files held: two places reserved at once
     (the thread and a waiter doing a queued job may both be here). */
  int max = tune_fsprep_max_kept(), cur = atomic_load(&kept_fds), keep = 0;
  while (cur + 2 <= max && !(keep = atomic_compare_exchange_weak(&kept_fds, &cur, cur + 2))) {}
  for (; made < 3 && rc == 0; made++) {
    strcpy(path + n + 1, FILES[made]);
    if (made == 0) rc = make_file(path, j->params, j->len, O_WRONLY, NULL);
    else rc = make_file(path, NULL, 0, (made == 1 ? O_WRONLY : O_RDWR) | O_APPEND, keep ? &j->fds[made - 1] : NULL);
  }
  if (keep) {
    /* Places reserved for files a failure left unmade go back. */
    int stored = (j->fds[0] >= 0) + (j->fds[1] >= 0);
    if (stored < 2) atomic_fetch_sub(&kept_fds, 2 - stored);
  }
  if (rc < 0) {
    drop_fds(j);
    for (int i = 0; i < made; i++) {
      strcpy(path + n + 1, FILES[i]);
      unlink(path);
    }
    rmdir(j->dir);
  }
  free(path);
  return rc;
}

static void finish(tune_fsprep_t *s, tune_fsprep_job_t *j, int rc) {
  j->rc = rc;
  atomic_store(&j->done, 1);
  uv_cond_broadcast(&s->done);
}

static void thread_main(void *arg) {
  tune_fsprep_t *s = arg;
  uv_mutex_lock(&s->mu);
  for (;;) {
    while (!s->head && !s->dhead && !s->stopping) {
      s->idle = 1;
      uv_cond_wait(&s->work, &s->mu);
      s->idle = 0;
    }
    /* Awake: it takes every queued job, lazy ones included; a directory
       first (a trial may soon wait for it; the writes behind the driver
       wait for nobody). */
    s->unwoken = s->untasked = 0;
    if (s->stopping) break;
    tune_fsprep_job_t *j = s->dhead;
    if (j) {
      s->dhead = j->next;
      if (!s->dhead) s->dtail = NULL;
    } else {
      j = s->head;
      s->head = j->next;
      if (!s->head) s->tail = NULL;
      s->busy = 1;
    }
    uv_mutex_unlock(&s->mu);
    int rc = run_job(j);
    uv_mutex_lock(&s->mu);
    s->busy = 0;
    finish(s, j, rc);
    job_unref(j);
  }
  uv_mutex_unlock(&s->mu);
}

tune_fsprep_t *tune_fsprep_new(void) {
  tune_fsprep_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (uv_mutex_init(&s->mu) != 0) {
    free(s);
    return NULL;
  }
  if (uv_cond_init(&s->work) != 0) {
    uv_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  if (uv_cond_init(&s->done) != 0) {
    uv_cond_destroy(&s->work);
    uv_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  return s;
}

tune_fsprep_t *tune_fsprep_retain(tune_fsprep_t *s) {
  if (s) atomic_fetch_add(&s->refs, 1);
  return s;
}

void tune_fsprep_free(tune_fsprep_t *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  uv_mutex_lock(&s->mu);
  s->stopping = 1;
  tune_fsprep_job_t *left = s->head, *dirs = s->dhead;
  s->head = s->tail = s->dhead = s->dtail = NULL;
  uv_mutex_unlock(&s->mu);
  uv_cond_signal(&s->work);
  /* The job the thread is doing ends first: the queued ones come after it. */
  if (s->started) uv_thread_join(&s->thread);
  /* Queued directories are abandoned (their waiters return at once);
     queued commits are made here, as a written snapshot is worth keeping,
     and queued tasks done (rows and journal entries), in their order. */
  uv_mutex_lock(&s->mu);
  for (tune_fsprep_job_t *j = dirs, *next; j; j = next) {
    next = j->next;
    finish(s, j, -ECANCELED);
    job_unref(j);
  }
  for (tune_fsprep_job_t *j = left, *next; j; j = next) {
    next = j->next;
    finish(s, j, run_job(j));
    job_unref(j);
  }
  uv_mutex_unlock(&s->mu);
  uv_cond_destroy(&s->done);
  uv_cond_destroy(&s->work);
  uv_mutex_destroy(&s->mu);
  free(s);
}

/// A waiting thread is about to be signalled (under the mutex): what it
/// was not woken for is counted from zero again.
static void woken(tune_fsprep_t *s) {
  s->unwoken = s->untasked = 0;
  s->wakeups++;
}

/// Queues `j` (its two references taken), starting the thread with the
/// first job. A lazy job wakes a waiting thread only as the
/// TUNE_FSPREP_BATCH-th queued since it waits. -1 (nothing queued) if the
/// thread cannot start.
static int enqueue(tune_fsprep_t *s, tune_fsprep_job_t *j, int lazy) {
  uv_mutex_lock(&s->mu);
  if (!s->started) {
    /* The thread blocks every signal (it starts with the mask of its
       creator): SIGINT, SIGTERM and the rest stay the main thread's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = uv_thread_create(&s->thread, thread_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
      uv_mutex_unlock(&s->mu);
      return -1;
    }
    s->started = 1;
  }
  tune_fsprep_job_t **head = j->dir ? &s->dhead : &s->head, **tail = j->dir ? &s->dtail : &s->tail;
  if (*tail) (*tail)->next = j;
  else *head = j;
  *tail = j;
  /* A thread at work takes the job without a signal; one that waits is
     woken at once, or for a lazy job once a batch of them is queued (one
     wake-up, a system call and an interrupt for the driver, per batch). */
  int wake = s->idle && (j->task ? ++s->untasked >= TUNE_FSPREP_TASK_BATCH
                                  : !lazy || ++s->unwoken >= TUNE_FSPREP_BATCH);
  if (wake) woken(s);
  uv_mutex_unlock(&s->mu);
  /* Signalled after the unlock: the thread it wakes finds the mutex free
     instead of blocking on it and being woken a second time (one system
     call less per trial for the driver). Only this thread frees the
     service, so it is still there. */
  if (wake) uv_cond_signal(&s->work);
  return 0;
}

static tune_fsprep_job_t *new_job(tune_fsprep_t *s) {
  tune_fsprep_job_t *j = tune_xmalloc(sizeof *j);
  memset(j, 0, sizeof *j);
  atomic_init(&j->refs, 2);
  atomic_init(&j->done, 0);
  j->svc = s;
  j->fds[0] = j->fds[1] = -1;
  return j;
}

tune_fsprep_job_t *tune_fsprep_submit(tune_fsprep_t *s, const char *dir, const char *params, size_t len, int lazy) {
  tune_fsprep_job_t *j = new_job(s);
  j->dir = tune_xstrdup(dir);
  j->params = tune_xmalloc(len + 1);
  memcpy(j->params, params, len);
  j->params[len] = '\0';
  j->len = len;
  if (enqueue(s, j, lazy) < 0) {
    atomic_store(&j->refs, 1);
    job_unref(j);
    return NULL;
  }
  return j;
}

tune_fsprep_job_t *tune_fsprep_commit(tune_fsprep_t *s, tune_atomic_file_t *f, const char *remove) {
  tune_fsprep_job_t *j = new_job(s);
  j->commit = f;
  j->remove = remove ? tune_xstrdup(remove) : NULL;
  if (enqueue(s, j, 0) < 0) {
    j->commit = NULL; /* still the caller's */
    atomic_store(&j->refs, 1);
    job_unref(j);
    return NULL;
  }
  return j;
}

void tune_fsprep_task(tune_fsprep_t *s, tune_fsprep_task_t *t) {
  if (s) {
    tune_fsprep_job_t *j = new_job(s);
    atomic_init(&j->refs, 1); /* the thread's only: nobody waits for a task */
    j->task = t;
    if (enqueue(s, j, 1) == 0) return;
    j->task = NULL;
    job_unref(j);
  }
  t->run(t);
}

void tune_fsprep_kick(tune_fsprep_t *s) {
  if (!s) return;
  uv_mutex_lock(&s->mu);
  int wake = s->idle && (s->head || s->dhead);
  if (wake) woken(s);
  uv_mutex_unlock(&s->mu);
  if (wake) uv_cond_signal(&s->work);
}

int tune_fsprep_quiet(tune_fsprep_t *s) {
  if (!s) return 1;
  uv_mutex_lock(&s->mu);
  int quiet = !s->head && !s->busy;
  uv_mutex_unlock(&s->mu);
  return quiet;
}

void tune_fsprep_drain(tune_fsprep_t *s) {
  if (!s) return;
  uv_mutex_lock(&s->mu);
  while (s->head || s->busy) {
    if (s->idle && s->head) {
      woken(s);
      uv_cond_signal(&s->work);
    }
    uv_cond_wait(&s->done, &s->mu);
  }
  uv_mutex_unlock(&s->mu);
}

int tune_fsprep_state(tune_fsprep_t *s, unsigned long *wakeups) {
  uv_mutex_lock(&s->mu);
  int idle = s->idle && !s->head && !s->dhead;
  if (wakeups) *wakeups = s->wakeups;
  uv_mutex_unlock(&s->mu);
  return idle;
}

int tune_fsprep_wait(tune_fsprep_job_t *j) {
  if (atomic_load(&j->done)) return j->rc;
  tune_fsprep_t *s = j->svc;
  uv_mutex_lock(&s->mu);
  /* Still queued: done here and now, rather than waiting for the thread
     to wake up and reach it. */
  tune_fsprep_job_t **link = j->dir ? &s->dhead : &s->head, *prev = NULL;
  tune_fsprep_job_t **tail = j->dir ? &s->dtail : &s->tail;
  int task_ahead = 0;
  while (*link && *link != j) {
    prev = *link;
    task_ahead |= prev->task != NULL;
    link = &(*link)->next;
  }
  /* A commit keeps its place after the tasks queued before it (rows and
     journal entries the snapshot may vouch for): the thread is woken. */
  if (*link == j && !j->dir && task_ahead) {
    if (s->idle) {
      woken(s);
      uv_cond_signal(&s->work);
    }
  } else if (*link == j) {
    *link = j->next;
    if (*tail == j) *tail = prev;
    uv_mutex_unlock(&s->mu);
    int rc = run_job(j);
    uv_mutex_lock(&s->mu);
    finish(s, j, rc);
    uv_mutex_unlock(&s->mu);
    job_unref(j); /* the thread's reference: it will never see the job */
    return rc;
  }
  while (!atomic_load(&j->done)) uv_cond_wait(&s->done, &s->mu);
  uv_mutex_unlock(&s->mu);
  return j->rc;
}

int tune_fsprep_take_fds(tune_fsprep_job_t *j, int fds[2]) {
  fds[0] = fds[1] = -1;
  if (!atomic_load(&j->done) || j->rc != 0 || j->fds[0] < 0 || j->fds[1] < 0) return -1;
  fds[0] = j->fds[0];
  fds[1] = j->fds[1];
  j->fds[0] = j->fds[1] = -1;
  atomic_fetch_sub(&kept_fds, 2);
  return 0;
}

void tune_fsprep_release(tune_fsprep_job_t *j) {
  if (j) job_unref(j);
}
