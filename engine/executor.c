/// The executor state machine (docs/architecture.md, "Executor"). libuv
/// callbacks (through the backend) only parse and enqueue; the Lua side
/// takes events one at a time from tune_executor_next_event().
#include "executor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "common.h"
#include "executor_int.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "signals.h"

extern char **environ;

/* ------------------------------------------------------------------------ */
/* Options, creation, destruction                                           */
/* ------------------------------------------------------------------------ */

void tune_executor_opts_default(tune_executor_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->result_buffer_length = 1;
  o->result_buffer_min_time_s = 0;
  o->result_buffer_max_time_s = 100;
  o->force_trial_cleanup_s = 0;
  o->max_pending_trials_pg = 16;
  o->max_message_bytes = TUNE_MAX_MESSAGE_DEFAULT;
  o->console_fd[0] = STDOUT_FILENO;
  o->console_fd[1] = STDERR_FILENO;
}

/* Until the placement-group manager keeps a tune_reservation_t per group,
   reservations are synchronous: a backend that answers TUNE_RESERVE_LATER
   is not supported yet (issue: one executor layer). */
static int pg_reserve(void *ud, const tune_pgf_t *f, tune_placement_t *out) {
  tune_backend_t *b = ud;
  tune_reservation_t r = {0};
  int rc = b->ops->reserve(b, f, &r);
  if (rc == TUNE_RESERVE_LATER) tune_abort(__FILE__, __LINE__, "asynchronous reservation is not supported yet");
  if (rc == TUNE_RESERVE_OK) *out = r.placement;
  return rc == TUNE_RESERVE_OK ? 0 : -1;
}

static void pg_release(void *ud, const tune_pgf_t *f, tune_placement_t *p) {
  tune_backend_t *b = ud;
  tune_reservation_t r = {0};
  r.placement = *p;
  b->ops->release(b, f, &r);
  *p = r.placement;
}

tune_executor_t *tune_executor_new(const tune_executor_opts_t *o, tune_backend_t *backend) {
  tune_executor_t *ex = tune_xcalloc(1, sizeof *ex);
  ex->o = *o;
  if (ex->o.max_message_bytes < 1024) ex->o.max_message_bytes = 1024;
  ex->worker_path = tune_xstrdup(o->worker_path ? o->worker_path : "tunelua");
  size_t n = 0;
  while (o->worker_args && o->worker_args[n]) n++;
  ex->worker_args = tune_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) ex->worker_args[i] = tune_xstrdup(o->worker_args[i]);
  if (o->orig_cwd) {
    ex->orig_cwd = tune_xstrdup(o->orig_cwd);
  } else {
    char cwd[4096];
    ex->orig_cwd = tune_xstrdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
  }
  ex->o.worker_path = ex->worker_path;
  ex->o.orig_cwd = ex->orig_cwd;
  ex->o.worker_args = (const char *const *)ex->worker_args;
  n = 0;
  while (environ && environ[n]) n++;
  ex->env_base = tune_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) ex->env_base[i] = tune_xstrdup(environ[i]);
  ex->backend = backend;
  tune_pg_reserver_t res = {pg_reserve, pg_release, backend};
  tune_pgm_init(&ex->pgm, res, o->max_pending_trials_pg ? o->max_pending_trials_pg : 1);
  tune_map_init(&ex->trials);
  tune_map_init(&ex->pending_saves);
  return ex;
}

