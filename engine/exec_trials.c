/// What the runner asks of trials: start (on a ready placement group, a
/// cached worker or the prestarted one), train, save, restore, reset,
/// stop, and commit the results it accepted to the loggers.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "common.h"
#include "executor_int.h"
#include "fsprep.h"
#include "writebehind.h"
#include "fsutil.h"
#include "json.h"

tune_trial_t *tune__record(tune_executor_t *ex, const char *id) { return tune_map_get(&ex->trials, id); }

static tune_trial_t *active_record(tune_executor_t *ex, const char *id) {
  tune_trial_t *t = tune__record(ex, id);
  return t && t->active ? t : NULL;
}

void tune__push_error(tune_executor_t *ex, tune_trial_t *t, const char *msg, const char *traceback) {
  if (t->superseded || t->error_reported) return;
  t->error_reported = 1;
  tune_event_t *ev = tune_event_new(TUNE_EV_ERROR, t->id);
  ev->error = tune_xstrdup(msg);
  ev->traceback = traceback ? tune_xstrdup(traceback) : NULL;
  tune_events_push(&ex->events, ev);
}

static cJSON *start_body(const tune_trial_t *t) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddNumberToObject(b, "v", TUNE_PROTOCOL_VERSION);
  cJSON_AddStringToObject(b, "trial_id", t->id);
  cJSON_AddStringToObject(b, "name", t->name);
  cJSON_AddStringToObject(b, "logdir", t->logdir);
  cJSON_AddStringToObject(b, "experiment_tag", t->tag);
  cJSON_AddItemToObject(b, "config", cJSON_Duplicate(t->config, 1));
  cJSON_AddItemToObject(b, "trainable", cJSON_Duplicate(t->loader, 1));
  if (t->bundles) cJSON_AddItemToObject(b, "bundles", cJSON_Duplicate(t->bundles, 1));
  return b;
}

/* ------------------------------------------------------------------------ */
/* Starting                                                                 */
/* ------------------------------------------------------------------------ */

static int want_worker(void *payload, void *ud) {
  tune_worker_t *w = payload;
  const char *loader_key = ud;
  return w && w->proc && !w->fault && !w->stopping && !strcmp(w->loader_key, loader_key);
}

/// A placement group for the trial: a cached one (with its worker when
/// that worker can serve this trainable), else a ready one. NULL: none.
static tune_pg_t *take_group(tune_executor_t *ex, const tune_trial_spec_t *spec, tune_worker_t **reuse) {
  tune_pgf_entry_t *fe = spec->fe;
  const char *key = spec->loader_key ? spec->loader_key : "";
  tune_pg_t *pg = NULL;
  *reuse = NULL;
  if (ex->o.reuse_actors && spec->resettable) {
    for (tune_pg_t *c = fe->cached.head; c; c = c->next)
      if (want_worker(c->payload, (void *)key)) {
        pg = tune_pgm_take_cached(&ex->pgm, spec->trial_id, fe, want_worker, (void *)key);
        *reuse = pg->payload;
        pg->payload = NULL;
        return pg;
      }
  }
  if (fe->cached.head) {
    /* A cached group whose worker cannot serve this trial: reuse the group. */
    pg = tune_pgm_take_cached(&ex->pgm, spec->trial_id, fe, NULL, NULL);
    tune_worker_t *stale = pg->payload;
    pg->payload = NULL;
    if (stale) {
      stale->pg = NULL;
      tune_worker_stop(stale, ex->o.force_trial_cleanup_s);
    }
    return pg;
  }
  return tune_pgm_take_ready(&ex->pgm, spec->trial_id, fe);
}

