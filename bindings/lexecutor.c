/// `tune.core` executor userdata: the C executor seen from Lua. The Lua
/// TrialExecutor (lua/tune/executor.lua) wraps it with Trial objects.
/// Methods raise on programmer errors (bad arguments, a closed executor)
/// and return nil, message on run-time failures.
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "executor.h"
#include "json.h"
#include "lbind.h"
#include "lconv.h"
#include "loggers.h"
#include "signals.h"

#define EXECUTOR_MT "tune.core.executor"

typedef struct {
  tune_executor_t *ex;        ///< NULL once closed
  tune_loggers_t *loggers;    ///< the result sink, or NULL; freed after ex
} lexecutor_t;

static tune_executor_t *check_ex(lua_State *L) {
  lexecutor_t *u = luaL_checkudata(L, 1, EXECUTOR_MT);
  if (!u->ex) luaL_error(L, "attempt to use a closed executor");
  return u->ex;
}

static double opt_number(lua_State *L, int idx, const char *key, double dflt) {
  lua_getfield(L, idx, key);
  double v = luaL_optnumber(L, -1, dflt);
  lua_pop(L, 1);
  return v;
}

static const char *opt_string(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1); /* the string stays alive: it is referenced by the options table */
  return s;
}

/// core.executor_new{resources = {...}, gpu_ids = {...}, worker_path = ...,
/// result_buffer_length = ..., ...}
static int l_executor_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  tune_executor_opts_t o;
  tune_executor_opts_default(&o);
  o.result_buffer_length = (int)opt_number(L, 1, "result_buffer_length", o.result_buffer_length);
  o.result_buffer_min_time_s = opt_number(L, 1, "result_buffer_min_time_s", o.result_buffer_min_time_s);
  o.result_buffer_max_time_s = opt_number(L, 1, "result_buffer_max_time_s", o.result_buffer_max_time_s);
  o.force_trial_cleanup_s = opt_number(L, 1, "force_trial_cleanup_s", o.force_trial_cleanup_s);
  o.max_pending_trials_pg = (size_t)opt_number(L, 1, "max_pending_trials_pg", (double)o.max_pending_trials_pg);
  o.max_message_bytes = (size_t)opt_number(L, 1, "max_message_bytes", (double)o.max_message_bytes);
  lua_getfield(L, 1, "reuse_actors");
  o.reuse_actors = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "prestart_workers");
  o.prestart_workers = lua_toboolean(L, -1);
  lua_pop(L, 1);
  o.worker_path = opt_string(L, 1, "worker_path");
  if (!o.worker_path) return luaL_error(L, "executor_new: worker_path is required");
  o.orig_cwd = opt_string(L, 1, "orig_cwd");
  o.console_fd[0] = (int)opt_number(L, 1, "console_stdout_fd", o.console_fd[0]);
  o.console_fd[1] = (int)opt_number(L, 1, "console_stderr_fd", o.console_fd[1]);

  const char *args[16] = {0};
  lua_getfield(L, 1, "worker_args");
  if (lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n && i < 16; i++) {
      lua_rawgeti(L, -1, i);
      args[i - 1] = luaL_checkstring(L, -1);
      lua_pop(L, 1);
    }
  }
  o.worker_args = args;

  lua_getfield(L, 1, "resources");
  cJSON *rj = tune_lua_check_json(L, -1, "resources");
  tune_res_t res;
  char err[256];
  int bad = tune_res_from_json(rj, &res, err, sizeof err);
  cJSON_Delete(rj);
  if (bad) return luaL_error(L, "resources: %s", err);
  const char *ids[256];
  size_t nids = 0;
  lua_getfield(L, 1, "gpu_ids");
  if (lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n && nids < 256; i++) {
      lua_rawgeti(L, -1, i);
      ids[nids++] = luaL_checkstring(L, -1);
      lua_pop(L, 1);
    }
  }
  tune_local_opts_t lo = {&res, ids, nids};
  lexecutor_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->ex = NULL;
  u->loggers = NULL;
  luaL_setmetatable(L, EXECUTOR_MT);
  tune_backend_t *b = tune_backend_local_new(&lo);
  tune_res_free(&res);
  u->ex = tune_executor_new(&o, b);
  return 1;
}

