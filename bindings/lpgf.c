/// `tune.core` placement-group factory userdata: a PlacementGroupFactory
/// (lua/tune/executor/placement.lua) is encoded into its C form once, with
/// its key computed in C; executors intern it by that key.
#include <lauxlib.h>
#include <stdlib.h>

#include "lbind.h"
#include "lconv.h"
#include "lpgf.h"

#define PGF_MT "tune.core.pgf"

typedef struct {
  tune_pgf_t *f;
} lpgf_t;

/// How many factories were encoded (core.pgf calls): a spec counts them.
static lua_Integer encodes = 0;

/// core.pgf{bundles = {...}, strategy = "PACK"} -> factory userdata
static int l_pgf(lua_State *L) {
  cJSON *spec = tune_lua_check_json(L, 1, "placement group factory");
  char err[512];
  tune_pgf_t *f = tune_pgf_from_json(spec, err, sizeof err);
  cJSON_Delete(spec);
  if (!f) return luaL_error(L, "%s", err);
  lpgf_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->f = f;
  luaL_setmetatable(L, PGF_MT);
  encodes++;
  return 1;
}

static int l_pgf_encodes(lua_State *L) {
  lua_pushinteger(L, encodes);
  return 1;
}

static int l_key(lua_State *L) {
  lpgf_t *u = luaL_checkudata(L, 1, PGF_MT);
  lua_pushstring(L, u->f->key);
  return 1;
}

static int l_gc(lua_State *L) {
  lpgf_t *u = luaL_checkudata(L, 1, PGF_MT);
  tune_pgf_free(u->f);
  u->f = NULL;
  return 0;
}

const tune_pgf_t *tune_lpgf_check(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TTABLE) {
    /* A PlacementGroupFactory object: its handle, made on first use. */
    if (lua_getfield(L, idx, "_handle") == LUA_TUSERDATA) {
      lua_replace(L, idx);
    } else {
      lua_pop(L, 1);
      if (lua_getfield(L, idx, "handle") != LUA_TFUNCTION) luaL_argerror(L, idx, "not a PlacementGroupFactory");
      lua_pushvalue(L, idx);
      lua_call(L, 1, 1);
      lua_replace(L, idx);
    }
  }
  lpgf_t *u = luaL_checkudata(L, idx, PGF_MT);
  return u->f;
}

static const luaL_Reg methods[] = {
    {"key", l_key},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"pgf", l_pgf},
    {"pgf_encodes", l_pgf_encodes},
    {NULL, NULL},
};

void tune_lpgf_register(lua_State *L) {
  tune_lua_class(L, PGF_MT, methods, l_gc, NULL);
  luaL_setfuncs(L, funcs, 0);
}