/// The worker for a new record: the cached one (reset), the prestarted
/// one, or a new process. Sends the start or reset request. 0 or -1.
static int give_worker(tune_executor_t *ex, tune_trial_t *t, tune_pg_t *pg, tune_worker_t *reuse, char *err,
                       size_t errlen) {
  if (reuse) {
    reuse->pg = pg;
    tune_worker_attach(reuse, t);
    tune_worker_cork(reuse);
    if (!tune_worker_request(reuse, TUNE_REQ_RESET, t, start_body(t))) {
      tune_worker_uncork(reuse);
      snprintf(err, errlen, "cached worker %lld is gone", (long long)reuse->pid);
      return -1;
    }
    return 0;
  }
  tune_worker_t *w = ex->standby;
  cJSON *body = start_body(t);
  if (w && w->proc && !w->fault && !w->stopping) {
    /* The prestarted worker takes this trial and its environment. */
    ex->standby = NULL;
    w->standby = 0;
    w->pg = pg;
    tune_worker_attach(w, t);
    cJSON_AddItemToObject(body, "env", tune__trial_env_json(ex, pg));
  } else {
    w = tune__spawn(ex, t, pg, err, errlen);
    if (!w) {
      cJSON_Delete(body);
      return -1;
    }
  }
  if (ex->o.prestart_workers && (ex->backend->ops->caps & TUNE_BACKEND_PRESTART)) ex->want_standby = 1;
  tune_worker_cork(w);
  if (!tune_worker_request(w, TUNE_REQ_START, t, body)) {
    tune_worker_uncork(w);
    if (w->fault) snprintf(err, errlen, "%s", w->fault);
    else snprintf(err, errlen, "worker %lld exited at once", (long long)w->pid);
    return -1;
  }
  return 0;
}

int tune_executor_start(tune_executor_t *ex, const tune_trial_spec_t *spec, char *err, size_t errlen) {
  tune_trial_t *old = tune__record(ex, spec->trial_id);
  if (old && old->active) {
    snprintf(err, errlen, "trial %s is already running", spec->trial_id);
    return -1;
  }
  tune_worker_t *reuse;
  tune_pg_t *pg = take_group(ex, spec, &reuse);
  if (!pg) return 0;
  int rc = spec->logdir_made ? 0 : tune_fs_mkdir_p(spec->logdir);
  if (rc < 0) {
    snprintf(err, errlen, "cannot create trial directory %s: %s", spec->logdir, strerror(-rc));
    tune_pgm_remove(&ex->pgm, pg);
    if (reuse) {
      reuse->pg = NULL;
      tune_worker_stop(reuse, ex->o.force_trial_cleanup_s);
    }
    return -1;
  }
  tune_trial_t *t = tune_trial_new(spec);
  if (old) {
    old->superseded = 1;
    tune_trial_unref(old);
  }
  tune_map_put(&ex->trials, spec->trial_id, t); /* the map holds the first reference */
  t->active = 1;
  t->bundles = tune__bundles_json(ex, pg);
  ex->nrunning++;
  if (give_worker(ex, t, pg, reuse, err, errlen) < 0) {
    /* The record exists: stop it like any trial that failed. */
    tune_executor_stop(ex, spec->trial_id, 1);
    return -1;
  }
  /* The start (or reset) request waits, corked, for what follows it: one
     write to the worker for both. */
  tune_worker_t *w = t->worker;
  if (spec->restore_dir) {
    if (tune_map_get(&ex->pending_saves, spec->restore_dir)) {
      /* The save that makes this checkpoint is still under way elsewhere. */
      t->waiting_restore = tune_xstrdup(spec->restore_dir);
      t->waiting_restore_persistent = spec->restore_persistent;
    } else {
      tune__send_restore(ex, t, spec->restore_dir, spec->restore_persistent);
      if (!spec->restore_persistent) tune__send_train(ex, t, spec->batch_cap);
    }
  } else {
    tune__send_train(ex, t, spec->batch_cap);
  }
  if (w) tune_worker_uncork(w);
  /* While the worker starts, not between its result and the next request. */
  tune_loggers_open(&ex->loggers, t->id, t->logdir, spec->logs_made, spec->log_fds);
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Requests on running trials                                               */
/* ------------------------------------------------------------------------ */

static size_t buffer_length(tune_executor_t *ex, const tune_trial_t *t, int64_t cap) {
  long n = ex->o.result_buffer_length;
  if (n < 1) n = 1;
  if (n > 1 && t->checkpoint_at_end) n = 1;
  if (t->checkpoint_freq > 0 && n > t->checkpoint_freq) n = t->checkpoint_freq;
  if (cap > 0 && n > cap) n = (long)cap;
  return (size_t)n;
}

void tune__send_train(tune_executor_t *ex, tune_trial_t *t, int64_t cap) {
  if (!t->worker || t->train_inflight) return;
  size_t n = buffer_length(ex, t, cap);
  /* Ray: window = max(min_time, min(max_time, running // 10)). */
  double window = floor((double)ex->nrunning / 10.0);
  if (window > ex->o.result_buffer_max_time_s) window = ex->o.result_buffer_max_time_s;
  if (window < ex->o.result_buffer_min_time_s) window = ex->o.result_buffer_min_time_s;
  if (tune_worker_train(t->worker, t, (int64_t)n, n > 1 ? window : 0)) t->train_inflight = 1;
}

void tune__send_restore(tune_executor_t *ex, tune_trial_t *t, const char *dir, int persistent) {
  (void)ex;
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "dir", dir);
  cJSON *meta = tune_ckpt_read_meta(dir);
  cJSON_AddNumberToObject(body, "iteration", tune_json_get_number(meta, "training_iteration", 0));
  cJSON_Delete(meta);
  tune_req_t *r = t->worker ? tune_worker_request(t->worker, TUNE_REQ_RESTORE, t, body) : (cJSON_Delete(body), NULL);
  if (r) {
    r->dir = tune_xstrdup(dir);
    r->persistent = persistent;
  }
}

