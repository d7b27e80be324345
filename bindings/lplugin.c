/// The one bridge between the runner and Lua plug-ins (schedulers,
/// searchers, stoppers, callbacks, reporters): every hook is called here,
/// protected with a traceback, with the stack kept balanced, and what it
/// returns is judged. A valid value is returned; nil means the hook's
/// documented default; anything else, or an error, becomes a message that
/// names the plug-in and the hook (Knot Resolver's ffimodule does the same).
#include <lauxlib.h>
#include <string.h>

#include "lbind.h"

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/// Name of a plug-in: its class name (__name), else its type.
static const char *plugin_name(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE) {
    if (lua_getfield(L, idx, "__name") == LUA_TSTRING) {
      const char *n = lua_tostring(L, -1);
      lua_pop(L, 1); /* anchored by the class table */
      return n;
    }
    lua_pop(L, 1);
  }
  if (lua_type(L, idx) == LUA_TFUNCTION) return "function";
  return luaL_typename(L, idx);
}

static const char *const decisions[] = {"CONTINUE", "PAUSE", "STOP", "NOOP", NULL};

/// Checks the value at `idx` against `judge`. NULL when valid, else what is wrong.
static const char *judge_value(lua_State *L, int idx, const char *judge) {
  int t = lua_type(L, idx);
  if (!judge || t == LUA_TNIL) return NULL;
  if (!strcmp(judge, "decision")) {
    if (t == LUA_TSTRING)
      for (int i = 0; decisions[i]; i++)
        if (!strcmp(lua_tostring(L, idx), decisions[i])) return NULL;
    return "a decision (CONTINUE, PAUSE, STOP or NOOP)";
  }
  if (!strcmp(judge, "boolean")) return t == LUA_TBOOLEAN ? NULL : "a boolean";
  if (!strcmp(judge, "table")) return t == LUA_TTABLE ? NULL : "a table";
  if (!strcmp(judge, "suggestion")) {
    if (t == LUA_TTABLE) return NULL;
    if (t == LUA_TSTRING && !strcmp(lua_tostring(L, idx), "FINISHED")) return NULL;
    return "a config table, nil (not now) or \"FINISHED\"";
  }
  return NULL;
}

/// core.call_hook(kind, plugin, hook, judge, ...) -> true, value | false, message
/// `plugin` is a table (its method `hook` is called with the plugin as
/// self) or a function (called directly, for function stoppers and
/// callbacks). A missing hook returns true, nil.
static int l_call_hook(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *hook = luaL_checkstring(L, 3);
  const char *judge = luaL_optstring(L, 4, NULL);
  int nargs = lua_gettop(L) - 4;
  int top = lua_gettop(L);
  luaL_checkstack(L, nargs + 4, "too many hook arguments");
  lua_pushcfunction(L, traceback);
  int handler = lua_gettop(L);
  int self = 0;
  if (lua_type(L, 2) == LUA_TFUNCTION) {
    lua_pushvalue(L, 2);
  } else {
    if (lua_type(L, 2) != LUA_TTABLE && lua_type(L, 2) != LUA_TUSERDATA)
      return luaL_error(L, "%s plug-in must be a table, got %s", kind, luaL_typename(L, 2));
    lua_getfield(L, 2, hook);
    if (lua_isnil(L, -1)) {
      lua_settop(L, top);
      lua_pushboolean(L, 1);
      lua_pushnil(L);
      return 2;
    }
    if (!lua_isfunction(L, -1)) {
      /* A callable table is fine too: lua_pcall goes through its __call. */
      if (luaL_getmetafield(L, -1, "__call") == LUA_TNIL) {
        lua_pushboolean(L, 0);
        lua_pushfstring(L, "%s %s: %s is a %s, not a method", kind, plugin_name(L, 2), hook,
                        luaL_typename(L, -2));
        return 2;
      }
      lua_pop(L, 1);
    }
    lua_pushvalue(L, 2);
    self = 1;
  }
  for (int i = 0; i < nargs; i++) lua_pushvalue(L, 5 + i);
  int status = lua_pcall(L, nargs + self, 1, handler);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "%s %s failed in %s: %s", kind, plugin_name(L, 2), hook, msg ? msg : "?");
    return 2;
  }
  const char *bad = judge_value(L, -1, judge);
  if (bad) {
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "%s %s: %s returned %s where %s was expected", kind, plugin_name(L, 2), hook,
                    luaL_tolstring(L, -1, NULL), bad);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  /* [..args, handler, true, value] */
  lua_remove(L, handler);
  if (lua_gettop(L) != top + 2) return luaL_error(L, "call_hook: unbalanced stack");
  return 2;
}

void tune_lplugin_register(lua_State *L) {
  lua_pushcfunction(L, l_call_hook);
  lua_setfield(L, -2, "call_hook");
}