int tune_executor_free(tune_executor_t *ex) {
  if (!ex) return 0;
  tune_executor_cleanup(ex);
  tune_event_t *ev;
  while ((ev = ex->ev_head)) {
    ex->ev_head = ev->next;
    tune_event_free(ev);
  }
  size_t pos = 0;
  void *v;
  while (tune_map_next(&ex->trials, &pos, NULL, &v)) tune_trial_unref(v);
  tune_map_free(&ex->trials);
  tune_map_free(&ex->pending_saves);
  tune_pgm_free(&ex->pgm);
  int rc = ex->backend->ops->destroy(ex->backend);
  for (char **p = ex->env_base; *p; p++) free(*p);
  free(ex->env_base);
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

void tune_executor_set_result_sink(tune_executor_t *ex, tune_result_sink_t sink, void *ud) {
  ex->sink = sink;
  ex->sink_ud = ud;
}

/* ------------------------------------------------------------------------ */
/* Trial records                                                            */
/* ------------------------------------------------------------------------ */

static tune_trial_t *record_get(tune_executor_t *ex, const char *id) { return tune_map_get(&ex->trials, id); }

static tune_trial_t *active_record(tune_executor_t *ex, const char *id) {
  tune_trial_t *t = record_get(ex, id);
  return t && t->active ? t : NULL;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

static const char *const event_names[] = {
    "PG_READY", "TRAINING_RESULT", "SAVING_RESULT", "RESTORING_RESULT",
    "ERROR",    "YIELD",           "NO_RUNNING_TRIAL_TIMEOUT",
};

const char *tune_event_type_name(tune_event_type_t t) { return event_names[t]; }

void tune_event_free(tune_event_t *ev) {
  if (!ev) return;
  free(ev->trial_id);
  cJSON_Delete(ev->results);
  free(ev->checkpoint_dir);
  free(ev->error);
  free(ev->traceback);
  free(ev);
}

static tune_event_t *event_new(tune_event_type_t type, const char *trial_id) {
  tune_event_t *ev = tune_xcalloc(1, sizeof *ev);
  ev->type = type;
  ev->trial_id = trial_id ? tune_xstrdup(trial_id) : NULL;
  return ev;
}

void tune__executor_push(tune_executor_t *ex, tune_event_t *ev) {
  if (ex->ev_tail) ex->ev_tail->next = ev;
  else ex->ev_head = ev;
  ex->ev_tail = ev;
  ex->nevents++;
}

static tune_event_t *pop_event(tune_executor_t *ex) {
  tune_event_t *ev = ex->ev_head;
  if (!ev) return NULL;
  ex->ev_head = ev->next;
  if (!ex->ev_head) ex->ev_tail = NULL;
  ev->next = NULL;
  ex->nevents--;
  return ev;
}

/// Queues ERROR for the trial (once per start). The error file is written
/// by the runner's Trial:handle_error, not here (one writer).
static void push_error(tune_executor_t *ex, tune_trial_t *t, const char *msg, const char *traceback) {
  if (t->superseded || t->error_reported) return;
  t->error_reported = 1;
  tune_event_t *ev = event_new(TUNE_EV_ERROR, t->id);
  ev->error = tune_xstrdup(msg);
  ev->traceback = traceback ? tune_xstrdup(traceback) : NULL;
  tune__executor_push(ex, ev);
}

/* ------------------------------------------------------------------------ */
/* Starting                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  const char *loader_key;
} want_t;

static int want_worker(void *payload, void *ud) {
  tune_worker_t *w = payload;
  want_t *wt = ud;
  return w && w->proc && !w->fault && !w->stopping && !strcmp(w->loader_key, wt->loader_key);
}

static void send_train(tune_executor_t *ex, tune_trial_t *t);
static void send_restore(tune_executor_t *ex, tune_trial_t *t, const char *dir, int persistent);

int tune_executor_start(tune_executor_t *ex, const tune_trial_spec_t *spec, char *err, size_t errlen) {
  tune_trial_t *old = record_get(ex, spec->trial_id);
  if (old && old->active) {
    snprintf(err, errlen, "trial %s is already running", spec->trial_id);
    return -1;
  }
  tune_pgf_entry_t *fe = spec->fe;
  want_t wt = {spec->loader_key ? spec->loader_key : ""};
  tune_pg_t *pg = NULL;
  tune_worker_t *reuse = NULL;
  /* A cached worker for the same trainable is reset for this trial. */
  if (ex->o.reuse_actors && spec->resettable) {
    for (tune_pg_t *c = fe->cached.head; c; c = c->next)
      if (want_worker(c->payload, &wt)) {
        pg = tune_pgm_take_cached(&ex->pgm, spec->trial_id, fe, want_worker, &wt);
        reuse = pg->payload;
        pg->payload = NULL;
        break;
      }
  }
  if (!pg && fe->cached.head) {
    /* A cached group whose worker cannot serve this trial: reuse the group. */
    pg = tune_pgm_take_cached(&ex->pgm, spec->trial_id, fe, NULL, NULL);
    tune_worker_t *stale = pg->payload;
    pg->payload = NULL;
    if (stale) {
      stale->pg = NULL;
      tune__worker_stop(stale);
    }
  }
  if (!pg) pg = tune_pgm_take_ready(&ex->pgm, spec->trial_id, fe);
  if (!pg) return 0;

  int rc = tune_fs_mkdir_p(spec->logdir);
  if (rc < 0) {
    snprintf(err, errlen, "cannot create trial directory %s: %s", spec->logdir, strerror(-rc));
    goto fail;
  }
  tune_trial_t *t = tune_trial_new(spec);
  if (old) {
    old->superseded = 1;
    tune_trial_unref(old);
  }
  tune_map_put(&ex->trials, spec->trial_id, t); /* the map holds the first reference */
  t->active = 1;
  t->bundles = tune__worker_bundles(ex, pg);
  ex->nrunning++;

  if (reuse) {
    reuse->pg = pg;
    tune__worker_attach(reuse, t);
    cJSON *body = tune__start_body(t);
    if (!tune__worker_request(reuse, TUNE_REQ_RESET, t, body)) {
      snprintf(err, errlen, "cached worker %lld is gone", (long long)reuse->pid);
      goto fail_started;
    }
  } else {
    tune_worker_t *w = ex->standby;
    cJSON *body = tune__start_body(t);
    if (w && w->proc && !w->fault && !w->stopping) {
      /* The prestarted worker takes this trial and its environment. */
      ex->standby = NULL;
      w->standby = 0;
      w->pg = pg;
      tune__worker_attach(w, t);
      cJSON_AddItemToObject(body, "env", tune__worker_trial_env(ex, pg));
    } else {
      w = tune__worker_spawn(ex, t, pg, err, errlen);
      if (!w) {
        cJSON_Delete(body);
        goto fail_started;
      }
    }
    if (ex->o.prestart_workers) ex->want_standby = 1;
    if (!tune__worker_request(w, TUNE_REQ_START, t, body)) {
      snprintf(err, errlen, "worker %lld exited at once", (long long)w->pid);
      goto fail_started;
    }
  }
  if (spec->restore_dir) {
    if (tune_map_get(&ex->pending_saves, spec->restore_dir)) {
      /* The save that makes this checkpoint is still under way elsewhere. */
      t->waiting_restore = tune_xstrdup(spec->restore_dir);
      t->waiting_restore_persistent = spec->restore_persistent;
      return 1;
    }
    send_restore(ex, t, spec->restore_dir, spec->restore_persistent);
    if (spec->restore_persistent) return 1;
  }
  send_train(ex, t);
  return 1;

fail_started:
  /* The record exists: stop it like any trial that failed. */
  tune_executor_stop(ex, spec->trial_id, 1);
  return -1;
fail:
  tune_pgm_remove(&ex->pgm, pg);
  if (reuse) {
    reuse->pg = NULL;
    tune__worker_stop(reuse);
  }
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Requests on running trials                                               */
/* ------------------------------------------------------------------------ */

static size_t buffer_length(tune_executor_t *ex, const tune_trial_t *t) {
  long n = ex->o.result_buffer_length;
  if (n < 1) n = 1;
  if (n > 1 && t->checkpoint_at_end) n = 1;
  if (t->checkpoint_freq > 0 && n > t->checkpoint_freq) n = t->checkpoint_freq;
  return (size_t)n;
}

static void send_train(tune_executor_t *ex, tune_trial_t *t) {
  if (!t->worker || t->train_inflight) return;
  cJSON *body = cJSON_CreateObject();
  size_t n = buffer_length(ex, t);
  /* Ray: window = max(min_time, min(max_time, running // 10)). */
  double window = floor((double)ex->nrunning / 10.0);
  if (window > ex->o.result_buffer_max_time_s) window = ex->o.result_buffer_max_time_s;
  if (window < ex->o.result_buffer_min_time_s) window = ex->o.result_buffer_min_time_s;
  cJSON_AddNumberToObject(body, "n", (double)n);
  cJSON_AddNumberToObject(body, "window", n > 1 ? window : 0);
  if (tune__worker_request(t->worker, TUNE_REQ_TRAIN, t, body)) t->train_inflight = 1;
}

static void send_restore(tune_executor_t *ex, tune_trial_t *t, const char *dir, int persistent) {
  (void)ex;
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "dir", dir);
  cJSON *meta = tune_ckpt_read_meta(dir);
  cJSON_AddNumberToObject(body, "iteration", tune_json_get_number(meta, "training_iteration", 0));
  cJSON_Delete(meta);
  tune_req_t *r = t->worker ? tune__worker_request(t->worker, TUNE_REQ_RESTORE, t, body) : (cJSON_Delete(body), NULL);
  if (r) {
    r->dir = tune_xstrdup(dir);
    r->persistent = persistent;
  }
}

int tune_executor_continue(tune_executor_t *ex, const char *trial_id) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  if (!t->waiting_restore) send_train(ex, t);
  return 0;
}

