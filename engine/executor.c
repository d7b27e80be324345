/// The executor's life cycle and its one dispatch point (docs/architecture.md,
/// "Executor"): options, creation and destruction, waiting for events,
/// cleanup. Backend callbacks only queue (worker.c); everything they queued
/// is handled in dispatch(), after each backend wait, and the runner takes
/// the resulting events one at a time from tune_executor_next_event().
#include "executor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "executor_int.h"
#include "fsprep.h"
#include "log.h"
#include "signals.h"

/// How long the driver waits idle before it wakes the thread that writes
/// behind it (engine/writebehind.h) for what is queued.
#define WRITER_GRACE_S 0.001

extern char **environ;

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

#define OPT(name, env, type, dflt) {#name, env, type, offsetof(tune_executor_opts_t, name), dflt}
static const tune_option_desc_t options[] = {
    OPT(result_buffer_length, "TUNE_RESULT_BUFFER_LENGTH", TUNE_OPT_INT, 1),
    OPT(result_buffer_min_time_s, "TUNE_RESULT_BUFFER_MIN_TIME_S", TUNE_OPT_DOUBLE, 0.1),
    OPT(result_buffer_max_time_s, "TUNE_RESULT_BUFFER_MAX_TIME_S", TUNE_OPT_DOUBLE, 100),
    OPT(force_trial_cleanup_s, "TUNE_FORCE_TRIAL_CLEANUP_S", TUNE_OPT_DOUBLE, 0),
    OPT(max_pending_trials_pg, "TUNE_MAX_PENDING_TRIALS_PG", TUNE_OPT_SIZE, 0),
    OPT(max_message_bytes, "TUNE_MAX_MESSAGE_BYTES", TUNE_OPT_SIZE, TUNE_MAX_MESSAGE_DEFAULT),
    OPT(placement_group_recon_interval, "TUNE_PLACEMENT_GROUP_RECON_INTERVAL", TUNE_OPT_DOUBLE, 5),
    OPT(get_executor_event_wait_s, "TUNE_GET_EXECUTOR_EVENT_WAIT_S", TUNE_OPT_DOUBLE, 5),
    OPT(reuse_actors, NULL, TUNE_OPT_BOOL, 0),
    OPT(prestart_workers, NULL, TUNE_OPT_BOOL, 1),
    OPT(fork_server, "TUNE_FORK_SERVER", TUNE_OPT_BOOL, 1),
};
#undef OPT

const tune_option_desc_t *tune_executor_options(size_t *n) {
  *n = TUNE_ARRAY_LEN(options);
  return options;
}

int tune_executor_opt_check(const tune_option_desc_t *d, double v, char *err, size_t errlen) {
  switch (d->type) {
    case TUNE_OPT_BOOL:
      if (v == 0 || v == 1) return 0;
      snprintf(err, errlen, "%s must be true or false (1 or 0), got %g", d->name, v);
      return -1;
    case TUNE_OPT_INT:
      if (v >= 0 && v <= 1e6 && v == floor(v)) return 0;
      snprintf(err, errlen, "%s must be a whole number from 0 to 1000000, got %g", d->name, v);
      return -1;
    case TUNE_OPT_SIZE:
      if (v >= 0 && v <= 0x1p40 && v == floor(v)) return 0;
      snprintf(err, errlen, "%s must be a whole number from 0 to 2^40, got %g", d->name, v);
      return -1;
    case TUNE_OPT_DOUBLE:
      if (v >= 0 && isfinite(v)) return 0;
      snprintf(err, errlen, "%s must be a finite number of seconds >= 0, got %g", d->name, v);
      return -1;
  }
  return 0;
}

void tune_executor_opt_set(tune_executor_opts_t *o, const tune_option_desc_t *d, double v) {
  char *p = (char *)o + d->offset;
  switch (d->type) {
    case TUNE_OPT_INT: *(int *)p = (int)v; break;
    case TUNE_OPT_BOOL: *(int *)p = v != 0; break;
    case TUNE_OPT_SIZE: *(size_t *)p = v > 0 ? (size_t)v : 0; break;
    case TUNE_OPT_DOUBLE: *(double *)p = v; break;
  }
}

double tune_executor_opt_get(const tune_executor_opts_t *o, const tune_option_desc_t *d) {
  const char *p = (const char *)o + d->offset;
  switch (d->type) {
    case TUNE_OPT_INT:
    case TUNE_OPT_BOOL: return *(const int *)p;
    case TUNE_OPT_SIZE: return (double)*(const size_t *)p;
    case TUNE_OPT_DOUBLE: return *(const double *)p;
  }
  return 0;
}