/// The factory entry for a Lua PlacementGroupFactory object (fields `_key`
/// and `_spec`), interned on first use.
static tune_pgf_entry_t *check_pgf(lua_State *L, tune_executor_t *ex, int idx) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "_key");
  const char *key = lua_tostring(L, -1);
  tune_pgf_entry_t *fe = key ? tune_pgm_lookup(tune_executor_pgm(ex), key) : NULL;
  lua_pop(L, 1);
  if (fe) return fe;
  lua_getfield(L, idx, "_spec");
  cJSON *spec = tune_lua_check_json(L, -1, "placement group factory");
  lua_pop(L, 1);
  char err[512];
  tune_pgf_t *f = tune_pgf_from_json(spec, err, sizeof err);
  cJSON_Delete(spec);
  if (!f) luaL_error(L, "%s", err);
  return tune_pgm_intern(tune_executor_pgm(ex), f);
}

/// ex:feasible(pgf) -> true | false, message
static int l_feasible(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  tune_pgf_entry_t *fe = check_pgf(L, ex, 2);
  char err[1024];
  if (tune_cluster_feasible(&tune_executor_backend(ex)->cluster, fe->pgf, err, sizeof err) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, err);
  return 2;
}

/// ex:start(spec) -> 1 | 0 | -1, message
static int l_start(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  tune_trial_spec_t s;
  memset(&s, 0, sizeof s);
  s.trial_id = opt_string(L, 2, "trial_id");
  s.logdir = opt_string(L, 2, "logdir");
  if (!s.trial_id || !s.logdir) return luaL_error(L, "start: trial_id and logdir are required");
  s.name = opt_string(L, 2, "name");
  s.experiment_tag = opt_string(L, 2, "experiment_tag");
  s.experiment_id = opt_string(L, 2, "experiment_id");
  s.loader_key = opt_string(L, 2, "loader_key");
  s.restore_dir = opt_string(L, 2, "restore_dir");
  s.stdout_file = opt_string(L, 2, "stdout_file");
  s.stderr_file = opt_string(L, 2, "stderr_file");
  s.restore_persistent = lua_getfield(L, 2, "restore_persistent") != LUA_TNIL && lua_toboolean(L, -1);
  s.resettable = lua_getfield(L, 2, "resettable") != LUA_TNIL && lua_toboolean(L, -1);
  s.checkpoint_at_end = lua_getfield(L, 2, "checkpoint_at_end") != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 3);
  s.checkpoint_freq = (int)opt_number(L, 2, "checkpoint_freq", 0);
  lua_getfield(L, 2, "pgf");
  s.fe = check_pgf(L, ex, -1);
  lua_pop(L, 1);
  lua_getfield(L, 2, "config");
  cJSON *config = tune_lua_check_json(L, -1, "config");
  lua_pop(L, 1);
  lua_getfield(L, 2, "loader");
  char err[1024];
  cJSON *loader = tune_lua_to_json(L, -1, err, sizeof err);
  lua_pop(L, 1);
  if (!loader) {
    cJSON_Delete(config);
    return luaL_error(L, "trainable: %s", err);
  }
  s.config = config;
  s.loader = loader;
  int rc = tune_executor_start(ex, &s, err, sizeof err);
  cJSON_Delete(config);
  cJSON_Delete(loader);
  lua_pushinteger(L, rc);
  if (rc < 0) {
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static int l_continue(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, tune_executor_continue(ex, luaL_checkstring(L, 2)) == 0);
  return 1;
}

static int l_save(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  int rc = tune_executor_save(ex, luaL_checkstring(L, 2), luaL_checkstring(L, 3), lua_toboolean(L, 4));
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_restore(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  int rc = tune_executor_restore(ex, luaL_checkstring(L, 2), luaL_checkstring(L, 3), lua_toboolean(L, 4));
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_reset(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  const char *id = luaL_checkstring(L, 2);
  cJSON *config = tune_lua_check_json(L, 3, "config");
  const char *tag = luaL_optstring(L, 4, NULL);
  int rc = tune_executor_reset(ex, id, config, tag);
  cJSON_Delete(config);
  lua_pushinteger(L, rc);
  return 1;
}

static int l_stop(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  tune_executor_stop(ex, luaL_checkstring(L, 2), lua_toboolean(L, 3));
  return 0;
}

static int l_is_running(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, tune_executor_is_running(ex, luaL_checkstring(L, 2)));
  return 1;
}

static int l_default_result(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  cJSON *r = tune_executor_default_result(ex, luaL_checkstring(L, 2));
  if (!r) return 0;
  tune_lua_push_json(L, r, NULL);
  cJSON_Delete(r);
  return 1;
}

/// ex:next_event(next_trial_exists, timeout) -> {type=..., trial_id=..., ...}
static int l_next_event(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  int next = lua_toboolean(L, 2);
  double timeout = luaL_optnumber(L, 3, 5.0);
  tune_event_t *ev = tune_executor_next_event(ex, next, timeout);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, tune_event_type_name(ev->type));
  lua_setfield(L, -2, "type");
  if (ev->trial_id) {
    lua_pushstring(L, ev->trial_id);
    lua_setfield(L, -2, "trial_id");
  }
  if (ev->results) {
    int n = cJSON_GetArraySize(ev->results);
    lua_createtable(L, n, 0);
    int i = 1;
    for (const cJSON *r = ev->results->child; r; r = r->next) {
      tune_lua_push_json(L, r, NULL);
      lua_rawseti(L, -2, i++);
    }
    lua_setfield(L, -2, "results");
  }
  if (ev->checkpoint_dir) {
    lua_pushstring(L, ev->checkpoint_dir);
    lua_setfield(L, -2, "checkpoint_dir");
  }
  if (ev->error) {
    lua_pushstring(L, ev->error);
    lua_setfield(L, -2, "error");
  }
  if (ev->traceback) {
    lua_pushstring(L, ev->traceback);
    lua_setfield(L, -2, "traceback");
  }
  tune_event_free(ev);
  return 1;
}

