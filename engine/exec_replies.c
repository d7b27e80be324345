/// What workers answer, handled from tune_workers_dispatch() (never from a
/// backend callback): results are completed with the auto-filled fields
/// and queued as events, saves are committed, restores and resets update
/// the trial's counters, errors and exits become ERROR events; and so do
/// the result rows the loggers' writer could not write (tune__log_faults).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "common.h"
#include "executor_int.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

/// The worker's trial fails with `what` (after "malformed message from
/// worker" when `protocol`: the worker broke the protocol, rather than the
/// trainable reporting what it must not), and the worker goes.
static void fail_worker(tune_executor_t *ex, tune_worker_t *w, const char *what, int protocol) {
  if (w->fault) return;
  if (w == ex->standby) ex->standby = NULL;
  if (w->trial && w->trial->active) {
    char msg[1024];
    if (protocol) snprintf(msg, sizeof msg, "malformed message from worker (pid %lld): %s", (long long)w->pid, what);
    else snprintf(msg, sizeof msg, "%s", what);
    tune__push_error(ex, w->trial, msg, NULL);
  } else {
    TUNE_WARN("worker %lld: %s", (long long)w->pid, what);
  }
  tune_worker_fault(w, what);
}

static void fault(tune_executor_t *ex, tune_worker_t *w, const char *what) { fail_worker(ex, w, what, 1); }

static void on_fault(void *ud, tune_worker_t *w, const char *what) { fault(ud, w, what); }

/// A trial's result rows could not be written (tune_loggers_take_faults):
/// it fails, running or not (a trial that had ended lost its last rows),
/// once per start as with tune__push_error.
static void log_fault(void *ud, const char *trial_id, const char *msg) {
  tune_executor_t *ex = ud;
  tune_trial_t *t = tune__record(ex, trial_id);
  if (t && (t->superseded || t->error_reported)) return;
  if (t) t->error_reported = 1;
  tune_event_t *ev = tune_event_new(TUNE_EV_ERROR, trial_id);
  ev->error = tune_xstrdup(msg);
  ev->lost_rows = 1;
  tune_events_push(&ex->events, ev);
}

/// Trials waiting to restore from `dir` while its save was under way.
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
      tune__push_error(ex, t, msg, NULL);
      continue;
    }
    tune__send_restore(ex, t, dir, persistent);
    if (!persistent) tune__send_train(ex, t, 0);
  }
  free(list);
}

/// A batch of results: each completed with the auto-filled fields, and
/// with `finished` Ray's repeated last result (done, "__duplicate__").
static void handle_result(tune_executor_t *ex, tune_worker_t *w, tune_req_t *r, cJSON *msg) {
  tune_trial_t *t = r->trial;
  t->train_inflight = 0;
  cJSON *batch = cJSON_GetObjectItemCaseSensitive(msg, "results");
  if (batch && !cJSON_IsArray(batch)) {
    fault(ex, w, "\"results\" is not an array");
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
      fault(ex, w, "a result has no metrics object \"m\"");
      return;
    }
    /* Ray keeps a training_iteration the trainable reports: it must be a
       number (stop criteria, schedulers and checkpoint names use it). */
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(m, "training_iteration");
    if (ti && !cJSON_IsNumber(ti)) {
      cJSON_Delete(m);
      cJSON_Delete(item);
      cJSON_Delete(out);
      fail_worker(ex, w, "the trainable reported a training_iteration that is not a number (leave it out: "
                  "the driver counts iterations)", 0);
      return;
    }
    /* The worker's clocks, as integers: step time in ns, wall clock in ms. */
    double dt = tune_json_get_number(item, "dt", 0) / 1e9;
    double ts = tune_json_get_number(item, "ts", (double)time(NULL) * 1e3) / 1e3;
    cJSON_Delete(item);
    cJSON_AddItemToArray(out, tune_trial_fill_result(t, m, dt, ts, &info));
  }
  int deliver = t->active && !t->superseded;
  int n = cJSON_GetArraySize(out);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "finished"))) {
    /* The function returned: Ray repeats the last result with done=True.
       The last one reported is this batch's, else that of the batch the
       runner holds, else the one kept when an earlier batch went (batches
       are not copied as they come: tune_trial_keep_last). */
    cJSON *src = tune_trial_last_of(out);
    if (!src && ex->delivered == t) src = tune_trial_last_of(ex->delivered_batch);
    if (!src) src = t->last_result;
    cJSON *last = src ? cJSON_Duplicate(src, 1) : NULL;
    if (!last) {
      last = cJSON_CreateObject();
      tune_json_set(last, "trial_id", cJSON_CreateString(t->id));
      tune_json_set(last, "training_iteration", tune_json_new_int(t->iteration));
    }
    tune_json_set(last, "done", cJSON_CreateTrue());
    tune_json_set(last, "__duplicate__", cJSON_CreateTrue());
    cJSON_AddItemToArray(out, last);
    n++;
  }
  if (!deliver || n == 0) {
    /* Counted above (so a pending save's counters match the trainable),
       but not delivered: the trial was paused or stopped meanwhile. */
    tune_trial_keep_last(t, out);
    cJSON_Delete(out);
    return;
  }
  tune_event_t *ev = tune_event_new(TUNE_EV_TRAINING_RESULT, t->id);
  ev->results = out;
  tune_events_push(&ex->events, ev);
}