int tune_executor_save(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  char *tmp = tune_ckpt_tmp_path(dir);
  int rc = tune_fs_mkdir_p(tmp);
  if (rc < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "could not create checkpoint directory %s: %s", tmp, strerror(-rc));
    push_error(ex, t, msg, NULL);
    free(tmp);
    return 0;
  }
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "dir", tmp);
  cJSON_AddBoolToObject(body, "persistent", persistent);
  tune_req_t *r = tune__worker_request(t->worker, TUNE_REQ_SAVE, t, body);
  if (!r) {
    tune_fs_remove_tree(tmp);
    free(tmp);
    return -1;
  }
  r->tmp_dir = tmp;
  r->dir = tune_xstrdup(dir);
  r->persistent = persistent;
  tune_map_put(&ex->pending_saves, dir, (void *)1);
  return 0;
}

int tune_executor_restore(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  send_restore(ex, t, dir, persistent);
  return 0;
}

int tune_executor_reset(tune_executor_t *ex, const char *trial_id, const cJSON *config, const char *tag) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  if (!t->resettable) return 0;
  tune_trial_set_config(t, config, tag);
  return tune__worker_request(t->worker, TUNE_REQ_RESET, t, tune__start_body(t)) ? 1 : -1;
}

int tune_executor_is_running(tune_executor_t *ex, const char *trial_id) {
  tune_trial_t *t = active_record(ex, trial_id);
  return t && t->worker != NULL;
}

