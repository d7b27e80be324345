#define _GNU_SOURCE
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;
static void (*volatile wake_fn)(void *);
static void *volatile wake_arg;

/* One level per tune.run whose loop runs now: a run started from a
   callback of another installs over it, and its uninstall gives the outer
   run its handlers and wake function back (it took them away: a Ctrl-C
   after such a run killed the driver unsaved). Deeper levels than these
   are counted, not recorded. */
enum { LEVELS = 8, NSIGS = 3 };
static const int sigs[NSIGS] = {SIGINT, SIGUSR1, SIGTERM};
static struct {
  void (*wake)(void *);
  void *arg;
  struct sigaction old[NSIGS];
  int installed[NSIGS];
} levels[LEVELS];
static int depth;

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
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  /* A signal an outer run has received stops it when this one returns. */
  if (depth == 0) received = 0;
  if (depth < LEVELS) {
    levels[depth].wake = wake_fn;
    levels[depth].arg = wake_arg;
    /* SIGTERM is what Slurm (and most schedulers) send before they end a
       job: save as for SIGUSR1. */
    for (int i = 0; i < NSIGS; i++) {
      levels[depth].installed[i] = sigs[i] != SIGINT || sigint;
      if (levels[depth].installed[i]) sigaction(sigs[i], &sa, &levels[depth].old[i]);
    }
  }
  depth++;
  wake_fn = wake;
  wake_arg = wake_ud;
}

void tune_signals_uninstall(void) {
  if (depth == 0) return;
  if (--depth >= LEVELS) return;
  for (int i = 0; i < NSIGS; i++) {
    if (levels[depth].installed[i]) sigaction(sigs[i], &levels[depth].old[i], NULL);
  }
  wake_fn = levels[depth].wake;
  wake_arg = levels[depth].arg;
}

int tune_signals_pending(void) { return received; }

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