static int l_poll(lua_State *L) {
  tune_executor_poll(check_ex(L));
  return 0;
}

/// ex:stage(trial_id, pgf) -> "staged" | "already" | false
static int l_stage(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  const char *id = luaL_checkstring(L, 2);
  tune_pgf_entry_t *fe = check_pgf(L, ex, 3);
  int rc = tune_pgm_stage_trial(tune_executor_pgm(ex), id, fe);
  if (rc == 1) lua_pushliteral(L, "staged");
  else if (rc == 2) lua_pushliteral(L, "already");
  else lua_pushboolean(L, 0);
  return 1;
}

static int l_update(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushinteger(L, (lua_Integer)tune_pgm_update(tune_executor_pgm(ex)));
  return 1;
}

static int l_has_ready(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, check_pgf(L, ex, 2)->ready.n > 0);
  return 1;
}

static int l_has_cached(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, check_pgf(L, ex, 2)->cached.n > 0);
  return 1;
}

static int l_is_staged(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, tune_pgm_is_staged(tune_executor_pgm(ex), luaL_checkstring(L, 2)));
  return 1;
}

static int l_can_stage(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_pushboolean(L, tune_pgm_can_stage(tune_executor_pgm(ex)));
  return 1;
}

static int l_set_max_pending(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "must be at least 1");
  tune_executor_set_max_pending(ex, (size_t)n);
  return 0;
}

/// ex:reconcile({{trial_id, pgf, expected}, ...})
static int l_reconcile(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  tune_pgm_trial_t *items = tune_xcalloc((size_t)n + 1, sizeof *items);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    lua_rawgeti(L, -1, 1);
    items[i - 1].trial_id = lua_tostring(L, -1); /* anchored by the argument table */
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 2);
    items[i - 1].fe = check_pgf(L, ex, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 3);
    items[i - 1].expected = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (!items[i - 1].trial_id) {
      free(items);
      return luaL_error(L, "reconcile: item %d has no trial id", (int)i);
    }
  }
  tune_pgm_reconcile(tune_executor_pgm(ex), items, (size_t)n);
  free(items);
  return 0;
}

static int l_counts(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  tune_pgm_counts_t c;
  tune_pgm_counts(tune_executor_pgm(ex), &c);
  tune_executor_stats_t s;
  tune_executor_stats(ex, &s);
  lua_createtable(L, 0, 10);
#define SET(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
  SET("staging", c.staging);
  SET("ready", c.ready);
  SET("in_use", c.in_use);
  SET("cached", c.cached);
  SET("stopping", c.stopping);
  SET("workers", s.workers);
  SET("running", s.running);
  SET("events", s.events);
  SET("spawned", s.spawned);
  SET("standby", s.standby);
#undef SET
  return 1;
}

/// ex:trim_cache({[pgf_key] = n_needed, ...})
typedef struct {
  lua_State *L;
  int idx;
} trim_ud_t;

static int trim_needed(tune_pgf_entry_t *fe, void *ud) {
  trim_ud_t *t = ud;
  lua_getfield(t->L, t->idx, fe->pgf->key);
  lua_Integer n = lua_tointeger(t->L, -1);
  lua_pop(t->L, 1);
  return n > (lua_Integer)fe->cached.n - 1;
}

static int l_trim_cache(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  trim_ud_t t = {L, 2};
  tune_executor_trim_cache(ex, trim_needed, &t);
  return 0;
}

static void push_res(lua_State *L, const tune_res_t *r) {
  cJSON *j = tune_res_to_json(r);
  tune_lua_push_json(L, j, NULL);
  cJSON_Delete(j);
}

