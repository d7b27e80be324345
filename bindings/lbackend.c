/// The backend of a new executor, from core.executor_new's options: its
/// name (`backend`), the node's resources, backend options, and for the
/// simulator its host, a Lua function called on a thread of its own.
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "common.h"
#include "lbind.h"
#include "lconv.h"

/// The simulator's host: `metrics(trial_id, iteration)` returns a table of
/// metrics, or nil when the trial is done. Called protected, on its own
/// thread (the caller may be inside a coroutine).
typedef struct {
  lua_State *T;     ///< the thread, anchored in the registry with the function
  int ref;          ///< registry ref of {thread, function, host} (the executor's)
} sim_host_t;

static int sim_metrics(void *ud, const char *trial_id, int64_t iteration, cJSON **out, tune_buf_t *err) {
  sim_host_t *h = ud;
  lua_State *T = h->T;
  int top = lua_gettop(T);
  lua_rawgeti(T, LUA_REGISTRYINDEX, h->ref);
  lua_rawgeti(T, -1, 2);
  lua_pushstring(T, trial_id);
  lua_pushinteger(T, (lua_Integer)iteration);
  int rc;
  if (lua_pcall(T, 2, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(T, -1);
    tune_buf_printf(err, "the simulated trial failed: %s", msg ? msg : "(an error object)");
    rc = -1;
  } else if (lua_isnil(T, -1)) {
    rc = 0;
  } else if (!lua_istable(T, -1)) {
    tune_buf_printf(err, "the simulator's curve returned a %s, not a table of metrics or nil", luaL_typename(T, -1));
    rc = -1;
  } else {
    char why[256];
    *out = tune_lua_to_json(T, -1, why, sizeof why);
    if (!*out) tune_buf_printf(err, "the simulator's curve returned metrics that are not JSON: %s", why);
    rc = *out ? 1 : -1;
  }
  lua_settop(T, top);
  return rc;
}

/// A sim host for the function at `fn`. `*ref` anchors a table {thread,
/// function, host userdata}; the executor unrefs it after its backend is
/// destroyed, and the host goes with it.
static sim_host_t *make_host(lua_State *L, int fn, int *ref) {
  lua_createtable(L, 3, 0);
  lua_State *T = lua_newthread(L);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, fn);
  lua_rawseti(L, -2, 2);
  sim_host_t *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->T = T;
  lua_rawseti(L, -2, 3);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h->ref = *ref;
  return h;
}

tune_backend_t *tune_lbackend_new(lua_State *L, int idx, int *host_ref, char *err, size_t errlen) {
  lua_getfield(L, idx, "backend");
  const char *name = luaL_optstring(L, -1, "local");
  lua_getfield(L, idx, "resources");
  cJSON *rj = tune_lua_check_json(L, -1, "resources");
  tune_res_t res;
  int bad = tune_res_from_json(rj, &res, err, errlen);
  cJSON_Delete(rj);
  lua_pop(L, 1);
  if (!bad && res.gpu > (int64_t)TUNE_NODE_MAX_GPUS * TUNE_RES_SCALE) {
    snprintf(err, errlen, "a node has at most %d GPUs, got %g", TUNE_NODE_MAX_GPUS, tune_res_from_fixed(res.gpu));
    tune_res_free(&res);
    bad = 1;
  }
  if (bad) {
    lua_pop(L, 1);
    return NULL;
  }
  const char *ids[256];
  size_t nids = 0;
  lua_getfield(L, idx, "gpu_ids");
  if (lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n && nids < 256; i++) {
      lua_rawgeti(L, -1, i);
      ids[nids++] = luaL_checkstring(L, -1); /* anchored by the gpu_ids table */
      lua_pop(L, 1);
    }
  }
  lua_getfield(L, idx, "backend_options");
  cJSON *bo = lua_isnil(L, -1) ? NULL : tune_lua_check_json(L, -1, "backend_options");
  tune_backend_opts_t o = {&res, ids, nids, bo, NULL};
  tune_sim_host_t host = {NULL, NULL};
  if (lua_getfield(L, idx, "sim_host") == LUA_TFUNCTION) {
    host.ud = make_host(L, lua_gettop(L), host_ref);
    host.metrics = sim_metrics;
    o.sim_host = &host;
  }
  tune_backend_t *b = tune_backend_new(name, &o, err, errlen);
  cJSON_Delete(bo);
  tune_res_free(&res);
  lua_pop(L, 4);
  return b;
}
