/// The one converter between Lua values and JSON (cJSON trees and text).
/// JSON null is `tune.null`; an empty JSON array becomes a table with the
/// array marker metatable (`tune.empty_array`'s), so `[]` and `{}` survive a
/// round trip; NaN and +-inf are written as NaN/Infinity.
#ifndef TUNE_LCONV_H
#define TUNE_LCONV_H

#include <cjson/cJSON.h>
#include <lua.h>

#include "buf.h"

/// Registry key of the array marker metatable.
#define TUNE_ARRAY_MT "tune.array"

/// Creates the array marker metatable in the registry (once).
void tune_lconv_init(lua_State *L);
/// Pushes `item` as a Lua value. Raises on stack overflow.
void tune_lua_push_json(lua_State *L, const cJSON *item);
/// A JSON object as a table with room for `extra` more fields. Returns 1
/// when a member is a non-empty object or array (the table is nested).
int tune_lua_push_object(lua_State *L, const cJSON *obj, int extra);
/// tune_lua_push_object for a result of the engine's (tune_trial_fill_result),
/// whose keys are pushed from the table at `keys` (tune_lua_push_result_keys).
int tune_lua_push_result(lua_State *L, const cJSON *obj, int extra, int keys);
/// Pushes a table of Lua strings, one for each of tune_result_keys.
void tune_lua_push_result_keys(lua_State *L);
/// Appends the JSON text of the value at `idx`. Returns 0, or -1 with a
/// message naming the offending key path in `err`.
int tune_lua_write_json(lua_State *L, int idx, tune_buf_t *out, char *err, size_t errlen);
/// The value at `idx` as a cJSON tree (caller owns it), or NULL with `err`.
cJSON *tune_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);
/// Like tune_lua_to_json but raises a Lua error naming `what`.
cJSON *tune_lua_check_json(lua_State *L, int idx, const char *what);

#endif
