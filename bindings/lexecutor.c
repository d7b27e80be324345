/// `tune.core` executor userdata: the C executor seen from Lua. The Lua
/// TrialExecutor (lua/tune/executor/init.lua) mirrors it method for method,
/// adding only its Trial objects. Methods raise on programmer errors (bad
/// arguments, a closed executor) and return nil, message on run-time
/// failures.
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends.h"
#include "common.h"
#include "executor.h"
#include "json.h"
#include "lbind.h"
#include "lconv.h"
#include "lexecutor.h"
#include "lpgf.h"
#include "signals.h"


typedef struct {
  tune_executor_t *ex;        ///< NULL once closed
  int host_ref;               ///< the backend's Lua host (sim curve), or LUA_NOREF
  lua_State *host;            ///< the host's thread (anchored by host_ref), or NULL
} lexecutor_t;

static const char *method_name(lua_CFunction f);

/// Whether the simulator's host (its curve) is running: its thread has an
/// active call then, and none otherwise (a host that raised was unwound by
/// the pcall that called it). Nothing is set around the calls, so the host
/// costs nothing more per result.
static int in_host(const lexecutor_t *u) {
  lua_Debug ar;
  return u->host && lua_getstack(u->host, 0, &ar);
}

/// Whether a frame runs the executor's own Lua code (lua/tune/executor/).
static int executor_frame(const lua_Debug *ar) {
  return ar->source[0] == '@' && strstr(ar->source, "tune/executor/") != NULL;
}

/// Raises: the simulator's host (its curve) called an executor method. The
/// engine is then in the middle of the request that asked the host, so it
/// cannot be entered again (a stop there would free the worker the request
/// still uses). The message names the method as the curve called it (the
/// outermost frame of lua/tune/executor/ code, or the core method) and
/// points at the curve's line.
static int in_host_error(lua_State *L) {
  lua_Debug ar;
  const char *name = NULL;
  int level = 1;
  for (; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sn", &ar) || !executor_frame(&ar)) break;
    name = ar.name;
  }
  if (level == 1 && lua_getstack(L, 0, &ar) && lua_getinfo(L, "nf", &ar)) {
    /* Called the core directly (or through a tail call): its name, or the
       method table's name for the function. */
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    name = ar.name ? ar.name : method_name(f);
  }
  luaL_where(L, level);
  if (name)
    lua_pushfstring(L, "the simulator's curve called ex:%s(): executor methods cannot be called from inside the curve",
                    name);
  else
    lua_pushliteral(L, "the simulator's curve called an executor method: executor methods cannot be called from "
                       "inside the curve");
  lua_concat(L, 2);
  return lua_error(L);
}

/// The executor userdata at argument 1 (luaL_checkudata, and its error).
/// The methods hold the metatable as their upvalue 1, which is compared
/// without luaL_checkudata's lookup by name (Lua's C-string cache: a
/// strcmp, a hash lookup; ~370 instructions a call, 6 calls a result).
static lexecutor_t *check_ud(lua_State *L) {
  lexecutor_t *u = lua_touserdata(L, 1);
  if (u && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1)); /* none (nil) in other functions */
    lua_pop(L, 1);
    if (same) return u;
  }
  return luaL_checkudata(L, 1, TUNE_EXECUTOR_MT);
}

/// The registry's key (an address) of the result keys' Lua strings
/// (tune_lua_push_result_keys), the methods' upvalue 2.
static const char result_keys = 0;

void tune_lexecutor_methods(lua_State *L, const luaL_Reg *fns) {
  luaL_getmetatable(L, TUNE_EXECUTOR_MT);
  lua_getfield(L, -1, "__index");
  lua_pushvalue(L, -2);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &result_keys) != LUA_TTABLE) {
    lua_pop(L, 1);
    tune_lua_push_result_keys(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &result_keys);
  }
  luaL_setfuncs(L, fns, 2);
  lua_pop(L, 2);
}

/// The executor at argument 1, open, and not called from inside its host:
/// a method that may enter the engine.
tune_executor_t *tune_lexecutor_check(lua_State *L) {
  lexecutor_t *u = check_ud(L);
  if (!u->ex) luaL_error(L, "attempt to use a closed executor");
  if (in_host(u)) in_host_error(L);
  return u->ex;
}