void tune_executor_opts_default(tune_executor_opts_t *o) {
  memset(o, 0, sizeof *o);
  for (size_t i = 0; i < TUNE_ARRAY_LEN(options); i++) {
    const tune_option_desc_t *d = &options[i];
    double v = d->dflt;
    const char *env = d->env ? getenv(d->env) : NULL;
    /* Ray's "auto", TUNE_MAX_PENDING_TRIALS_PG's default there: 0 here. */
    if (env && !strcmp(env, "auto") && d->offset == offsetof(tune_executor_opts_t, max_pending_trials_pg)) env = NULL;
    if (env && *env) {
      char *end, why[160];
      double e = strtod(env, &end);
      if (end == env || *end != '\0' || isnan(e)) TUNE_WARN("%s=%s is not a number: using %g", d->env, env, v);
      else if (tune_executor_opt_check(d, e, why, sizeof why) < 0) TUNE_WARN("%s: %s: using %g", d->env, why, v);
      else v = e;
    }
    tune_executor_opt_set(o, d, v);
  }
  /* Ray: `result_buffer_length or env`: 0 means "use the default". */
  if (o->result_buffer_length < 1) o->result_buffer_length = 1;
  o->console_fd[0] = STDOUT_FILENO;
  o->console_fd[1] = STDERR_FILENO;
}

/* ------------------------------------------------------------------------ */
/* Creation, destruction                                                    */
/* ------------------------------------------------------------------------ */

static char **copy_strv(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  char **out = tune_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) out[i] = tune_xstrdup(v[i]);
  return out;
}

tune_executor_t *tune_executor_new(const tune_executor_opts_t *o, tune_backend_t *backend) {
  tune__raise_fd_limit();
  tune_executor_t *ex = tune_xcalloc(1, sizeof *ex);
  ex->o = *o;
  if (ex->o.max_message_bytes < 1024) ex->o.max_message_bytes = 1024;
  ex->worker_path = tune_xstrdup(o->worker_path ? o->worker_path : "tunelua");
  ex->worker_args = copy_strv(o->worker_args);
  if (o->orig_cwd) {
    ex->orig_cwd = tune_xstrdup(o->orig_cwd);
  } else {
    char cwd[4096];
    ex->orig_cwd = tune_xstrdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
  }
  ex->o.worker_path = ex->worker_path;
  ex->o.orig_cwd = ex->orig_cwd;
  ex->o.worker_args = (const char *const *)ex->worker_args;
  ex->env_base = tune__env_base((const char *const *)environ, &ex->user_omp);
  ex->backend = backend;
  if (!ex->o.max_pending_trials_pg) {
    /* Ray: max(16, 1.1 x the cluster's CPUs). */
    tune_res_t total;
    tune_cluster_total(&backend->cluster, &total, 0);
    double cpus = (double)total.cpu / TUNE_RES_SCALE;
    tune_res_free(&total);
    size_t n = (size_t)floor(cpus * 1.1);
    ex->o.max_pending_trials_pg = n > 16 ? n : 16;
  }
  tune_pg_reserver_t res = {backend, tune__reservation_failed, ex};
  tune_pgm_init(&ex->pgm, res, ex->o.max_pending_trials_pg);
  tune_workers_init(&ex->workers, backend, &tune__worker_hooks, ex, ex->o.max_message_bytes, ex->o.console_fd);
  tune_loggers_init(&ex->loggers, 0, 0);
  tune_map_init(&ex->trials);
  tune_map_init(&ex->pending_saves);
  return ex;
}

static void forget_delivered(tune_executor_t *ex) {
  if (ex->delivered && ex->delivered_batch) tune_trial_keep_last(ex->delivered, ex->delivered_batch);
  cJSON_Delete(ex->delivered_batch);
  ex->delivered_batch = NULL;
  if (ex->delivered) tune_trial_unref(ex->delivered);
  ex->delivered = NULL;
}

int tune_executor_free(tune_executor_t *ex) {
  if (!ex) return 0;
  tune_executor_cleanup(ex);
  tune_events_clear(&ex->events);
  forget_delivered(ex);
  size_t pos = 0;
  void *v;
  while (tune_map_next(&ex->trials, &pos, NULL, &v)) tune_trial_unref(v);
  tune_map_free(&ex->trials);
  tune_map_free(&ex->pending_saves);
  tune_pgm_free(&ex->pgm);
  tune_loggers_free(&ex->loggers);
  tune_fsprep_free(ex->loggers.writer);
  tune_workers_free(&ex->workers);
  int rc = ex->backend->ops->destroy(ex->backend);
  tune__env_free(ex->env_base, ex->user_omp);
  for (char **p = ex->worker_args; *p; p++) free(*p);
  free(ex->worker_args);
  free(ex->worker_path);
  free(ex->orig_cwd);
  free(ex);
  return rc;
}

