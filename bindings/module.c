/// luaopen_tune_core: the `tune.core` module, which lua/tune/*.lua builds on.
#include <lauxlib.h>
#include <string.h>

#include "json.h"
#include "lbind.h"
#include "lconv.h"

const char *tune_self_exe = NULL;

int tune_lua_fail(lua_State *L, const char *what, int rc) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
  lua_pushinteger(L, rc < 0 ? -rc : rc);
  return 3;
}

/// core.json_encode(value) -> text | nil, message
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  tune_buf_t b = TUNE_BUF_INIT;
  char err[512];
  if (tune_lua_write_json(L, 1, &b, err, sizeof err) < 0) {
    tune_buf_free(&b);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  tune_buf_free(&b);
  return 1;
}

/// core.json_decode(text) -> value | nil, message
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  char err[256];
  cJSON *v = tune_json_parse(s, len, err, sizeof err);
  if (!v) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  tune_lua_push_json(L, v, NULL);
  cJSON_Delete(v);
  return 1;
}

/// core.array([t]) -> t marked as a JSON array (so an empty one stays []).
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, TUNE_ARRAY_MT);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {"array", l_array},
    {NULL, NULL},
};

int luaopen_tune_core(lua_State *L) {
  tune_lconv_init(L);
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  luaL_getmetatable(L, TUNE_ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  lua_pushstring(L, TUNE_VERSION);
  lua_setfield(L, -2, "version");
  tune_lexecutor_register(L);
  tune_lworker_register(L);
  tune_lsys_register(L);
  return 1;
}