void tune__log_faults(tune_executor_t *ex) { tune_loggers_take_faults(&ex->loggers, log_fault, ex); }

static void handle_saved(tune_executor_t *ex, tune_req_t *r) {
  tune_trial_t *t = r->trial;
  char why[768];
  if (tune_loggers_failed(&ex->loggers, t->id, r->log_attempt, why, sizeof why)) {
    /* Rows before it are not on disk: the checkpoint would vouch for them
       (a resume cuts the logs to it, a retry logs after it). */
    tune_fs_remove_tree(r->tmp_dir);
    tune_map_del(&ex->pending_saves, r->dir);
    char msg[1024];
    snprintf(msg, sizeof msg, "checkpoint %s not kept: the results before it were not all logged: %s", r->dir, why);
    if (!t->superseded && !t->error_reported) { /* this record's; lost rows: an ended trial moves to ERROR too */
      t->error_reported = 1;
      tune_event_t *ev = tune_event_new(TUNE_EV_ERROR, t->id);
      ev->error = tune_xstrdup(msg);
      ev->lost_rows = 1;
      tune_events_push(&ex->events, ev);
    }
    finish_waiters(ex, r->dir, 0, msg);
    return;
  }
  cJSON *meta = tune_trial_counters_json(t);
  cJSON_AddStringToObject(meta, "trial_id", t->id);
  int rc = tune_ckpt_commit(r->tmp_dir, r->dir, meta, r->persistent);
  cJSON_Delete(meta);
  tune_map_del(&ex->pending_saves, r->dir);
  if (rc < 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "could not write checkpoint %s: %s", r->dir, strerror(-rc));
    tune__push_error(ex, t, msg, NULL);
    finish_waiters(ex, r->dir, 0, strerror(-rc));
    return;
  }
  finish_waiters(ex, r->dir, 1, NULL);
  if (r->persistent && !t->superseded) {
    tune_event_t *ev = tune_event_new(TUNE_EV_SAVING_RESULT, t->id);
    ev->checkpoint_dir = tune_xstrdup(r->dir);
    tune_events_push(&ex->events, ev);
  }
}

static void handle_restored(tune_executor_t *ex, tune_req_t *r) {
  tune_trial_t *t = r->trial;
  cJSON *meta = tune_ckpt_read_meta(r->dir);
  if (meta) tune_trial_counters_restore(t, meta);
  else tune_trial_counters_reset(t);
  cJSON_Delete(meta);
  if (r->persistent && t->active && !t->superseded) {
    tune_event_t *ev = tune_event_new(TUNE_EV_RESTORING_RESULT, t->id);
    ev->checkpoint_dir = tune_xstrdup(r->dir);
    tune_events_push(&ex->events, ev);
  }
}

static void handle_error(tune_executor_t *ex, tune_worker_t *w, tune_req_t *r, cJSON *msg) {
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
  tune__push_error(ex, t, m ? m : "the trainable failed", tb);
}

static void handle_hello(tune_executor_t *ex, tune_worker_t *w, cJSON *msg) {
  char why[256];
  double v = tune_json_get_number(msg, "v", -1);
  if (w->hello) {
    fault(ex, w, "a second hello");
  } else if (v != TUNE_PROTOCOL_VERSION) {
    snprintf(why, sizeof why, "worker speaks protocol version %g, the driver %d", v, TUNE_PROTOCOL_VERSION);
    fault(ex, w, why);
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
}

/// The request a reply answers: the oldest outstanding one. NULL with the
/// worker faulted when the reply does not fit.
static tune_req_t *match_request(tune_executor_t *ex, tune_worker_t *w, cJSON *msg, tune_msg_type_t type) {
  static const tune_req_kind_t expected[] = {
      [TUNE_MSG_RESULT] = TUNE_REQ_TRAIN,     [TUNE_MSG_SAVED] = TUNE_REQ_SAVE,
      [TUNE_MSG_RESTORED] = TUNE_REQ_RESTORE, [TUNE_MSG_RESET] = TUNE_REQ_RESET,
      [TUNE_MSG_STOPPED] = TUNE_REQ_STOP,     [TUNE_MSG_READY] = TUNE_REQ_START,
  };
  const cJSON *re = cJSON_GetObjectItemCaseSensitive(msg, "re");
  if (!cJSON_IsNumber(re) || !w->req_head || (uint64_t)re->valuedouble != w->req_head->id) {
    fault(ex, w, "reply to a request that was not made");
    return NULL;
  }
  tune_req_t *r = tune_worker_pop_request(w);
  if (type != TUNE_MSG_ERROR && expected[type] != r->kind) {
    fault(ex, w, "reply does not match its request");
    tune_req_free(r);
    return NULL;
  }
  return r;
}

static void dispatch(tune_executor_t *ex, tune_worker_t *w, tune_req_t *r, cJSON *msg, tune_msg_type_t type) {
  switch (type) {
    case TUNE_MSG_RESULT: handle_result(ex, w, r, msg); break;
    case TUNE_MSG_SAVED: handle_saved(ex, r); break;
    case TUNE_MSG_RESTORED: handle_restored(ex, r); break;
    case TUNE_MSG_RESET:
      if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "ok")))
        tune__push_error(ex, r->trial, "reset_config() returned false: the trainable cannot be reset", NULL);
      else
        tune_trial_counters_reset(r->trial);
      break;
    case TUNE_MSG_ERROR: handle_error(ex, w, r, msg); break;
    case TUNE_MSG_STOPPED:
    case TUNE_MSG_READY:
    case TUNE_MSG_HELLO:
    case TUNE_MSG_INVALID: break;
  }
}

