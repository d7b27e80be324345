/// Shared declarations of the bindings: the registration function of each
/// Lua-visible object, and small helpers.
#ifndef TUNE_LBIND_H
#define TUNE_LBIND_H

#include <lua.h>

#include "fsutil.h"

/// Set by the tunelua binary: its own path (NULL under a stock lua5.4).
extern const char *tune_self_exe;

void tune_lconv_register(lua_State *L);       // core.json_encode, json_decode, array, result_lines, short_text, one_line
void tune_lpgf_register(lua_State *L);        // core.pgf
void tune_lexecutor_register(lua_State *L);   // core.executor_new
void tune_lexecutor_pg_register(lua_State *L); // the executor's placement-group methods
void tune_lworker_register(lua_State *L);     // core.worker_channel
void tune_lsys_register(lua_State *L);        // clocks, process ids, signals
void tune_lproc_register(lua_State *L);       // child processes: spawn, wait, read
void tune_lfs_register(lua_State *L);         // files
void tune_ldashboard_register(lua_State *L);  // core.dashboard_start

#include "tunelua.h"  // luaopen_tune_core

/// The backend core.executor_new's options at `idx` ask for (lbackend.c).
/// A simulator's Lua host is anchored at *host_ref (unref it after the
/// backend is destroyed). NULL with a message in `err`.
struct tune_backend;
struct tune_backend *tune_lbackend_new(lua_State *L, int idx, int *host_ref, char *err, size_t errlen);

/// The buffer of the core.open_append handle at `idx` (lfs.c); raises if
/// it is not one. Valid while the handle lives (closed: fd -1, nothing
/// pending).
tune_appendbuf_t *tune_lfs_check_append(lua_State *L, int idx);
/// The log files a core.prepare_dir job at `idx` made and kept open, once
/// it has been waited for: moved to `fds` (the caller's to close); -1 when
/// it is no such job or kept none.
int tune_lfs_take_prep_fds(lua_State *L, int idx, int fds[2]);
/// The Lua state's directory thread (engine/fsprep.h), started with its
/// first job; the state holds it until it closes.
struct tune_fsprep *tune_lfs_prep_service(lua_State *L);

/// Returns nil, "<what>: <strerror(-rc)>" (luaL_fileresult style).
int tune_lua_fail(lua_State *L, const char *what, int rc);

/// A new Lua state for the tunelua binary (lstate.c: Lua's small blocks
/// from a pool), set up as luaL_newstate sets one up.
lua_State *tune_lua_newstate(void);

/// cJSON's blocks from a pool too (lstate.c), in the tunelua binary only:
/// called first thing in main, before any cJSON object exists.
void tune_json_pool_install(void);

/// Registers the metatable `name` for a userdata class (once): `methods`
/// as its __index, `gc` as __gc and `close` as __close (to-be-closed
/// variables; NULL for none).
void tune_lua_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                    lua_CFunction close);

#endif