cJSON *tune_executor_default_result(tune_executor_t *ex, const char *trial_id) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return NULL;
  tune_proc_info_t info = {t->worker->pid, t->worker->hostname, t->worker->node_ip};
  return tune_trial_default_result(t, &info);
}

/* ------------------------------------------------------------------------ */
/* Stopping                                                                 */
/* ------------------------------------------------------------------------ */

void tune_executor_stop(tune_executor_t *ex, const char *trial_id, int error) {
  tune_trial_t *t = record_get(ex, trial_id);
  tune_pgm_unmark_staged(&ex->pgm, trial_id);
  if (!t || !t->active) return;
  t->active = 0;
  ex->nrunning--;
  tune_worker_t *w = t->worker;
  tune_pg_t *pg = tune_pgm_in_use(&ex->pgm, trial_id);
  tune_map_del(&ex->trials, trial_id);
  tune_trial_unref(t); /* the map's reference */
  if (w && ex->o.reuse_actors && t->resettable && !error && w->proc && !w->fault && !w->stopping && pg) {
    /* Keep the worker and its group for the next trial (Ray's actor cache). */
    tune__worker_attach(w, NULL);
    tune_pgm_cache(&ex->pgm, pg, w);
    return;
  }
  if (w) {
    /* The worker stays attached: its cleanup output keeps the trial's name
       and log files, and results it still sends are counted, not delivered. */
    if (pg) tune_pgm_to_stopping(&ex->pgm, pg, w);
    w->pg = pg;
    tune__worker_stop(w);
  } else if (pg) {
    tune_pgm_remove(&ex->pgm, pg);
  }
}

