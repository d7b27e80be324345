#include "trial.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "json.h"

static char *dup_or_null(const char *s) { return s ? tune_xstrdup(s) : NULL; }

/* Config generations, unique in the process: a trial started again (a new
   record, PBT's exploit without reuse) must not look like its old config
   to the loggers, which keep the last one's text by generation. */
static unsigned next_config_gen;

tune_trial_t *tune_trial_new(const tune_trial_spec_t *s) {
  tune_trial_t *t = tune_xcalloc(1, sizeof *t);
  t->config_gen = ++next_config_gen;
  t->refs = 1;
  t->id = tune_xstrdup(s->trial_id);
  t->name = tune_xstrdup(s->name ? s->name : s->trial_id);
  t->logdir = tune_xstrdup(s->logdir);
  t->tag = tune_xstrdup(s->experiment_tag ? s->experiment_tag : "");
  t->experiment_id = tune_xstrdup(s->experiment_id ? s->experiment_id : "");
  t->config = s->config ? cJSON_Duplicate(s->config, 1) : cJSON_CreateObject();
  t->loader = s->loader ? cJSON_Duplicate(s->loader, 1) : cJSON_CreateObject();
  t->loader_key = tune_xstrdup(s->loader_key ? s->loader_key : "");
  t->resettable = s->resettable;
  t->fe = s->fe;
  t->checkpoint_at_end = s->checkpoint_at_end;
  t->checkpoint_freq = s->checkpoint_freq;
  t->stdout_file = dup_or_null(s->stdout_file);
  t->stderr_file = dup_or_null(s->stderr_file);
  return t;
}

tune_trial_t *tune_trial_ref(tune_trial_t *t) {
  t->refs++;
  return t;
}

void tune_trial_unref(tune_trial_t *t) {
  if (!t || --t->refs > 0) return;
  free(t->id);
  free(t->name);
  free(t->logdir);
  free(t->tag);
  free(t->experiment_id);
  cJSON_Delete(t->config);
  cJSON_Delete(t->loader);
  free(t->loader_key);
  free(t->stdout_file);
  free(t->stderr_file);
  cJSON_Delete(t->last_result);
  cJSON_Delete(t->bundles);
  free(t->waiting_restore);
  free(t);
}

void tune_trial_set_config(tune_trial_t *t, const cJSON *config, const char *tag) {
  if (config) {
    cJSON_Delete(t->config);
    t->config = cJSON_Duplicate(config, 1);
    t->config_gen = ++next_config_gen;
  }
  if (tag) {
    free(t->tag);
    t->tag = tune_xstrdup(tag);
  }
}

void tune_trial_counters_reset(tune_trial_t *t) {
  t->iteration = t->iterations_since_restore = 0;
  t->time_total = t->time_since_restore = 0;
  t->has_timesteps = t->has_episodes = 0;
  t->timesteps_total = t->timesteps_since_restore = t->episodes_total = 0;
}

/// An integral double as an integer item, otherwise a float item.
static cJSON *number(double v) {
  if (v == floor(v) && fabs(v) < 9007199254740992.0) return tune_json_new_int((int64_t)v);
  return cJSON_CreateNumber(v);
}

cJSON *tune_trial_counters_json(const tune_trial_t *t) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddItemToObject(m, "training_iteration", tune_json_new_int(t->iteration));
  cJSON_AddItemToObject(m, "time_total_s", cJSON_CreateNumber(t->time_total));
  if (t->has_timesteps) cJSON_AddItemToObject(m, "timesteps_total", number(t->timesteps_total));
  if (t->has_episodes) cJSON_AddItemToObject(m, "episodes_total", number(t->episodes_total));
  return m;
}

void tune_trial_counters_restore(tune_trial_t *t, const cJSON *meta) {
  tune_trial_counters_reset(t);
  t->iteration = (int64_t)tune_json_get_number(meta, "training_iteration", 0);
  t->time_total = tune_json_get_number(meta, "time_total_s", 0);
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(meta, "timesteps_total");
  if (cJSON_IsNumber(ts)) {
    t->has_timesteps = 1;
    t->timesteps_total = ts->valuedouble;
  }
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(meta, "episodes_total");
  if (cJSON_IsNumber(ep)) {
    t->has_episodes = 1;
    t->episodes_total = ep->valuedouble;
  }
}

