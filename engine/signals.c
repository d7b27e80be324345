#define _GNU_SOURCE
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;
static void (*wake_fn)(void *);
static void *wake_arg;
static struct sigaction old_int, old_usr1, old_term;
static int installed_int, installed_usr1, installed_term;

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
  received = 0;
  wake_fn = wake;
  wake_arg = wake_ud;
  if (sigint && !installed_int) {
    sigaction(SIGINT, &sa, &old_int);
    installed_int = 1;
  }
  if (!installed_usr1) {
    sigaction(SIGUSR1, &sa, &old_usr1);
    installed_usr1 = 1;
  }
  /* SIGTERM is what Slurm (and most schedulers) send before they end a
     job: save as for SIGUSR1. */
  if (!installed_term) {
    sigaction(SIGTERM, &sa, &old_term);
    installed_term = 1;
  }
}

void tune_signals_uninstall(void) {
  if (installed_int) sigaction(SIGINT, &old_int, NULL);
  if (installed_usr1) sigaction(SIGUSR1, &old_usr1, NULL);
  if (installed_term) sigaction(SIGTERM, &old_term, NULL);
  installed_int = installed_usr1 = installed_term = 0;
  wake_fn = NULL;
  wake_arg = NULL;
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