/// Stops the idle worker of a cached group (its group is held until it
/// exits), or gives an empty cached group back.
static void drop_cached(tune_executor_t *ex, tune_pg_t *pg) {
  tune_worker_t *w = pg->payload;
  if (w) {
    tune_pgm_to_stopping(&ex->pgm, pg, w);
    w->pg = pg;
    tune__worker_stop(w);
  } else {
    tune_pgm_remove(&ex->pgm, pg);
  }
}

void tune_executor_trim_cache(tune_executor_t *ex, int (*needed)(tune_pgf_entry_t *fe, void *ud), void *ud) {
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    while (fe->cached.head && !needed(fe, ud)) drop_cached(ex, fe->cached.head);
  }
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
    while (fe->cached.head) drop_cached(ex, fe->cached.head);
  }
  ex->want_standby = 0;
  ex->standby = NULL;
  for (tune_worker_t *w = ex->workers; w; w = w->next) tune__worker_stop(w);
  /* ...and wait for them to go. */
  while (ex->workers) ex->backend->ops->wait(ex->backend, 1.0);
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

/* ------------------------------------------------------------------------ */
/* Messages from workers                                                    */
/* ------------------------------------------------------------------------ */

static tune_worker_t *ex_standby_of(tune_worker_t *w) { return w->ex->standby; }

static void fault(tune_worker_t *w, const char *what) {
  if (w->fault) return;
  w->fault = tune_xstrdup(what);
  if (w == ex_standby_of(w)) w->ex->standby = NULL;
  if (w->trial && w->trial->active) {
    char msg[1024];
    snprintf(msg, sizeof msg, "malformed message from worker (pid %lld): %s", (long long)w->pid, what);
    push_error(w->ex, w->trial, msg, NULL);
  } else {
    TUNE_WARN("worker %lld: %s", (long long)w->pid, what);
  }
  tune__worker_kill(w);
}

void tune__executor_on_fault(tune_worker_t *w, const char *what) { fault(w, what); }

static void finish_waiters(tune_executor_t *ex, const char *dir, int ok, const char *why) {
  size_t pos = 0;
  void *v;
  tune_trial_t **list = NULL;
  size_t n = 0;
  while (tune_map_next(&ex->trials, &pos, NULL, &v)) {
    tune_trial_t *t = v;
    if (t->waiting_restore && !strcmp(t->waiting_restore, dir)) {
      list = tune_xrealloc(list, (n + 1) * sizeof *list);
      list[n++] = t;
    }
  }
  for (size_t i = 0; i < n; i++) {
    tune_trial_t *t = list[i];
    int persistent = t->waiting_restore_persistent;
    free(t->waiting_restore);
    t->waiting_restore = NULL;
    if (!ok) {
      char msg[1024];
      snprintf(msg, sizeof msg, "cannot restore from %s: %s", dir, why);
      push_error(ex, t, msg, NULL);
      continue;
    }
    send_restore(ex, t, dir, persistent);
    if (!persistent) send_train(ex, t);
  }
  free(list);
}