/// The executor at argument 1, open: for methods that only read (now,
/// options, is_running), which the host may call.
static tune_executor_t *check_open(lua_State *L) {
  lexecutor_t *u = check_ud(L);
  if (!u->ex) luaL_error(L, "attempt to use a closed executor");
  return u->ex;
}

/// ex:check_host(): raises when called from inside the simulator's host
/// (the Lua executor's methods that change its own state before they
/// enter the engine ask first).
static int l_check_host(lua_State *L) {
  tune_lexecutor_check(L);
  return 0;
}

static const char *opt_string(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1); /* the string stays alive: it is referenced by the options table */
  return s;
}

/// The options of tune_executor_options() that the table at `idx` sets.
static void read_options(lua_State *L, int idx, tune_executor_opts_t *o) {
  size_t n;
  const tune_option_desc_t *d = tune_executor_options(&n);
  for (size_t i = 0; i < n; i++) {
    int t = lua_getfield(L, idx, d[i].name);
    if (t == LUA_TBOOLEAN) {
      tune_executor_opt_set(o, &d[i], lua_toboolean(L, -1));
    } else if (t != LUA_TNIL) {
      if (!lua_isnumber(L, -1))
        luaL_error(L, "executor option %s must be a number, got %s", d[i].name, luaL_typename(L, -1));
      double v = lua_tonumber(L, -1);
      char why[160];
      if (tune_executor_opt_check(&d[i], v, why, sizeof why) < 0) luaL_error(L, "executor option %s", why);
      /* Ray: `result_buffer_length or env`: 0 keeps the environment's. */
      if (!(strcmp(d[i].name, "result_buffer_length") == 0 && v == 0)) tune_executor_opt_set(o, &d[i], v);
    }
    lua_pop(L, 1);
  }
}

/// core.executor_options() -> {{name=, env=, default=}, ...}: the one
/// table of executor options (executor.c).
static int l_executor_options(lua_State *L) {
  size_t n;
  const tune_option_desc_t *d = tune_executor_options(&n);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, d[i].name);
    lua_setfield(L, -2, "name");
    if (d[i].env) {
      lua_pushstring(L, d[i].env);
      lua_setfield(L, -2, "env");
    }
    if (d[i].type == TUNE_OPT_BOOL) lua_pushboolean(L, d[i].dflt != 0);
    else if (d[i].type == TUNE_OPT_DOUBLE) lua_pushnumber(L, d[i].dflt);
    else lua_pushinteger(L, (lua_Integer)d[i].dflt);
    lua_setfield(L, -2, "default");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/// ex:options() -> {name = value}: the options in effect.
static int l_options(lua_State *L) {
  tune_executor_t *ex = check_open(L);
  const tune_executor_opts_t *o = tune_executor_opts(ex);
  size_t n;
  const tune_option_desc_t *d = tune_executor_options(&n);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    double v = tune_executor_opt_get(o, &d[i]);
    if (d[i].type == TUNE_OPT_BOOL) lua_pushboolean(L, v != 0);
    else if (d[i].type == TUNE_OPT_DOUBLE) lua_pushnumber(L, v);
    else lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, d[i].name);
  }
  return 1;
}

/// core.executor_new{backend = "local", resources = {...}, gpu_ids = {...},
/// worker_path = ..., <executor options>, <backend options>}
static int l_executor_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  tune_executor_opts_t o;
  tune_executor_opts_default(&o);
  read_options(L, 1, &o);
  o.worker_path = opt_string(L, 1, "worker_path");
  if (!o.worker_path) return luaL_error(L, "executor_new: worker_path is required");
  o.orig_cwd = opt_string(L, 1, "orig_cwd");
  lua_getfield(L, 1, "console_stdout_fd");
  o.console_fd[0] = (int)luaL_optinteger(L, -1, o.console_fd[0]);
  lua_getfield(L, 1, "console_stderr_fd");
  o.console_fd[1] = (int)luaL_optinteger(L, -1, o.console_fd[1]);
  lua_pop(L, 2);
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

  lexecutor_t *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->ex = NULL;
  u->host_ref = LUA_NOREF;
  luaL_setmetatable(L, TUNE_EXECUTOR_MT);
  char err[512];
  u->host = NULL;
  tune_backend_t *b = tune_lbackend_new(L, 1, &u->host_ref, err, sizeof err);
  if (b && u->host_ref != LUA_NOREF) {
    /* {thread, function, host}: the thread the host runs on. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->host_ref);
    lua_rawgeti(L, -1, 1);
    u->host = lua_tothread(L, -1);
    lua_pop(L, 2);
  }
  if (!b) return luaL_error(L, "%s", err);
  u->ex = tune_executor_new(&o, b);
  /* Rows and the journal are written behind the driver, on the thread
     that makes trial directories ahead (engine/loggers.h). */
  tune_executor_set_writer(u->ex, tune_lfs_prep_service(L));
  return 1;
}

