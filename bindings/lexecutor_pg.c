/// The executor userdata's placement-group methods (lexecutor.c has the
/// rest): feasibility, staging, reservation, reconciliation, the cache,
/// resources, and the counts tests read where Ray's read private maps.
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "executor.h"
#include "lbind.h"
#include "lconv.h"
#include "lexecutor.h"

/// ex:feasible(pgf) -> true | false, message
static int l_feasible(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  tune_pgf_entry_t *fe = tune_lexecutor_pgf(L, ex, 2);
  char err[1024];
  tune_backend_t *b = tune_executor_backend(ex);
  if ((!b->ops->feasible || b->ops->feasible(b, fe->pgf, err, sizeof err) == 0) &&
      tune_cluster_feasible(&b->cluster, fe->pgf, err, sizeof err) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, err);
  return 2;
}

/// ex:stage(trial_id, pgf) -> "staged" | "already" | false
static int l_stage(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  const char *id = luaL_checkstring(L, 2);
  tune_pgf_entry_t *fe = tune_lexecutor_pgf(L, ex, 3);
  int rc = tune_pgm_stage_trial(tune_executor_pgm(ex), id, fe);
  if (rc == 1) lua_pushliteral(L, "staged");
  else if (rc == 2) lua_pushliteral(L, "already");
  else lua_pushboolean(L, 0);
  return 1;
}

/// ex:stage_trials(trials): Ray's _stage_and_update_status in one call:
/// a group is staged for each PENDING or PAUSED trial that is not running,
/// in order, until staging is full; then what fits is reserved.
static int l_stage_trials(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  tune_pg_manager_t *m = tune_executor_pgm(ex);
  /* Staging full: the first trial to stage would end the scan, so none is
     looked at, nor the list's length (the steady state of a long
     experiment: every waiting trial staged). */
  lua_Integer n = tune_pgm_can_stage(m) ? luaL_len(L, 2) : 0;
  /* The keys and statuses as Lua strings, made once for a scan: interned,
     so a status is compared by identity. */
  lua_settop(L, 2);
  if (n > 0) {
    lua_pushliteral(L, "status");   /* 3 */
    lua_pushliteral(L, "trial_id"); /* 4 */
    lua_pushliteral(L, "PENDING");  /* 5 */
    lua_pushliteral(L, "PAUSED");   /* 6 */
  }
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    int t = lua_gettop(L);
    lua_pushvalue(L, 3);
    lua_gettable(L, t);
    if (lua_rawequal(L, -1, 5) || lua_rawequal(L, -1, 6)) {
      lua_pushvalue(L, 4);
      lua_gettable(L, t);
      const char *id = luaL_checkstring(L, -1);
      /* Staged first: most waiting trials are, and it is one lookup. */
      if (!tune_pgm_is_staged(m, id) && !tune_executor_is_running(ex, id)) {
        lua_getfield(L, t, "placement_group_factory");
        /* Staging full now (or already): no later trial is staged. */
        if (tune_pgm_stage_trial(m, id, tune_lexecutor_pgf(L, ex, -1)) == 0 || !tune_pgm_can_stage(m)) {
          lua_settop(L, t - 1);
          break;
        }
      }
    }
    lua_settop(L, t - 1);
  }
  tune_pgm_update(m);
  return 0;
}

/// ex:has_resources(trial_id, pgf): Ray's has_resources_for_trial: staged
/// already, room to stage, or a ready or cached group of its factory.
static int l_has_resources(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  const char *id = luaL_checkstring(L, 2);
  tune_pg_manager_t *m = tune_executor_pgm(ex);
  int yes = tune_pgm_is_staged(m, id) || tune_pgm_can_stage(m);
  if (!yes) {
    tune_pgf_entry_t *fe = tune_lexecutor_pgf(L, ex, 3);
    yes = fe->ready.n > 0 || fe->cached.n > 0;
  }
  lua_pushboolean(L, yes);
  return 1;
}

static int l_update(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushinteger(L, (lua_Integer)tune_pgm_update(tune_executor_pgm(ex)));
  return 1;
}

static int l_has_ready(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushboolean(L, tune_lexecutor_pgf(L, ex, 2)->ready.n > 0);
  return 1;
}

static int l_has_cached(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushboolean(L, tune_lexecutor_pgf(L, ex, 2)->cached.n > 0);
  return 1;
}

static int l_is_staged(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushboolean(L, tune_pgm_is_staged(tune_executor_pgm(ex), luaL_checkstring(L, 2)));
  return 1;
}

static int l_can_stage(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_pushboolean(L, tune_pgm_can_stage(tune_executor_pgm(ex)));
  return 1;
}

static int l_set_max_pending(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "must be at least 1");
  tune_executor_set_max_pending(ex, (size_t)n);
  return 0;
}

/// ex:reconcile({{trial_id, pgf, expected}, ...})
static int l_reconcile(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  tune_pgm_trial_t *items = tune_xcalloc((size_t)n + 1, sizeof *items);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    lua_rawgeti(L, -1, 1);
    items[i - 1].trial_id = lua_tostring(L, -1); /* anchored by the argument table */
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 2);
    items[i - 1].fe = tune_lexecutor_pgf(L, ex, -1);
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
  tune_executor_t *ex = tune_lexecutor_check(L);
  tune_pgm_counts_t c;
  tune_pgm_counts(tune_executor_pgm(ex), &c);
  tune_executor_stats_t s;
  tune_executor_stats(ex, &s);
  lua_createtable(L, 0, 11);
#define SET(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
  SET("staging", c.staging);
  SET("reserving", c.reserving);
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
  tune_executor_t *ex = tune_lexecutor_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  trim_ud_t t = {L, 2};
  tune_executor_trim_cache(ex, trim_needed, &t);
  return 0;
}

static void push_res(lua_State *L, const tune_res_t *r) {
  cJSON *j = tune_res_to_json(r);
  tune_lua_push_json(L, j);
  cJSON_Delete(j);
}

/// ex:resources() -> total, available
static int l_resources(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  tune_backend_t *b = tune_executor_backend(ex);
  tune_res_t total, avail;
  if (b->ops->resources) {
    b->ops->resources(b, &total, &avail);
  } else {
    tune_cluster_total(&b->cluster, &total, 0);
    tune_cluster_total(&b->cluster, &avail, 1);
  }
  push_res(L, &total);
  push_res(L, &avail);
  tune_res_free(&total);
  tune_res_free(&avail);
  return 2;
}

/// ex:check_dir(dir) -> true | nil, message: every worker will see `dir`
/// (the backend's check; the local backend has none).
static int l_check_dir(lua_State *L) {
  tune_executor_t *ex = tune_lexecutor_check(L);
  const char *dir = luaL_checkstring(L, 2);
  tune_backend_t *b = tune_executor_backend(ex);
  char err[1024];
  if (b->ops->check_dir && b->ops->check_dir(b, dir, err, sizeof err) < 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg methods[] = {
    {"check_dir", l_check_dir},
    {"feasible", l_feasible},
    {"stage", l_stage},
    {"stage_trials", l_stage_trials},
    {"has_resources", l_has_resources},
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
    {NULL, NULL},
};

void tune_lexecutor_pg_register(lua_State *L) {
  tune_lexecutor_methods(L, methods);
}
