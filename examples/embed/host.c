/// A C program that embeds Lua and tunelua: it links the installed library
/// (pkg-config tunelua), opens tune.core from it and runs an experiment
/// file with `require "tune"`. Build with the Makefile beside it:
///   make PKG_CONFIG_PATH=<prefix>/lib/pkgconfig && ./host experiment.lua
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <tunelua.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s experiment.lua\n", argv[0]);
    return 2;
  }
  /* Trials run in `tunelua --worker` processes: the installed binary. */
  setenv("TUNELUA_BIN", TUNELUA_BINDIR "/tunelua", 0);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  /* tune.core is linked in: `require "tune.core"` finds it in
   * package.preload, also after a host clears package.loaded. */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_tune_core);
  lua_setfield(L, -2, "tune.core");
  lua_pop(L, 1);
  /* The Lua library from the same prefix, whatever LUA_PATH says. */
  if (luaL_dostring(L, "package.path = '" TUNELUA_LUADIR "/?.lua;" TUNELUA_LUADIR "/?/init.lua;' .. package.path"))
    return 1;
  /* A worker runs the experiment file again up to its tune.run call: it
   * finds the file in arg[0], as under lua5.4. */
  lua_createtable(L, 0, 1);
  lua_pushstring(L, argv[1]);
  lua_rawseti(L, -2, 0);
  lua_setglobal(L, "arg");
  int rc = 0;
  if (luaL_dofile(L, argv[1]) != LUA_OK) {
    /* What tune.run raises when trials failed is a TuneError, a table
     * with __tostring: luaL_tolstring gives its message. */
    fprintf(stderr, "host: %s\n", luaL_tolstring(L, -1, NULL));
    rc = 1;
  }
  lua_close(L);
  return rc;
}
