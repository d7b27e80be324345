#define _GNU_SOURCE
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t received;
static void (*volatile wake_fn)(void *);
static void *volatile wake_arg;

/* One level per tune.run whose loop runs now: a run started from a
   callback of another installs over it, and its uninstall gives the outer
   run its handlers and wake function back (it took them away: a Ctrl-C
   after such a run killed the driver unsaved). Each level is its owner's
   (the backend woken): an executor freed without its uninstall (a tune.run
   in a coroutine never resumed) takes its level out, wherever it is,
   instead of leaving a dangling wake. Runs nested deeper than this share
   the deepest level's. */
enum { LEVELS = 16, NSIGS = 3 };
static const int sigs[NSIGS] = {SIGINT, SIGUSR1, SIGTERM};
static struct level {
  void *owner;
  void (*wake)(void *); /* what this level replaced */
  void *arg;
  struct sigaction old[NSIGS];
  int installed[NSIGS];
} levels[LEVELS];
static int depth;

/* The handler sees a level's wake function with its own argument: the
   three signals wait while they change. */
static void hold(int on, sigset_t *saved) {
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < NSIGS; i++) sigaddset(&set, sigs[i]);
  if (on) sigprocmask(SIG_BLOCK, &set, saved);
  else sigprocmask(SIG_SETMASK, saved, NULL);
}

static void handler(int sig) {
  if (received && sig == SIGINT) {
    /* Second SIGINT: end now, as the default action would. */
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  if (!received) received = sig;
  if (wake_fn) wake_fn(wake_arg);
}

void tune_signals_install(int sigint, void (*wake)(void *), void *wake_ud) {
  if (depth == LEVELS) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigset_t saved;
  hold(1, &saved);
  received = 0;
  levels[depth].owner = wake_ud;
  levels[depth].wake = wake_fn;
  levels[depth].arg = wake_arg;
  /* SIGTERM is what Slurm (and most schedulers) send before they end a
     job: save as for SIGUSR1. */
  for (int i = 0; i < NSIGS; i++) {
    levels[depth].installed[i] = sigs[i] != SIGINT || sigint;
    if (levels[depth].installed[i]) sigaction(sigs[i], &sa, &levels[depth].old[i]);
  }
  depth++;
  wake_fn = wake;
  wake_arg = wake_ud;
  hold(0, &saved);
}

void tune_signals_uninstall(void *wake_ud) {
  int k = depth - 1;
  while (k >= 0 && levels[k].owner != wake_ud) k--;
  if (k < 0) return;
  sigset_t saved;
  hold(1, &saved);
  struct level *l = &levels[k];
  if (k == depth - 1) {
    for (int i = 0; i < NSIGS; i++) {
      if (l->installed[i]) sigaction(sigs[i], &l->old[i], NULL);
    }
    wake_fn = l->wake;
    wake_arg = l->arg;
  } else {
    /* The level above restores, in its stead, what this one replaced. */
    struct level *up = &levels[k + 1];
    for (int i = 0; i < NSIGS; i++) {
      if (!l->installed[i]) continue;
      up->installed[i] = 1;
      up->old[i] = l->old[i];
    }
    up->wake = l->wake;
    up->arg = l->arg;
    memmove(l, up, sizeof *l * (size_t)(depth - k - 1));
  }
  depth--;
  hold(0, &saved);
}

int tune_signals_pending(void) { return received; }

void tune_std_fds_ensure(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

void tune_signals_ignore_write_errors(void) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

int tune_spawn_clean(pid_t *pid, const char *file, posix_spawn_file_actions_t *fa, char *const argv[],
                     char *const env[], int new_session, int search_path) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, (new_session ? POSIX_SPAWN_SETSID : 0) | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  int rc = search_path ? posix_spawnp(pid, file, fa, &attr, argv, env) : posix_spawn(pid, file, fa, &attr, argv, env);
  posix_spawn_file_actions_destroy(fa);
  posix_spawnattr_destroy(&attr);
  return -rc;
}