/// ex:resources() -> total, available
static int l_resources(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  tune_res_t total, avail;
  tune_cluster_total(&tune_executor_backend(ex)->cluster, &total, 0);
  tune_cluster_total(&tune_executor_backend(ex)->cluster, &avail, 1);
  push_res(L, &total);
  push_res(L, &avail);
  tune_res_free(&total);
  tune_res_free(&avail);
  return 2;
}

/// ex:set_loggers{json = bool, csv = bool}: results are written to each
/// trial's result.json / progress.csv in C as they arrive.
static int l_set_loggers(lua_State *L) {
  tune_executor_t *ex = check_ex(L);
  lexecutor_t *u = lua_touserdata(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int json = lua_getfield(L, 2, "json") != LUA_TNIL && lua_toboolean(L, -1);
  int csv = lua_getfield(L, 2, "csv") != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 2);
  if (!u->loggers) {
    u->loggers = tune_xcalloc(1, sizeof *u->loggers);
    tune_loggers_init(u->loggers, json, csv);
  }
  u->loggers->json = json;
  u->loggers->csv = csv;
  tune_executor_set_result_sink(ex, (json || csv) ? tune_loggers_sink : NULL, u->loggers);
  return 0;
}

/// ex:forget_logs(trial_id): the trial's CSV columns are read again from
/// its file if it logs again.
static int l_forget_logs(lua_State *L) {
  check_ex(L);
  lexecutor_t *u = lua_touserdata(L, 1);
  if (u->loggers) tune_loggers_forget(u->loggers, luaL_checkstring(L, 2));
  return 0;
}

/// ex:install_signals(sigint): SIGINT (unless false) and SIGUSR1 stop a
/// blocked next_event; core.signal_pending() says which came.
static int l_install_signals(lua_State *L) {
  tune_executor_install_signals(check_ex(L), lua_toboolean(L, 2));
  return 0;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, tune_executor_now(check_ex(L)));
  return 1;
}

static int l_cleanup(lua_State *L) {
  tune_executor_cleanup(check_ex(L));
  return 0;
}

/// ex:close() -> true | nil, message (a leaked handle)
static void free_loggers(lexecutor_t *u) {
  if (!u->loggers) return;
  tune_loggers_free(u->loggers);
  free(u->loggers);
  u->loggers = NULL;
}

static int l_close(lua_State *L) {
  lexecutor_t *u = luaL_checkudata(L, 1, EXECUTOR_MT);
  if (!u->ex) {
    lua_pushboolean(L, 1);
    return 1;
  }
  int rc = tune_executor_free(u->ex);
  u->ex = NULL;
  free_loggers(u);
  if (rc < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "executor closed with libuv handles still open");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_gc(lua_State *L) {
  lexecutor_t *u = luaL_checkudata(L, 1, EXECUTOR_MT);
  if (u->ex) {
    tune_executor_free(u->ex);
    u->ex = NULL;
  }
  free_loggers(u);
  return 0;
}

static const luaL_Reg methods[] = {
    {"start", l_start},
    {"continue_training", l_continue},
    {"save", l_save},
    {"restore", l_restore},
    {"reset", l_reset},
    {"stop", l_stop},
    {"is_running", l_is_running},
    {"default_result", l_default_result},
    {"next_event", l_next_event},
    {"poll", l_poll},
    {"feasible", l_feasible},
    {"stage", l_stage},
    {"update", l_update},
    {"has_ready", l_has_ready},
    {"has_cached", l_has_cached},
    {"is_staged", l_is_staged},
    {"can_stage", l_can_stage},
    {"set_max_pending", l_set_max_pending},
    {"reconcile", l_reconcile},
    {"counts", l_counts},
    {"trim_cache", l_trim_cache},
    {"resources", l_resources},
    {"now", l_now},
    {"set_loggers", l_set_loggers},
    {"forget_logs", l_forget_logs},
    {"install_signals", l_install_signals},
    {"cleanup", l_cleanup},
    {"close", l_close},
    {NULL, NULL},
};

/// core.signal_pending() -> "SIGINT" | "SIGUSR1" | nil
static int l_signal_pending(lua_State *L) {
  int s = tune_signals_pending();
  if (!s) return 0;
  lua_pushstring(L, s == SIGINT ? "SIGINT" : s == SIGUSR1 ? "SIGUSR1" : "signal");
  return 1;
}

static int l_signals_uninstall(lua_State *L) {
  (void)L;
  tune_signals_uninstall();
  return 0;
}

static const luaL_Reg funcs[] = {
    {"executor_new", l_executor_new},
    {"signal_pending", l_signal_pending},
    {"signals_uninstall", l_signals_uninstall},
    {NULL, NULL},
};

void tune_lexecutor_register(lua_State *L) {
  luaL_newmetatable(L, EXECUTOR_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
}
