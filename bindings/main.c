/// tunelua: the driver CLI (`tunelua experiment.lua`) and the trial worker
/// (`tunelua --worker`). Both run Lua; the command line itself is parsed in
/// Lua (lua/tune/cli.lua), the worker loop is lua/tune/worker.lua.
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbind.h"

static char self_path[PATH_MAX];

/// Message handler: adds a traceback (lua.c's msghandler).
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void set_paths(lua_State *L) {
  const char *dir = getenv("TUNELUA_LUA_DIR");
  if (!dir || !*dir) dir = access(TUNE_LUA_SRC_DIR "/tune/init.lua", R_OK) == 0 ? TUNE_LUA_SRC_DIR : TUNE_INSTALL_LUA_DIR;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  /* tune.core is built in. */
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_tune_core);
  lua_setfield(L, -2, "tune.core");
  lua_pop(L, 2);
}

static int run(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  set_paths(L);
  int worker = argc > 1 && !strcmp(argv[1], "--worker");
  lua_getglobal(L, "require");
  lua_pushstring(L, worker ? "tune.worker" : "tune.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

int main(int argc, char **argv) {
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n > 0) {
    self_path[n] = '\0';
    tune_self_exe = self_path;
  }
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "tunelua: cannot create a Lua state\n");
    return 2;
  }
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, run);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 1);
  int code = 2;
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "tunelua: %s\n", msg ? msg : "(error without message)");
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : (lua_toboolean(L, -1) ? 0 : 2);
  }
  lua_close(L);
  return code;
}