static void handle_result(tune_worker_t *w, tune_req_t *r, cJSON *msg) {
  tune_executor_t *ex = w->ex;
  tune_trial_t *t = r->trial;
  t->train_inflight = 0;
  cJSON *batch = cJSON_GetObjectItemCaseSensitive(msg, "results");
  if (batch && !cJSON_IsArray(batch)) {
    fault(w, "\"results\" is not an array");
    return;
  }
  tune_proc_info_t info = {w->pid, w->hostname, w->node_ip};
  cJSON *out = cJSON_CreateArray();
  cJSON *item;
  while (batch && (item = batch->child)) {
    cJSON_DetachItemViaPointer(batch, item);
    cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(item, "m");
    if (!cJSON_IsObject(m)) {
      cJSON_Delete(m);
      cJSON_Delete(item);
      cJSON_Delete(out);
      fault(w, "a result has no metrics object \"m\"");
      return;
    }
    /* The worker's clocks, as integers: step time in ns, wall clock in ms. */
    double dt = tune_json_get_number(item, "dt", 0) / 1e9;
    double ts = tune_json_get_number(item, "ts", (double)time(NULL) * 1e3) / 1e3;
    cJSON_Delete(item);
    cJSON_AddItemToArray(out, tune_trial_fill_result(t, m, dt, ts, &info));
  }
  /* The loggers see reported results only, never the duplicate below. */
  int deliver = t->active && !t->superseded;
  if (deliver && ex->sink && out->child) ex->sink(ex->sink_ud, t->id, t->logdir, t->config, out);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "finished"))) {
    /* The function returned: Ray repeats the last result with done=True. */
    cJSON *last = out->child ? cJSON_Duplicate(cJSON_GetArrayItem(out, cJSON_GetArraySize(out) - 1), 1)
                             : (t->last_result ? cJSON_Duplicate(t->last_result, 1) : NULL);
    if (!last) {
      last = cJSON_CreateObject();
      tune_json_set(last, "trial_id", cJSON_CreateString(t->id));
      tune_json_set(last, "training_iteration", tune_json_new_int(t->iteration));
    }
    tune_json_set(last, "done", cJSON_CreateTrue());
    tune_json_set(last, "__duplicate__", cJSON_CreateTrue());
    cJSON_AddItemToArray(out, last);
  }
  int n = cJSON_GetArraySize(out);
  if (n > 0) {
    cJSON_Delete(t->last_result);
    t->last_result = cJSON_Duplicate(cJSON_GetArrayItem(out, n - 1), 1);
  }
  if (!deliver || n == 0) {
    /* Counted above (so a pending save's counters match the trainable),
       but not delivered: the trial was paused or stopped meanwhile. */
    cJSON_Delete(out);
    return;
  }
  tune_event_t *ev = event_new(TUNE_EV_TRAINING_RESULT, t->id);
  ev->results = out;
  tune__executor_push(ex, ev);
}

static void handle_saved(tune_worker_t *w, tune_req_t *r) {
  tune_executor_t *ex = w->ex;
  tune_trial_t *t = r->trial;
  cJSON *meta = tune_trial_counters_json(t);
  cJSON_AddStringToObject(meta, "trial_id", t->id);
  int rc = tune_ckpt_commit(r->tmp_dir, r->dir, meta, r->persistent);
  cJSON_Delete(meta);
  tune_map_del(&ex->pending_saves, r->dir);
  if (rc < 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "could not write checkpoint %s: %s", r->dir, strerror(-rc));
    push_error(ex, t, msg, NULL);
    finish_waiters(ex, r->dir, 0, strerror(-rc));
    return;
  }
  finish_waiters(ex, r->dir, 1, NULL);
  if (r->persistent && !t->superseded) {
    tune_event_t *ev = event_new(TUNE_EV_SAVING_RESULT, t->id);
    ev->checkpoint_dir = tune_xstrdup(r->dir);
    tune__executor_push(ex, ev);
  }
}

static void handle_restored(tune_worker_t *w, tune_req_t *r) {
  tune_trial_t *t = r->trial;
  cJSON *meta = tune_ckpt_read_meta(r->dir);
  if (meta) tune_trial_counters_restore(t, meta);
  else tune_trial_counters_reset(t);
  cJSON_Delete(meta);
  if (r->persistent && t->active && !t->superseded) {
    tune_event_t *ev = event_new(TUNE_EV_RESTORING_RESULT, t->id);
    ev->checkpoint_dir = tune_xstrdup(r->dir);
    tune__executor_push(w->ex, ev);
  }
}

static void handle_error(tune_worker_t *w, tune_req_t *r, cJSON *msg) {
  tune_executor_t *ex = w->ex;
  const char *m = tune_json_get_string(msg, "message");
  const char *tb = tune_json_get_string(msg, "traceback");
  tune_trial_t *t = r ? r->trial : w->trial;
  if (r && r->kind == TUNE_REQ_TRAIN && t) t->train_inflight = 0;
  if (r && r->kind == TUNE_REQ_SAVE) {
    tune_fs_remove_tree(r->tmp_dir);
    tune_map_del(&ex->pending_saves, r->dir);
    finish_waiters(ex, r->dir, 0, m ? m : "the save failed");
  }
  if (!t) {
    TUNE_WARN("worker %lld: %s", (long long)w->pid, m ? m : "error");
    return;
  }
  char buf[1024];
  if (r && r->kind == TUNE_REQ_SAVE) {
    snprintf(buf, sizeof buf, "could not write checkpoint %s: %s", r->dir, m ? m : "unknown error");
    m = buf;
  }
  push_error(ex, t, m ? m : "the trainable failed", tb);
}