int tune_executor_continue(tune_executor_t *ex, const char *trial_id, int64_t cap) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  /* The cap is this request's only: a train sent later by the executor
     itself (after a restore) asks for a whole batch. */
  if (!t->waiting_restore) tune__send_train(ex, t, cap);
  return 0;
}

int tune_executor_save(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  /* The checkpoint may reach the disk before the journal knows it (resume
     then finds it): the rows up to it must be there first, those already
     logged now and the batch being decided at its commit. */
  tune_loggers_sync(&ex->loggers);
  ex->loggers.flush_next = 1;
  char *tmp = tune_ckpt_tmp_path(dir);
  int rc = tune_fs_mkdir_p(tmp);
  if (rc < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "could not create checkpoint directory %s: %s", tmp, strerror(-rc));
    tune__push_error(ex, t, msg, NULL);
    free(tmp);
    return 0;
  }
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "dir", tmp);
  cJSON_AddBoolToObject(body, "persistent", persistent);
  tune_req_t *r = tune_worker_request(t->worker, TUNE_REQ_SAVE, t, body);
  if (!r) {
    tune_fs_remove_tree(tmp);
    free(tmp);
    return -1;
  }
  r->tmp_dir = tmp;
  r->dir = tune_xstrdup(dir);
  r->persistent = persistent;
  r->log_attempt = tune_loggers_attempt(&ex->loggers, t->id);
  tune_map_put(&ex->pending_saves, dir, (void *)1);
  return 0;
}

int tune_executor_restore(tune_executor_t *ex, const char *trial_id, const char *dir, int persistent) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  tune__send_restore(ex, t, dir, persistent);
  return 0;
}