tune_pgf_entry_t *tune_lexecutor_pgf(lua_State *L, tune_executor_t *ex, int idx) {
  const tune_pgf_t *f = tune_lpgf_check(L, idx);
  tune_pg_manager_t *m = tune_executor_pgm(ex);
  tune_pgf_entry_t *fe = tune_pgm_lookup(m, f->key);
  return fe ? fe : tune_pgm_intern(m, tune_pgf_dup(f));
}

static int flag(lua_State *L, int idx, const char *key) {
  int v = lua_getfield(L, idx, key) != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/// ex:start(spec) -> 1 | 0 | -1, message
static int l_start(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
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
  s.logdir_made = flag(L, 2, "logdir_made");
  s.restore_persistent = flag(L, 2, "restore_persistent");
  s.resettable = flag(L, 2, "resettable");
  s.checkpoint_at_end = flag(L, 2, "checkpoint_at_end");
  lua_getfield(L, 2, "checkpoint_freq");
  s.checkpoint_freq = (int)luaL_optinteger(L, -1, 0);
  lua_getfield(L, 2, "batch_cap");
  s.batch_cap = (int64_t)luaL_optinteger(L, -1, 0);
  lua_pop(L, 1);
  lua_getfield(L, 2, "pgf");
  s.fe = tune_lexecutor_pgf(L, ex, -1);
  lua_pop(L, 2);
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
  /* logs_made: true, or the prepare_dir job that made the files, whose
     open descriptors the loggers take (taken last: nothing raises after). */
  int fds[2] = {-1, -1};
  if (lua_getfield(L, 2, "logs_made") == LUA_TUSERDATA) {
    s.logs_made = 1;
    if (tune_lfs_take_prep_fds(L, -1, fds) == 0) s.log_fds = fds;
  } else {
    s.logs_made = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  int rc = tune_executor_start(ex, &s, err, sizeof err);
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) close(fds[i]); /* not started: opened by path next time */
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
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushboolean(L, tune_executor_continue(ex, luaL_checkstring(L, 2), (int64_t)luaL_optinteger(L, 3, 0)) == 0);
  return 1;
}

static int l_save(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  int rc = tune_executor_save(ex, luaL_checkstring(L, 2), luaL_checkstring(L, 3), lua_toboolean(L, 4));
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_restore(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  int rc = tune_executor_restore(ex, luaL_checkstring(L, 2), luaL_checkstring(L, 3), lua_toboolean(L, 4));
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_reset(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  const char *id = luaL_checkstring(L, 2);
  cJSON *config = tune_lua_check_json(L, 3, "config");
  const char *tag = luaL_optstring(L, 4, NULL);
  int rc = tune_executor_reset(ex, id, config, tag);
  cJSON_Delete(config);
  lua_pushinteger(L, rc);
  return 1;
}

static int l_stop(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  tune_executor_stop(ex, luaL_checkstring(L, 2), lua_toboolean(L, 3));
  return 0;
}

static int l_is_running(lua_State *L) {
  tune_executor_t *ex = check_open(L);
  lua_pushboolean(L, tune_executor_is_running(ex, luaL_checkstring(L, 2)));
  return 1;
}

static int l_default_result(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  cJSON *r = tune_executor_default_result(ex, luaL_checkstring(L, 2));
  if (!r) return 0;
  tune_lua_push_json(L, r);
  cJSON_Delete(r);
  return 1;
}

static void push_string(lua_State *L, const char *v) {
  if (v) lua_pushstring(L, v);
  else lua_pushnil(L);
}

/// ex:next_event(next_trial_exists, timeout[, trials]) -> type, trial_id,
/// trial, results, nested, checkpoint_dir, error, traceback, lost_rows
/// (each nil where the event has none): with `trials` (trial_id -> trial)
/// also the trial, and each result's config is its trial's. Values, not a
/// table: get_next_executor_event makes the event's table in Lua, whose
/// constant keys need no lookup in Lua's cache of C strings (lua_setfield).
static int l_next_event(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  int next = lua_toboolean(L, 2);
  double timeout = luaL_optnumber(L, 3, 5.0);
  int trials = lua_istable(L, 4) ? 4 : 0;
  luaL_checkstack(L, 16, "next_event");
  tune_event_t *ev = tune_executor_next_event(ex, next, timeout);
  /* The trial (trials[trial_id]) and its config, which each result
     carries as Ray's do; both stay below the values returned. */
  int trial = 0, config = 0;
  if (trials && ev->trial_id) {
    lua_getfield(L, trials, ev->trial_id);
    if (lua_istable(L, -1)) {
      trial = lua_gettop(L);
      lua_getfield(L, -1, "config");
      config = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pushstring(L, tune_event_type_name(ev->type));
  push_string(L, ev->trial_id);
  if (trial) lua_pushvalue(L, trial);
  else lua_pushnil(L);
  const cJSON *batch = ev->batch ? ev->batch : ev->results;
  if (batch) {
    int n = cJSON_GetArraySize(batch), nested = 0;
    int keys = lua_type(L, lua_upvalueindex(2)) == LUA_TTABLE ? lua_upvalueindex(2) : 0;
    lua_createtable(L, n, 0);
    int i = 1;
    for (const cJSON *r = batch->child; r; r = r->next) {
      if (!cJSON_IsObject(r)) {
        tune_lua_push_json(L, r);
      } else if (keys ? tune_lua_push_result(L, r, config ? 1 : 0, keys) : tune_lua_push_object(L, r, config ? 1 : 0)) {
        nested = 1;
      }
      if (config && lua_istable(L, -1)) {
        lua_pushvalue(L, config);
        lua_setfield(L, -2, "config");
      }
      lua_rawseti(L, -2, i++);
    }
    /* Whether any result has nested tables (the runner flattens only then). */
    lua_pushboolean(L, nested);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  push_string(L, ev->checkpoint_dir);
  push_string(L, ev->error);
  push_string(L, ev->traceback);
  if (ev->lost_rows) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  tune_event_free(ev);
  return 9;
}

static int l_poll(lua_State *L) {
  tune_executor_poll(tune_lexecutor_check(L));
  return 0;
}

/// ex:set_journal(handle | nil): a buffered core.open_append handle (the
/// experiment journal) that the loggers write before any row and the
/// executor before it waits; the executor keeps it alive (user value 1).
static int l_set_journal(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  tune_appendbuf_t *j = lua_isnoneornil(L, 2) ? NULL : tune_lfs_check_append(L, 2);
  lua_settop(L, 2);
  lua_setiuservalue(L, 1, 1);
  tune_executor_set_journal(ex, j);
  return 0;
}

/// ex:set_loggers{json = bool, csv = bool}: which loggers commit writes.
static int l_set_loggers(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  tune_executor_set_loggers(ex, flag(L, 2, "json"), flag(L, 2, "csv"));
  return 0;
}

/// ex:set_event_stream(path | "-" | nil) -> true | nil, message: trial
/// results also go there as `--events` lines.
static int l_set_event_stream(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  const char *target = luaL_optstring(L, 2, NULL);
  int rc = tune_executor_set_event_stream(ex, target);
  if (rc < 0) return tune_lua_fail(L, target, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// ex:write_event(line): one `--events` line (from Lua: everything but results).
static int l_write_event(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  size_t len;
  const char *line = luaL_checklstring(L, 2, &len);
  tune_executor_write_event(ex, line, len);
  return 0;
}

/// ex:commit(trial_id, n, stopped) -> true | false: log the accepted results.
static int l_commit(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_Integer n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 0, 3, "must not be negative");
  lua_pushboolean(L, tune_executor_commit(ex, luaL_checkstring(L, 2), (size_t)n, lua_toboolean(L, 4)) == 0);
  return 1;
}

/// ex:forget_logs(trial_id): the trial's CSV columns are read again from
/// its file if it logs again.
static int l_forget_logs(lua_State *L) {
  tune_executor_forget_logs(tune_lexecutor_check(L), luaL_checkstring(L, 2));
  return 0;
}

/// ex:flush_logs(): writes the result rows the loggers hold.
static int l_flush_logs(lua_State *L) {
  tune_executor_flush_logs(tune_lexecutor_check(L));
  return 0;
}

/// ex:install_signals(sigint): SIGINT (unless false) and SIGUSR1 stop a
/// blocked next_event; core.signal_pending() says which came.
static int l_install_signals(lua_State *L) {
  tune_executor_install_signals(tune_lexecutor_check(L), lua_toboolean(L, 2));
  return 0;
}

/// ex:uninstall_signals(): the handlers from before its install_signals.
static int l_uninstall_signals(lua_State *L) {
  tune_signals_uninstall(tune_executor_backend(tune_lexecutor_check(L)));
  return 0;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, tune_executor_now(check_open(L)));
  return 1;
}

/// ex:cleanup([force_s]): force_s bounds the wait for workers that do
/// not stop (an interrupted experiment).
static int l_cleanup(lua_State *L) {
  tune_executor_cleanup_within(tune_lexecutor_check(L), luaL_optnumber(L, 2, 0));
  return 0;
}

static int close_ex(lua_State *L, lexecutor_t *u) {
  int rc = 0;
  if (u->ex) tune_signals_uninstall(tune_executor_backend(u->ex));
  if (u->ex) rc = tune_executor_free(u->ex);
  u->ex = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, u->host_ref);
  u->host_ref = LUA_NOREF;
  u->host = NULL;
  return rc;
}

/// ex:close() -> true | nil, message (a leaked handle)
static int l_close(lua_State *L) {
  lexecutor_t *u = luaL_checkudata(L, 1, TUNE_EXECUTOR_MT);
  if (in_host(u)) in_host_error(L);
  if (close_ex(L, u) < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "executor closed with libuv handles still open");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_gc(lua_State *L) {
  lexecutor_t *u = luaL_checkudata(L, 1, TUNE_EXECUTOR_MT);
  if (in_host(u)) in_host_error(L); /* a to-be-closed executor in the curve */
  close_ex(L, u);
  return 0;
}

static const luaL_Reg methods[] = {
    {"check_host", l_check_host},
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
    {"options", l_options},
    {"now", l_now},
    {"set_loggers", l_set_loggers},
    {"set_event_stream", l_set_event_stream},
    {"write_event", l_write_event},
    {"commit", l_commit},
    {"forget_logs", l_forget_logs},
    {"flush_logs", l_flush_logs},
    {"set_journal", l_set_journal},
    {"install_signals", l_install_signals},
    {"uninstall_signals", l_uninstall_signals},
    {"cleanup", l_cleanup},
    {"close", l_close},
    {NULL, NULL},
};

/// The name of a method of the executor userdata, or NULL.
static const char *method_name(lua_CFunction f) {
  for (const luaL_Reg *r = methods; r->name; r++)
    if (r->func == f) return r->name;
  return NULL;
}

/// core.signal_pending() -> "SIGINT" | "SIGUSR1" | nil
static int l_signal_pending(lua_State *L) {
  int s = tune_signals_pending();
  if (!s) return 0;
  lua_pushstring(L, s == SIGINT ? "SIGINT" : s == SIGUSR1 ? "SIGUSR1" : s == SIGTERM ? "SIGTERM" : "signal");
  return 1;
}

/// core.backend_names() -> "local, sim, ...": the backends of this build.
static int l_backend_names(lua_State *L) {
  lua_pushstring(L, tune_backend_names());
  return 1;
}

static const luaL_Reg funcs[] = {
    {"executor_new", l_executor_new},
    {"backend_names", l_backend_names},
    {"executor_options", l_executor_options},
    {"signal_pending", l_signal_pending},
    {NULL, NULL},
};

void tune_lexecutor_register(lua_State *L) {
  tune_lua_class(L, TUNE_EXECUTOR_MT, methods, l_gc, l_gc);
  tune_lexecutor_methods(L, methods);
  luaL_setfuncs(L, funcs, 0);
}
