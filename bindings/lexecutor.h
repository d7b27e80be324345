/// The executor userdata, shared by lexecutor.c and lexecutor_pg.c.
#ifndef TUNE_LEXECUTOR_H
#define TUNE_LEXECUTOR_H

#include <lauxlib.h>
#include <lua.h>

#include "executor.h"

#define TUNE_EXECUTOR_MT "tune.core.executor"

/// The open executor at index 1; raises on a closed one.
tune_executor_t *tune_lexecutor_check(lua_State *L);
/// Adds `fns` to the executor's methods, each with the metatable as its
/// upvalue 1 (which tune_lexecutor_check compares first) and the result
/// keys' Lua strings as its upvalue 2 (next_event's results).
void tune_lexecutor_methods(lua_State *L, const luaL_Reg *fns);
/// The factory entry for a PlacementGroupFactory (or core.pgf userdata) at
/// `idx`: found by its key, or interned once per executor.
tune_pgf_entry_t *tune_lexecutor_pgf(lua_State *L, tune_executor_t *ex, int idx);

#endif