static void on_message(void *ud, tune_worker_t *w, cJSON *msg) {
  tune_executor_t *ex = ud;
  char why[256];
  tune_msg_type_t type = tune_msg_classify(msg, why, sizeof why);
  if (type == TUNE_MSG_INVALID) {
    fault(ex, w, why);
  } else if (type == TUNE_MSG_HELLO) {
    handle_hello(ex, w, msg);
  } else if (!w->hello) {
    fault(ex, w, "message before the handshake");
  } else {
    tune_req_t *r = NULL;
    int ok = 1;
    if (cJSON_GetObjectItemCaseSensitive(msg, "re") || type != TUNE_MSG_ERROR) {
      r = match_request(ex, w, msg, type);
      ok = r != NULL;
    }
    if (ok) dispatch(ex, w, r, msg, type);
    tune_req_free(r);
  }
  cJSON_Delete(msg);
}

static void on_line(void *ud, tune_worker_t *w, const char *line, size_t len) {
  char why[256];
  cJSON *msg = tune_json_parse(line, len, why, sizeof why);
  if (!msg) {
    char what[400];
    snprintf(what, sizeof what, "not JSON (%s)", why);
    fault(ud, w, what);
    return;
  }
  on_message(ud, w, msg);
}

static void on_exit_hook(void *ud, tune_worker_t *w, const tune_exit_t *e) {
  tune_executor_t *ex = ud;
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
      tune__push_error(ex, r->trial, msg, NULL);
    }
  }
  if (t && t->active && !w->fault && !w->stopping) {
    char msg[768];
    if (e->lost_node)
      snprintf(msg, sizeof msg, "worker process (pid %lld) was lost with node %s%s%s", (long long)w->pid,
               e->lost_node, e->reason ? ": " : "", e->reason ? e->reason : "");
    else if (e->signal)
      snprintf(msg, sizeof msg, "worker process (pid %lld) was killed by signal %d (%s)%s%s", (long long)w->pid,
               e->signal, strsignal(e->signal), e->reason ? ": " : "", e->reason ? e->reason : "");
    else
      snprintf(msg, sizeof msg, "worker process (pid %lld) exited unexpectedly with status %lld%s%s", (long long)w->pid,
               (long long)e->status, e->reason ? ": " : "", e->reason ? e->reason : "");
    char *tail = tune_worker_stderr_tail(w);
    char *tb = tail ? tune_xasprintf("last lines of the worker's stderr:\n%s", tail) : NULL;
    tune__push_error(ex, t, msg, tb);
    free(tail);
    free(tb);
    t->train_inflight = 0;
  }
  tune_pg_t *pg = w->pg;
  if (pg && (pg->state == TUNE_PG_STOPPING || pg->state == TUNE_PG_CACHED)) tune_pgm_remove(&ex->pgm, pg);
  /* In use: the trial keeps its group until it is stopped. */
  if (ex->standby == w) ex->standby = NULL;
  if (t) t->worker = NULL;
}

const tune_worker_hooks_t tune__worker_hooks = {on_line, on_message, on_fault, on_exit_hook};

void tune__reservation_failed(void *ud, tune_pgf_entry_t *fe, const char *why) {
  tune_executor_t *ex = ud;
  const char *ids[256];
  size_t n;
  /* Each trial waiting for this factory learns why it cannot run. */
  while ((n = tune_pgm_staged_for(&ex->pgm, fe, ids, TUNE_ARRAY_LEN(ids))) > 0) {
    for (size_t i = 0; i < n; i++) {
      char *id = tune_xstrdup(ids[i]);
      tune_pgm_unmark_staged(&ex->pgm, id);
      tune_event_t *ev = tune_event_new(TUNE_EV_ERROR, id);
      ev->error = tune_xasprintf("cannot reserve resources for trial %s: %s", id, why);
      tune_events_push(&ex->events, ev);
      free(id);
    }
  }
}