/* The keys the driver adds are string literals, linked without a copy
   (cJSON_AddItemToObjectCS): a result is made per iteration. */
const char *const tune_result_keys[TUNE_RK_N] = {
    "done", "timesteps_total", "episodes_total", "training_iteration",
    "neg_mean_loss", "date", "timestamp", "time_this_iter_s",
    "time_total_s", "pid", "hostname", "node_ip",
    "trial_id", "experiment_id", "time_since_restore", "timesteps_since_restore",
    "iterations_since_restore", "experiment_tag"};
#define RK(name) tune_result_keys[TUNE_RK_##name]

/// The date text of whole second `secs`, cached: results arrive many per second.
static const char *date_text(time_t secs) {
  static time_t cached = -1;
  static char text[32];
  if (secs != cached) {
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(text, sizeof text, "%Y-%m-%d_%H-%M-%S", &tm);
    cached = secs;
  }
  return text;
}

static void add_time_fields(cJSON *o, double ts) {
  time_t secs = (time_t)ts;
  cJSON_AddItemToObjectCS(o, RK(DATE), cJSON_CreateString(date_text(secs)));
  cJSON_AddItemToObjectCS(o, RK(TIMESTAMP), tune_json_new_int((int64_t)secs));
}

static void add_proc_fields(cJSON *o, const tune_trial_t *t, const tune_proc_info_t *info) {
  cJSON_AddItemToObjectCS(o, RK(PID), tune_json_new_int(info->pid));
  cJSON_AddItemToObjectCS(o, RK(HOSTNAME), cJSON_CreateString(info->hostname ? info->hostname : ""));
  cJSON_AddItemToObjectCS(o, RK(NODE_IP), cJSON_CreateString(info->node_ip ? info->node_ip : ""));
  cJSON_AddItemToObjectCS(o, RK(TRIAL_ID), cJSON_CreateString(t->id));
  cJSON_AddItemToObjectCS(o, RK(EXPERIMENT_ID), cJSON_CreateString(t->experiment_id));
}

/* Keys the driver fills. Ray overwrites some (result.update) and only
   defaults others (result.setdefault): a report may set those itself. */
enum {
  K_DONE, K_TIME_THIS_ITER, K_TS_THIS_ITER, K_EP_THIS_ITER, K_TS_TOTAL, K_EP_TOTAL, K_ITERATION,
  K_MEAN_LOSS, K_NEG_MEAN_LOSS, K_NDEFAULT
};
static const char *const default_keys[K_NDEFAULT] = {
    "done", "time_this_iter_s", "timesteps_this_iter", "episodes_this_iter", "timesteps_total",
    "episodes_total", "training_iteration", "mean_loss", "neg_mean_loss"};
static const char *const overwritten_keys[] = {
    "date", "timestamp", "time_total_s", "pid", "hostname", "node_ip", "trial_id", "experiment_id",
    "time_since_restore", "timesteps_since_restore", "iterations_since_restore", "experiment_tag",
    /* The trial's own config is added where results are written (below). */
    "config"};

static int key_is(const char *k, size_t len, const char *name) {
  return k[0] == name[0] && strlen(name) == len && !strncmp(k, name, len);
}

int tune_result_key_is_filled(const char *k, size_t len) {
  /* The keys fill_result adds, and the config added where results are written. */
  for (int i = 0; i < TUNE_RK_N; i++)
    if (key_is(k, len, tune_result_keys[i])) return 1;
  return key_is(k, len, "config");
}