int tune_executor_reset(tune_executor_t *ex, const char *trial_id, const cJSON *config, const char *tag) {
  tune_trial_t *t = active_record(ex, trial_id);
  if (!t || !t->worker) return -1;
  if (!t->resettable) return 0;
  tune_trial_set_config(t, config, tag);
  return tune_worker_request(t->worker, TUNE_REQ_RESET, t, start_body(t)) ? 1 : -1;
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
  tune_trial_t *t = tune__record(ex, trial_id);
  tune_pgm_unmark_staged(&ex->pgm, trial_id);
  if (!t || !t->active) return;
  t->active = 0;
  /* Its log files close with it (a paused trial reopens them). */
  tune_loggers_close(&ex->loggers, trial_id);
  ex->nrunning--;
  tune_worker_t *w = t->worker;
  tune_pg_t *pg = tune_pgm_in_use(&ex->pgm, trial_id);
  int resettable = t->resettable;
  tune_map_del(&ex->trials, trial_id);
  tune_trial_unref(t); /* the map's reference; the worker may hold another */
  if (w && ex->o.reuse_actors && resettable && !error && w->proc && !w->fault && !w->stopping && pg) {
    /* Keep the worker and its group for the next trial (Ray's actor cache). */
    tune_worker_attach(w, NULL);
    tune_pgm_cache(&ex->pgm, pg, w);
    return;
  }
  if (w) {
    /* The worker stays attached: its cleanup output keeps the trial's name
       and log files, and results it still sends are counted, not delivered. */
    if (pg) tune_pgm_to_stopping(&ex->pgm, pg, w);
    w->pg = pg;
    tune_worker_stop(w, ex->o.force_trial_cleanup_s);
  } else if (pg) {
    tune_pgm_remove(&ex->pgm, pg);
  }
}

void tune__drop_cached(tune_executor_t *ex, tune_pg_t *pg) {
  tune_worker_t *w = pg->payload;
  if (w) {
    tune_pgm_to_stopping(&ex->pgm, pg, w);
    w->pg = pg;
    tune_worker_stop(w, ex->o.force_trial_cleanup_s);
  } else {
    tune_pgm_remove(&ex->pgm, pg);
  }
}

void tune_executor_trim_cache(tune_executor_t *ex, int (*needed)(tune_pgf_entry_t *fe, void *ud), void *ud) {
  for (size_t k = 0; k < ex->pgm.nfactories; k++) {
    tune_pgf_entry_t *fe = ex->pgm.order[k];
    while (fe->cached.head && !needed(fe, ud)) tune__drop_cached(ex, fe->cached.head);
  }
}

/* ------------------------------------------------------------------------ */
/* Logging what the runner accepted                                         */
/* ------------------------------------------------------------------------ */

int tune_executor_commit(tune_executor_t *ex, const char *trial_id, size_t n, int stopped) {
  tune_trial_t *t = ex->delivered;
  if (!t || !ex->delivered_batch || strcmp(t->id, trial_id)) return -1;
  tune_log_target_t target = {t->id, t->name, t->logdir, t->tag, t->config, t->config_gen};
  tune_loggers_write(&ex->loggers, &target, ex->delivered_batch, n, stopped);
  /* Committed once: a second commit of the same batch logs nothing. Its
     last result is kept, for a "finished" that may follow. */
  tune_trial_keep_last(t, ex->delivered_batch);
  cJSON_Delete(ex->delivered_batch);
  ex->delivered_batch = NULL;
  return 0;
}

void tune_executor_set_loggers(tune_executor_t *ex, int json, int csv) {
  ex->loggers.json = json;
  ex->loggers.csv = csv;
}

int tune_executor_set_event_stream(tune_executor_t *ex, const char *target) {
  return tune_loggers_set_events(&ex->loggers, target);
}

void tune_executor_write_event(tune_executor_t *ex, const char *line, size_t len) {
  tune_loggers_write_event(&ex->loggers, line, len);
}

void tune_executor_forget_logs(tune_executor_t *ex, const char *trial_id) { tune_loggers_forget(&ex->loggers, trial_id); }

/// The journal's flushes go through the loggers' writer, in one order with
/// the rows (a journal written at once could pass rows still queued). The
/// handle holds it until it closes; a Lua state has one such service, so a
/// handle given to several executors gets the same one.
static void journal_writer(tune_executor_t *ex) {
  tune_appendbuf_t *j = ex->loggers.ahead;
  if (j && ex->loggers.writer && !j->writer) j->writer = tune_fsprep_retain(ex->loggers.writer);
}

void tune_executor_set_journal(tune_executor_t *ex, tune_appendbuf_t *journal) {
  ex->loggers.ahead = journal;
  journal_writer(ex);
}

void tune_executor_set_writer(tune_executor_t *ex, tune_fsprep_t *writer) {
  if (ex->loggers.writer) return;
  ex->loggers.writer = tune_fsprep_retain(writer);
  journal_writer(ex);
}