tune_backend_t *tune_executor_backend(tune_executor_t *ex) { return ex->backend; }
tune_pg_manager_t *tune_executor_pgm(tune_executor_t *ex) { return &ex->pgm; }
const tune_executor_opts_t *tune_executor_opts(const tune_executor_t *ex) { return &ex->o; }
void tune_executor_set_max_pending(tune_executor_t *ex, size_t n) { ex->pgm.max_pending = n ? n : 1; }
double tune_executor_now(tune_executor_t *ex) { return ex->backend->ops->now(ex->backend); }

static void wake_backend(void *ud) {
  tune_backend_t *b = ud;
  b->ops->wake(b);
}

void tune_executor_install_signals(tune_executor_t *ex, int sigint) {
  tune_signals_install(sigint, wake_backend, ex->backend);
}

/* ------------------------------------------------------------------------ */
/* Waiting: the one dispatch point                                          */
/* ------------------------------------------------------------------------ */

/// One backend wait, then everything its callbacks queued.
static int wait_and_dispatch(tune_executor_t *ex, double timeout) {
  tune_backend_t *b = ex->backend;
  int any = b->ops->wait(b, timeout);
  any |= tune_workers_dispatch(&ex->workers);
  tune_pgm_update(&ex->pgm);
  return any;
}

static int have_ready_or_cached(tune_executor_t *ex) {
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    if (fe->ready.n || fe->cached.n) return 1;
  }
  return 0;
}

void tune_executor_poll(tune_executor_t *ex) { wait_and_dispatch(ex, 0); }

/// Starts the standby worker, in time the driver would spend waiting.
static void prestart(tune_executor_t *ex) {
  if (!ex->want_standby || ex->standby) return;
  ex->want_standby = 0;
  char err[512];
  ex->standby = tune__spawn(ex, NULL, NULL, err, sizeof err);
  if (!ex->standby) TUNE_DEBUG("no standby worker: %s", err);
}

/// A TRAINING_RESULT leaves with its batch still the executor's (for
/// tune_executor_commit); the event's pointer is then a borrowed view.
static tune_event_t *deliver(tune_executor_t *ex, tune_event_t *ev) {
  if (ev->type != TUNE_EV_TRAINING_RESULT) return ev;
  forget_delivered(ex);
  tune_trial_t *t = tune__record(ex, ev->trial_id);
  if (!t) return ev;
  ex->delivered = tune_trial_ref(t);
  ex->delivered_batch = ev->results;
  ev->results = NULL;
  ev->batch = ex->delivered_batch;
  return ev;
}