void tune__executor_on_line(tune_worker_t *w, const char *line, size_t len) {
  char why[256];
  cJSON *msg = tune_json_parse(line, len, why, sizeof why);
  if (!msg) {
    char what[400];
    snprintf(what, sizeof what, "not JSON (%s)", why);
    fault(w, what);
    return;
  }
  tune_msg_type_t type = tune_msg_classify(msg, why, sizeof why);
  if (type == TUNE_MSG_INVALID) {
    fault(w, why);
    cJSON_Delete(msg);
    return;
  }
  if (type == TUNE_MSG_HELLO) {
    double v = tune_json_get_number(msg, "v", -1);
    if (v != TUNE_PROTOCOL_VERSION) {
      snprintf(why, sizeof why, "worker speaks protocol version %g, the driver %d", v, TUNE_PROTOCOL_VERSION);
      fault(w, why);
    } else {
      w->hello = 1;
      w->pid = (int64_t)tune_json_get_number(msg, "pid", (double)w->pid);
      const char *h = tune_json_get_string(msg, "hostname");
      const char *ip = tune_json_get_string(msg, "node_ip");
      free(w->hostname);
      free(w->node_ip);
      w->hostname = tune_xstrdup(h ? h : "");
      w->node_ip = tune_xstrdup(ip ? ip : "");
    }
    cJSON_Delete(msg);
    return;
  }
  if (!w->hello) {
    fault(w, "message before the handshake");
    cJSON_Delete(msg);
    return;
  }
  const cJSON *re = cJSON_GetObjectItemCaseSensitive(msg, "re");
  tune_req_t *r = NULL;
  if (re || type != TUNE_MSG_ERROR) {
    if (!cJSON_IsNumber(re) || !w->req_head || (uint64_t)re->valuedouble != w->req_head->id) {
      fault(w, "reply to a request that was not made");
      cJSON_Delete(msg);
      return;
    }
    r = tune__worker_pop_request(w);
  }
  static const tune_req_kind_t expected[] = {
      [TUNE_MSG_RESULT] = TUNE_REQ_TRAIN,     [TUNE_MSG_SAVED] = TUNE_REQ_SAVE,
      [TUNE_MSG_RESTORED] = TUNE_REQ_RESTORE, [TUNE_MSG_RESET] = TUNE_REQ_RESET,
      [TUNE_MSG_STOPPED] = TUNE_REQ_STOP,     [TUNE_MSG_READY] = TUNE_REQ_START,
  };
  if (r && type != TUNE_MSG_ERROR && expected[type] != r->kind) {
    fault(w, "reply does not match its request");
    tune__req_free(r);
    cJSON_Delete(msg);
    return;
  }
  switch (type) {
    case TUNE_MSG_RESULT: handle_result(w, r, msg); break;
    case TUNE_MSG_SAVED: handle_saved(w, r); break;
    case TUNE_MSG_RESTORED: handle_restored(w, r); break;
    case TUNE_MSG_RESET:
      if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "ok"))) {
        push_error(w->ex, r->trial, "reset_config() returned false: the trainable cannot be reset", NULL);
      } else {
        tune_trial_counters_reset(r->trial);
      }
      break;
    case TUNE_MSG_ERROR: handle_error(w, r, msg); break;
    case TUNE_MSG_STOPPED:
    case TUNE_MSG_READY:
    case TUNE_MSG_HELLO:
    case TUNE_MSG_INVALID: break;
  }
  tune__req_free(r);
  cJSON_Delete(msg);
}

