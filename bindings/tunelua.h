/// tunelua's public C header for a host program that embeds Lua: it opens
/// the tune.core module from the installed library (pkg-config tunelua)
/// through package.preload, where every `require "tune.core"` finds it
/// (also after the host clears package.loaded):
///   luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
///   lua_pushcfunction(L, luaopen_tune_core);
///   lua_setfield(L, -2, "tune.core");
///   lua_pop(L, 1);
/// then `require "tune"` finds the Lua library on package.path. The engine's
/// own API (executor.h and the headers it includes) is installed beside it.
#ifndef TUNELUA_H
#define TUNELUA_H

#include <lua.h>

#define TUNELUA_VERSION_MAJOR 0
#define TUNELUA_VERSION_MINOR 1

/// Opens the tune.core module (the C layer lua/tune/*.lua builds on).
int luaopen_tune_core(lua_State *L);

#endif