tune_event_t *tune_executor_next_event(tune_executor_t *ex, int next_trial_exists, double timeout) {
  tune_backend_t *b = ex->backend;
  if (timeout > TUNE_MAX_WAIT_S) timeout = TUNE_MAX_WAIT_S; /* a virtual clock moved that far stops moving */
  double deadline = b->ops->now(b) + (timeout > 0 ? timeout : 0);
  /* On a virtual clock, what is due now is collected before deciding. A
     real backend skips that poll: a queued event or a ready group is
     answered without a system call, and the blocking wait below returns
     at once when input is there (one epoll_wait, not two). */
  int polled = 0, graced = 0;
  if (b->ops->caps & TUNE_BACKEND_VIRTUAL_TIME) {
    wait_and_dispatch(ex, 0);
    polled = 1;
  }
  for (;;) {
    tune__log_faults(ex);
    if (next_trial_exists && have_ready_or_cached(ex)) return tune_event_new(TUNE_EV_PG_READY, NULL);
    tune_event_t *ev = tune_events_pop(&ex->events);
    if (ev) return deliver(ex, ev);
    tune_event_type_t idle = ex->nrunning ? TUNE_EV_YIELD : TUNE_EV_NO_RUNNING_TRIAL_TIMEOUT;
    /* A signal for the runner: hand control back at once. No time to
       wait (timeout 0): the same. Either way, what has come is looked at
       once first (a driver saving its trials after SIGUSR1 waits on their
       replies this way). A virtual clock's wait takes no time: it goes on
       with a signal pending (else a save's reply, due later on that clock,
       would never come). */
    double left = deadline - b->ops->now(b);
    int virt = (b->ops->caps & TUNE_BACKEND_VIRTUAL_TIME) != 0;
    if ((tune_signals_pending() && !virt) || left <= 0) {
      if (!polled) {
        wait_and_dispatch(ex, 0);
        polled = 1;
        continue;
      }
      /* Handing control back idle: what was written behind is on disk. */
      if (!virt) tune_fsprep_drain(ex->loggers.writer);
      return tune_event_new(idle, NULL);
    }
    prestart(ex);
    /* The driver is about to be idle: the logs catch up first (on a
       virtual clock nothing waits, and the rows keep being grouped). Their
       writer is woken only once the driver has been idle a while: a stream
       of events keeps it batching (it wakes itself per batch of tasks). */
    if (!(b->ops->caps & TUNE_BACKEND_VIRTUAL_TIME)) {
      tune_loggers_flush_idle(&ex->loggers);
      if (!graced && !tune_fsprep_quiet(ex->loggers.writer)) {
        graced = 1;
        wait_and_dispatch(ex, left < WRITER_GRACE_S ? left : WRITER_GRACE_S);
        polled = 1;
        if (!ex->events.head && !(next_trial_exists && have_ready_or_cached(ex)))
          tune_fsprep_kick(ex->loggers.writer);
        continue;
      }
    }
    wait_and_dispatch(ex, left);
    polled = 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Cleanup and counts                                                       */
/* ------------------------------------------------------------------------ */

void tune_executor_flush_logs(tune_executor_t *ex) {
  tune_loggers_sync(&ex->loggers);
  tune__log_faults(ex);
}

void tune_executor_cleanup_within(tune_executor_t *ex, double force_s) {
  double saved = ex->o.force_trial_cleanup_s;
  if (force_s > 0 && (saved <= 0 || saved > force_s)) ex->o.force_trial_cleanup_s = force_s;
  /* Workers asked to stop before, with no limit then, get this one. */
  if (force_s > 0)
    for (tune_worker_t *w = ex->workers.all; w; w = w->next) tune_worker_force_within(w, ex->o.force_trial_cleanup_s);
  tune_executor_cleanup(ex);
  ex->o.force_trial_cleanup_s = saved;
}

void tune_executor_cleanup(tune_executor_t *ex) {
  /* Stop every running trial and every cached worker... */
  size_t pos = 0;
  const char *id;
  while (tune_map_next(&ex->trials, &pos, &id, NULL)) {
    char *copy = tune_xstrdup(id);
    tune_executor_stop(ex, copy, 1);
    free(copy);
    pos = 0;
  }
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    while (fe->cached.head) tune__drop_cached(ex, fe->cached.head);
  }
  ex->want_standby = 0;
  ex->standby = NULL;
  for (tune_worker_t *w = ex->workers.all; w; w = w->next) tune_worker_stop(w, ex->o.force_trial_cleanup_s);
  /* ...and wait for them to go. A signal that comes meanwhile (a SIGTERM
     to a run waiting for a trainable that ignores stop) bounds the wait
     as an interrupted run's is (TUNE_INTERRUPT_CLEANUP_S). */
  int bounded = tune_signals_pending() != 0;
  while (ex->workers.all) {
    wait_and_dispatch(ex, 1.0);
    if (!bounded && tune_signals_pending()) {
      bounded = 1;
      const char *env = getenv("TUNE_INTERRUPT_CLEANUP_S");
      char *end = NULL;
      double s = env ? strtod(env, &end) : 5.0;
      if (!env || end == env || !(s > 0) || !isfinite(s)) s = 5.0;
      for (tune_worker_t *w = ex->workers.all; w; w = w->next) tune_worker_force_within(w, s);
    }
  }
  /* Give every group back. */
  while (ex->pgm.staging.head) tune_pgm_remove(&ex->pgm, ex->pgm.staging.head);
  while (ex->pgm.stopping.head) tune_pgm_remove(&ex->pgm, ex->pgm.stopping.head);
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    while (fe->ready.head) tune_pgm_remove(&ex->pgm, fe->ready.head);
  }
  pos = 0;
  void *v;
  while (tune_map_next(&ex->pgm.in_use, &pos, NULL, &v)) {
    tune_pgm_remove(&ex->pgm, v);
    pos = 0;
  }
  tune_map_free(&ex->pgm.staged_trials);
  tune_map_init(&ex->pgm.staged_trials);
}

void tune_executor_stats(tune_executor_t *ex, tune_executor_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (tune_worker_t *w = ex->workers.all; w; w = w->next) {
    out->workers++;
    if (w->stopping) out->stopping++;
  }
  tune_pgm_counts_t c;
  tune_pgm_counts(&ex->pgm, &c);
  out->cached = c.cached;
  out->running = ex->nrunning;
  out->events = ex->events.n;
  out->spawned = ex->workers.nspawned;
  out->standby = ex->standby ? 1 : 0;
}