void tune__executor_on_exit(tune_worker_t *w, const tune_exit_t *e) {
  int64_t status = e->status;
  int sig = e->signal;
  tune_executor_t *ex = w->ex;
  tune_trial_t *t = w->trial;
  /* Saves this worker never finished will not finish. */
  for (tune_req_t *r = w->req_head; r; r = r->next) {
    if (r->kind != TUNE_REQ_SAVE) continue;
    tune_fs_remove_tree(r->tmp_dir);
    tune_map_del(&ex->pending_saves, r->dir);
    finish_waiters(ex, r->dir, 0, "the worker exited before the save completed");
    if (r->trial != t || !t) {
      char msg[512];
      snprintf(msg, sizeof msg, "could not write checkpoint %s: the worker exited first", r->dir);
      push_error(ex, r->trial, msg, NULL);
    }
  }
  if (t && t->active && !w->fault && !w->stopping) {
    char msg[512];
    if (sig) snprintf(msg, sizeof msg, "worker process (pid %lld) was killed by signal %d (%s)", (long long)w->pid, sig, strsignal(sig));
    else snprintf(msg, sizeof msg, "worker process (pid %lld) exited unexpectedly with status %lld", (long long)w->pid, (long long)status);
    char *tail = tune__worker_stderr_tail(w);
    char *tb = tail ? tune_xasprintf("last lines of the worker's stderr:\n%s", tail) : NULL;
    push_error(ex, t, msg, tb);
    free(tail);
    free(tb);
    t->train_inflight = 0;
  }
  if (w->pg) {
    if (w->pg->state == TUNE_PG_STOPPING || w->pg->state == TUNE_PG_CACHED) tune_pgm_remove(&ex->pgm, w->pg);
    /* In use: the trial keeps its group until it is stopped. */
  }
  if (ex->standby == w) ex->standby = NULL;
  if (t) t->worker = NULL;
  tune__worker_free(w);
  tune_pgm_update(&ex->pgm);
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

static int have_ready_or_cached(tune_executor_t *ex) {
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    if (fe->ready.n || fe->cached.n) return 1;
  }
  return 0;
}

void tune_executor_poll(tune_executor_t *ex) {
  ex->backend->ops->wait(ex->backend, 0);
  tune_pgm_update(&ex->pgm);
}

/// Starts the standby worker, in time the driver would spend waiting.
static void prestart(tune_executor_t *ex) {
  if (!ex->want_standby || ex->standby) return;
  ex->want_standby = 0;
  char err[512];
  ex->standby = tune__worker_spawn(ex, NULL, NULL, err, sizeof err);
  if (!ex->standby) TUNE_DEBUG("no standby worker: %s", err);
}

tune_event_t *tune_executor_next_event(tune_executor_t *ex, int next_trial_exists, double timeout) {
  tune_backend_t *b = ex->backend;
  double deadline = b->ops->now(b) + (timeout > 0 ? timeout : 0);
  /* Collect what is already there before deciding. */
  b->ops->wait(b, 0);
  for (;;) {
    tune_pgm_update(&ex->pgm);
    if (next_trial_exists && have_ready_or_cached(ex)) return event_new(TUNE_EV_PG_READY, NULL);
    tune_event_t *ev = pop_event(ex);
    if (ev) return ev;
    /* A signal for the runner: hand control back at once. */
    if (tune_signals_pending()) return event_new(ex->nrunning ? TUNE_EV_YIELD : TUNE_EV_NO_RUNNING_TRIAL_TIMEOUT, NULL);
    double left = deadline - b->ops->now(b);
    if (left <= 0) return event_new(ex->nrunning ? TUNE_EV_YIELD : TUNE_EV_NO_RUNNING_TRIAL_TIMEOUT, NULL);
    prestart(ex);
    b->ops->wait(b, left);
  }
}

void tune_executor_stats(tune_executor_t *ex, tune_executor_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (tune_worker_t *w = ex->workers; w; w = w->next) {
    out->workers++;
    if (w->stopping) out->stopping++;
  }
  tune_pgm_counts_t c;
  tune_pgm_counts(&ex->pgm, &c);
  out->cached = c.cached;
  out->running = ex->nrunning;
  out->events = ex->nevents;
  out->spawned = ex->nspawned;
  out->standby = ex->standby ? 1 : 0;
}