cJSON *tune_trial_fill_result(tune_trial_t *t, cJSON *r, double dt, double ts, const tune_proc_info_t *info) {
  /* One pass over what the trainable reported. */
  cJSON *found[K_NDEFAULT] = {0};
  for (cJSON *c = r->child, *next; c; c = next) {
    next = c->next;
    const char *k = c->string;
    if (k[0] == '\0') continue;
    int hit = 0;
    for (int i = 0; i < K_NDEFAULT && !hit; i++)
      if (k[0] == default_keys[i][0] && !strcmp(k, default_keys[i])) found[i] = c, hit = 1;
    for (size_t i = 0; i < sizeof overwritten_keys / sizeof *overwritten_keys && !hit; i++)
      if (k[0] == overwritten_keys[i][0] && !strcmp(k, overwritten_keys[i])) {
        cJSON_Delete(cJSON_DetachItemViaPointer(r, c));
        hit = 1;
      }
  }
  t->iteration++;
  t->iterations_since_restore++;
  double this_iter = cJSON_IsNumber(found[K_TIME_THIS_ITER]) ? found[K_TIME_THIS_ITER]->valuedouble : dt;
  t->time_total += this_iter;
  t->time_since_restore += this_iter;
  if (!found[K_DONE]) cJSON_AddItemToObjectCS(r, RK(DONE), cJSON_CreateFalse());
  if (cJSON_IsNumber(found[K_TS_THIS_ITER])) {
    t->has_timesteps = 1;
    t->timesteps_total += found[K_TS_THIS_ITER]->valuedouble;
    t->timesteps_since_restore += found[K_TS_THIS_ITER]->valuedouble;
  }
  if (cJSON_IsNumber(found[K_EP_THIS_ITER])) {
    t->has_episodes = 1;
    t->episodes_total += found[K_EP_THIS_ITER]->valuedouble;
  }
  if (t->has_timesteps && !found[K_TS_TOTAL])
    cJSON_AddItemToObjectCS(r, RK(TIMESTEPS_TOTAL), number(t->timesteps_total));
  if (t->has_episodes && !found[K_EP_TOTAL]) cJSON_AddItemToObjectCS(r, RK(EPISODES_TOTAL), number(t->episodes_total));
  if (!found[K_ITERATION]) cJSON_AddItemToObjectCS(r, RK(TRAINING_ITERATION), tune_json_new_int(t->iteration));
  if (cJSON_IsNumber(found[K_MEAN_LOSS]) && found[K_MEAN_LOSS]->valuedouble != 0 && !found[K_NEG_MEAN_LOSS])
    cJSON_AddItemToObjectCS(r, RK(NEG_MEAN_LOSS), cJSON_CreateNumber(-found[K_MEAN_LOSS]->valuedouble));
  add_time_fields(r, ts);
  if (found[K_TIME_THIS_ITER]) cJSON_Delete(cJSON_DetachItemViaPointer(r, found[K_TIME_THIS_ITER]));
  cJSON_AddItemToObjectCS(r, RK(TIME_THIS_ITER_S), cJSON_CreateNumber(this_iter));
  cJSON_AddItemToObjectCS(r, RK(TIME_TOTAL_S), cJSON_CreateNumber(t->time_total));
  add_proc_fields(r, t, info);
  cJSON_AddItemToObjectCS(r, RK(TIME_SINCE_RESTORE), cJSON_CreateNumber(t->time_since_restore));
  cJSON_AddItemToObjectCS(r, RK(TIMESTEPS_SINCE_RESTORE), number(t->timesteps_since_restore));
  cJSON_AddItemToObjectCS(r, RK(ITERATIONS_SINCE_RESTORE), tune_json_new_int(t->iterations_since_restore));
  cJSON_AddItemToObjectCS(r, RK(EXPERIMENT_TAG), cJSON_CreateString(t->tag));
  /* "config" is added where results are written and converted, not copied
     into every result here (docs/architecture.md, "Result hot path"). */
  return r;
}

cJSON *tune_trial_default_result(const tune_trial_t *t, const tune_proc_info_t *info) {
  cJSON *r = cJSON_CreateObject();
  add_proc_fields(r, t, info);
  add_time_fields(r, (double)time(NULL));
  return r;
}

cJSON *tune_trial_last_of(cJSON *batch) {
  cJSON *r = batch ? batch->child : NULL;
  if (!r) return NULL;
  r = r->prev; /* cJSON keeps the last item as the first one's prev */
  if (cJSON_IsTrue(tune_json_get(r, "__duplicate__"))) r = r == batch->child ? NULL : r->prev;
  return r;
}

void tune_trial_keep_last(tune_trial_t *t, cJSON *batch) {
  cJSON *r = tune_trial_last_of(batch);
  if (!r) return;
  cJSON_Delete(t->last_result);
  t->last_result = cJSON_DetachItemViaPointer(batch, r);
}
