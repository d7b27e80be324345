#include "trial.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "json.h"

static char *dup_or_null(const char *s) { return s ? tune_xstrdup(s) : NULL; }

tune_trial_t *tune_trial_new(const tune_trial_spec_t *s) {
  tune_trial_t *t = tune_xcalloc(1, sizeof *t);
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
  free(t->waiting_restore);
  free(t);
}

void tune_trial_set_config(tune_trial_t *t, const cJSON *config, const char *tag) {
  if (config) {
    cJSON_Delete(t->config);
    t->config = cJSON_Duplicate(config, 1);
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

static int has(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k) != NULL; }

static void set_default(cJSON *o, const char *k, cJSON *v) {
  if (has(o, k)) cJSON_Delete(v);
  else cJSON_AddItemToObject(o, k, v);
}

static void add_time_fields(cJSON *o, double ts) {
  time_t secs = (time_t)ts;
  struct tm tm;
  char date[32];
  localtime_r(&secs, &tm);
  strftime(date, sizeof date, "%Y-%m-%d_%H-%M-%S", &tm);
  tune_json_set(o, "date", cJSON_CreateString(date));
  tune_json_set(o, "timestamp", tune_json_new_int((int64_t)secs));
}

static void add_proc_fields(cJSON *o, const tune_trial_t *t, const tune_proc_info_t *info) {
  tune_json_set(o, "pid", tune_json_new_int(info->pid));
  tune_json_set(o, "hostname", cJSON_CreateString(info->hostname ? info->hostname : ""));
  tune_json_set(o, "node_ip", cJSON_CreateString(info->node_ip ? info->node_ip : ""));
  tune_json_set(o, "trial_id", cJSON_CreateString(t->id));
  tune_json_set(o, "experiment_id", cJSON_CreateString(t->experiment_id));
}

cJSON *tune_trial_fill_result(tune_trial_t *t, cJSON *r, double dt, double ts, const tune_proc_info_t *info) {
  t->iteration++;
  t->iterations_since_restore++;
  double this_iter = tune_json_get_number(r, "time_this_iter_s", NAN);
  if (isnan(this_iter)) this_iter = dt;
  t->time_total += this_iter;
  t->time_since_restore += this_iter;
  set_default(r, "done", cJSON_CreateFalse());
  const cJSON *tsi = cJSON_GetObjectItemCaseSensitive(r, "timesteps_this_iter");
  if (cJSON_IsNumber(tsi)) {
    t->has_timesteps = 1;
    t->timesteps_total += tsi->valuedouble;
    t->timesteps_since_restore += tsi->valuedouble;
  }
  const cJSON *epi = cJSON_GetObjectItemCaseSensitive(r, "episodes_this_iter");
  if (cJSON_IsNumber(epi)) {
    t->has_episodes = 1;
    t->episodes_total += epi->valuedouble;
  }
  if (t->has_timesteps) set_default(r, "timesteps_total", number(t->timesteps_total));
  if (t->has_episodes) set_default(r, "episodes_total", number(t->episodes_total));
  set_default(r, "training_iteration", tune_json_new_int(t->iteration));
  const cJSON *ml = cJSON_GetObjectItemCaseSensitive(r, "mean_loss");
  if (cJSON_IsNumber(ml) && ml->valuedouble != 0) set_default(r, "neg_mean_loss", cJSON_CreateNumber(-ml->valuedouble));
  add_time_fields(r, ts);
  tune_json_set(r, "time_this_iter_s", cJSON_CreateNumber(this_iter));
  tune_json_set(r, "time_total_s", cJSON_CreateNumber(t->time_total));
  add_proc_fields(r, t, info);
  tune_json_set(r, "time_since_restore", cJSON_CreateNumber(t->time_since_restore));
  tune_json_set(r, "timesteps_since_restore", number(t->timesteps_since_restore));
  tune_json_set(r, "iterations_since_restore", tune_json_new_int(t->iterations_since_restore));
  tune_json_set(r, "experiment_tag", cJSON_CreateString(t->tag));
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
