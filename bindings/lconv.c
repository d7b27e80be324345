#include "lconv.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "numfmt.h"
#include "trial.h"
#include "lbind.h"

void tune_lconv_init(lua_State *L) {
  if (luaL_newmetatable(L, TUNE_ARRAY_MT)) {
    lua_pushstring(L, "array");
    lua_setfield(L, -2, "__jsontype");
  }
  lua_pop(L, 1);
}

/// A table sized for the object's members and `extra` more fields; 1 when
/// a member is a non-empty object or array. Parsed keys and strings are
/// pushed with their lengths and set raw: lua_setfield and lua_pushstring
/// would first look each up in Lua's cache of C strings by address, which
/// misses for parsed text (two strcmp each, 2-3 % of a simulated result).
/// The index in tune_result_keys of `k`, an address, looked for from `from`
/// (the keys come in the engine's order) and then from the start; -1: not one.
static int result_key(const char *k, int from) {
  for (int j = from; j < TUNE_RK_N; j++)
    if (tune_result_keys[j] == k) return j;
  for (int j = 0; j < from && j < TUNE_RK_N; j++)
    if (tune_result_keys[j] == k) return j;
  return -1;
}

/// `keys`, when not 0: the index of a table of Lua strings, one for each of
/// tune_result_keys (1-based), which the engine's result keys are pushed
/// from (its address names the key; no lookup by text).
static int push_object(lua_State *L, const cJSON *obj, int extra, int keys) {
  int n = 0, nested = 0, next = 0;
  for (const cJSON *c = obj->child; c; c = c->next) n++;
  lua_createtable(L, 0, n + extra);
  for (const cJSON *c = obj->child; c; c = c->next) {
    int t = c->type & 0xFF;
    if ((t == cJSON_Object || t == cJSON_Array) && c->child) nested = 1;
    int rk = keys && (c->type & cJSON_StringIsConst) ? result_key(c->string, next) : -1;
    if (rk >= 0) {
      next = rk + 1;
      lua_rawgeti(L, keys, rk + 1);
      tune_lua_push_json(L, c);
      lua_rawset(L, -3);
    } else if (c->type & cJSON_StringIsConst) {
      /* A constant key (the engine's own fields): its address is stable,
         so Lua's cache finds it at the first compare. */
      tune_lua_push_json(L, c);
      lua_setfield(L, -2, c->string);
    } else {
      lua_pushlstring(L, c->string, strlen(c->string));
      tune_lua_push_json(L, c);
      lua_rawset(L, -3);
    }
  }
  return nested;
}

int tune_lua_push_object(lua_State *L, const cJSON *obj, int extra) {
  luaL_checkstack(L, 4, "JSON nested too deeply");
  return push_object(L, obj, extra, 0);
}

int tune_lua_push_result(lua_State *L, const cJSON *obj, int extra, int keys) {
  luaL_checkstack(L, 4, "JSON nested too deeply");
  return push_object(L, obj, extra, lua_absindex(L, keys));
}

void tune_lua_push_result_keys(lua_State *L) {
  lua_createtable(L, TUNE_RK_N, 0);
  for (int j = 0; j < TUNE_RK_N; j++) {
    lua_pushstring(L, tune_result_keys[j]);
    lua_rawseti(L, -2, j + 1);
  }
}

void tune_lua_push_json(lua_State *L, const cJSON *item) {
  luaL_checkstack(L, 4, "JSON nested too deeply");
  switch (item->type & 0xFF) {
    case cJSON_False: lua_pushboolean(L, 0); break;
    case cJSON_True: lua_pushboolean(L, 1); break;
    case cJSON_NULL: lua_pushlightuserdata(L, NULL); break;
    case cJSON_Number:
      if (tune_json_is_int(item)) lua_pushinteger(L, (lua_Integer)tune_json_int(item));
      else lua_pushnumber(L, item->valuedouble);
      break;
    case cJSON_String: lua_pushlstring(L, item->valuestring, strlen(item->valuestring)); break;
    case cJSON_Array: {
      int n = cJSON_GetArraySize(item);
      lua_createtable(L, n, 0);
      if (n == 0) luaL_setmetatable(L, TUNE_ARRAY_MT);
      lua_Integer i = 1;
      for (const cJSON *c = item->child; c; c = c->next) {
        tune_lua_push_json(L, c);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case cJSON_Object: (void)push_object(L, item, 0, 0); break;
    default: lua_pushnil(L); break;
  }
}

typedef struct {
  char *err;
  size_t errlen;
  const char *path[64]; ///< a key, or NULL: an array index (idx)
  lua_Integer idx[64];   ///< formatted only when an error names the path
  int depth;
  int array_mt; ///< stack index of the metatable that marks an array (tune.array)
} wctx_t;

/// The path to the value at c->depth; a deep one as its first steps and
/// its depth (a cycle's path is the same key over and over).
static void path_text(wctx_t *c, char *out, size_t len) {
  size_t n = 0;
  out[0] = '\0';
  int shown = c->depth > 16 ? 8 : c->depth;
  for (int i = 0; i < shown && n < len; i++) {
    if (c->path[i]) n += (size_t)snprintf(out + n, len - n, i ? ".%s" : "%s", c->path[i]);
    else n += (size_t)snprintf(out + n, len - n, "[%lld]", (long long)c->idx[i]);
  }
  if (shown < c->depth && n < len) snprintf(out + n, len - n, "... (depth %d)", c->depth);
}

static int werr(wctx_t *c, const char *what) {
  char path[512];
  path_text(c, path, sizeof path);
  if (path[0]) snprintf(c->err, c->errlen, "%s at '%s'", what, path);
  else snprintf(c->err, c->errlen, "%s", what);
  return -1;
}

static int write_value(lua_State *L, int idx, tune_buf_t *out, wctx_t *c);

/// Members beyond which an object's pairs do not wait on the Lua stack.
#define LARGE_OBJECT 50000

/// A member's key text, the stack slot of its value, and 1 for a number
/// key (after a string key of the same text: {["1"] = a, [1] = b}).
typedef struct {
  const char *s;
  size_t len;
  int value;
  int number;
} jkey_t;

static inline int jkey_cmp(const jkey_t *x, const jkey_t *y) {
  if (x->len && y->len && x->s[0] != y->s[0]) return (unsigned char)x->s[0] - (unsigned char)y->s[0];
  int d = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  if (d) return d;
  return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : x->number - y->number;
}

static int jkey_qcmp(const void *a, const void *b) { return jkey_cmp(a, b); }

/// In the order of the keys' text, bytewise: by insertion for the few
/// members of most objects (glibc's qsort is a merge sort through a
/// function pointer, a fifth of an encoding's instructions), qsort beyond.
static void sort_keys(jkey_t *a, size_t n) {
  if (n > 24) {
    qsort(a, n, sizeof *a, jkey_qcmp);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    jkey_t x = a[i];
    size_t j = i;
    for (; j > 0 && jkey_cmp(&a[j - 1], &x) > 0; j--) a[j] = a[j - 1];
    a[j] = x;
  }
}

/// 1 when the table at idx is a sequence 1..n (n > 0), with n in *len.
static int is_sequence(lua_State *L, int idx, lua_Integer *len) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n == 0) return 0; /* an object (or empty): no pass over it */
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER || !lua_isinteger(L, -1)) {
      lua_pop(L, 1);
      return 0;
    }
    lua_Integer k = lua_tointeger(L, -1);
    if (k < 1 || k > n) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  *len = n;
  return count == n && n > 0;
}

static int write_array(lua_State *L, int idx, lua_Integer n, tune_buf_t *out, wctx_t *c) {
  tune_buf_putc(out, '[');
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) tune_buf_putc(out, ',');
    lua_rawgeti(L, idx, i);
    if (c->depth < 64) {
      c->path[c->depth] = NULL;
      c->idx[c->depth] = i;
    }
    c->depth++;
    int rc = write_value(L, lua_gettop(L), out, c);
    c->depth--;
    lua_pop(L, 1);
    if (rc < 0) return rc;
  }
  tune_buf_putc(out, ']');
  return 0;
}

/// Writes the members sorted in `order` (k of them): each key's text and
/// the value at the stack slot `value`, or (with `keys`, a large object's
/// table of its keys) the table's value for keys[value].
static int write_members(lua_State *L, int idx, jkey_t *order, lua_Integer k, int keys, tune_buf_t *out,
                         wctx_t *c) {
  tune_buf_putc(out, '{');
  for (lua_Integer i = 0; i < k; i++) {
    const char *key = order[i].s;
    size_t klen = order[i].len;
    if (memchr(key, '\0', klen)) {
      /* Named up to its NUL. */
      if (c->depth < 64) c->path[c->depth] = key;
      c->depth++;
      werr(c, "a key with a NUL character (C strings end there)");
      c->depth--;
      return -1;
    }
    if (i > 0) tune_buf_putc(out, ',');
    tune_json_write_string(out, key, klen);
    tune_buf_putc(out, ':');
    int value = order[i].value;
    if (keys) {
      lua_rawgeti(L, keys, value);
      lua_rawget(L, idx);
      value = lua_gettop(L);
    }
    if (c->depth < 64) c->path[c->depth] = key;
    c->depth++;
    int rc = write_value(L, value, out, c);
    c->depth--;
    if (keys) lua_pop(L, 1);
    if (rc < 0) return rc;
  }
  tune_buf_putc(out, '}');
  return 0;
}

/// The key at `slot` as text, in place (a number key's made here), in *key;
/// -1 for a key of another type.
static int key_text(lua_State *L, int slot, jkey_t *key, wctx_t *c) {
  int kt = lua_type(L, slot);
  if (kt == LUA_TNUMBER) {
    char keybuf[64];
    if (lua_isinteger(L, slot)) snprintf(keybuf, sizeof keybuf, "%lld", (long long)lua_tointeger(L, slot));
    else snprintf(keybuf, sizeof keybuf, "%.17g", lua_tonumber(L, slot));
    lua_pushstring(L, keybuf);
    lua_replace(L, slot);
  } else if (kt != LUA_TSTRING) {
    char what[96];
    snprintf(what, sizeof what, "cannot encode a table key of type %s", lua_typename(L, kt));
    return werr(c, what);
  }
  key->s = lua_tolstring(L, slot, &key->len);
  key->number = kt == LUA_TNUMBER;
  return 0;
}

/// An object too large for its members to wait on the stack: its keys'
/// texts and the keys themselves in two tables, the array sorted in a
/// userdata, each value looked up again as it is written.
static int write_large_object(lua_State *L, int idx, tune_buf_t *out, wctx_t *c) {
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
  }
  lua_createtable(L, (int)count, 0); /* texts */
  int texts = lua_gettop(L);
  lua_createtable(L, (int)count, 0); /* keys */
  int keys = lua_gettop(L);
  jkey_t *order = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *order, 0);
  lua_Integer k = 0;
  lua_pushnil(L);
  while (k < count && lua_next(L, idx)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, k + 1); /* [.. key text] */
    if (key_text(L, lua_gettop(L), &order[k], c) < 0) return -1;
    order[k].value = (int)(k + 1);
    lua_rawseti(L, texts, k + 1);
    k++;
  }
  sort_keys(order, (size_t)k); /* (the key lua_next left, if any, goes with the rest below) */
  int rc = write_members(L, idx, order, k, keys, out, c);
  lua_settop(L, texts - 1);
  return rc;
}

static int write_table(lua_State *L, int idx, tune_buf_t *out, wctx_t *c) {
  if (c->depth >= TUNE_JSON_MAX_DEPTH) return werr(c, "table nested too deeply (a cycle?)");
  luaL_checkstack(L, 8, "JSON nested too deeply");
  int is_array = 0;
  if (lua_getmetatable(L, idx)) {
    is_array = lua_rawequal(L, -1, c->array_mt);
    lua_pop(L, 1);
  }
  lua_Integer n = 0;
  if (is_array || is_sequence(L, idx, &n)) return write_array(L, idx, (lua_Integer)lua_rawlen(L, idx), out, c);
  /* An object's members in the order of their keys' text (bytewise), so
     that the same table gives the same text in every process: a Lua
     table's traversal order depends on a per-process seed. One pass leaves
     each key and value on the stack (a number key replaced there by its
     text), where the sorted array points: no table is made and no value
     looked up again. The array lives on the C stack, or in a userdata
     above the members, so that an error raised below frees it. An object
     of more members than the stack takes goes the slower way. (Stack room
     is checked without raising: the caller's buffer is freed on return.) */
  int base = lua_gettop(L);
  lua_pushnil(L);
  /* [.. key value key]; lua_next takes the copy, and at the end leaves only the pairs. */
  int room = 1;
  while ((room = lua_gettop(L) - base < 2 * LARGE_OBJECT && lua_checkstack(L, 3)) && lua_next(L, idx))
    lua_pushvalue(L, -2);
  if (!room || !lua_checkstack(L, 8)) {
    lua_settop(L, base);
    return write_large_object(L, idx, out, c);
  }
  lua_Integer k = (lua_gettop(L) - base) / 2;
  jkey_t small[32];
  jkey_t *order = k > 32 ? lua_newuserdatauv(L, (size_t)k * sizeof *order, 0) : small;
  for (lua_Integer i = 0; i < k; i++) {
    int ks = base + 2 * (int)i + 1;
    if (key_text(L, ks, &order[i], c) < 0) return -1;
    order[i].value = ks + 1;
  }
  sort_keys(order, (size_t)k);
  int rc = write_members(L, idx, order, k, 0, out, c);
  lua_settop(L, base);
  return rc;
}

static int write_value(lua_State *L, int idx, tune_buf_t *out, wctx_t *c) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: tune_buf_puts(out, "null"); return 0;
    case LUA_TBOOLEAN: tune_buf_puts(out, lua_toboolean(L, idx) ? "true" : "false"); return 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) tune_json_write_int(out, (int64_t)lua_tointeger(L, idx));
      else tune_json_write_double(out, lua_tonumber(L, idx));
      return 0;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (memchr(s, '\0', len)) return werr(c, "a string with a NUL character (C strings end there)");
      tune_json_write_string(out, s, len);
      return 0;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        tune_buf_puts(out, "null");
        return 0;
      }
      break;
    case LUA_TTABLE: return write_table(L, idx, out, c);
    default: break;
  }
  char what[96];
  snprintf(what, sizeof what, "cannot encode a %s value as JSON", luaL_typename(L, idx));
  return werr(c, what);
}

int tune_lua_write_json(lua_State *L, int idx, tune_buf_t *out, char *err, size_t errlen) {
  wctx_t c; /* path and idx are written before they are read (depth) */
  c.depth = 0;
  c.err = err;
  c.errlen = errlen;
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, "JSON");
  luaL_getmetatable(L, TUNE_ARRAY_MT);
  c.array_mt = lua_gettop(L);
  int rc = write_value(L, idx, out, &c);
  lua_settop(L, top);
  return rc;
}

/// Printable ASCII only: such text reads back from JSON as it was written.
static int plain_text(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
  return 1;
}

/// The object's members relinked in the order of their keys, sorted as
/// write_table sorts them (flat_object's keys have no NUL). Left as they
/// are if the arrays to sort them in cannot be had.
static void sort_members(cJSON *obj) {
  size_t n = 0;
  for (cJSON *m = obj->child; m; m = m->next) n++;
  if (n < 2) return;
  cJSON *stack_members[32];
  jkey_t stack_keys[32];
  cJSON **members = n <= 32 ? stack_members : malloc(n * sizeof *members);
  jkey_t *keys = n <= 32 ? stack_keys : malloc(n * sizeof *keys);
  if (members && keys) {
    size_t i = 0;
    for (cJSON *m = obj->child; m; m = m->next, i++) {
      members[i] = m;
      keys[i] = (jkey_t){.s = m->string, .len = strlen(m->string), .value = (int)i};
    }
    sort_keys(keys, n);
    for (i = 0; i < n; i++) {
      cJSON *m = members[keys[i].value];
      m->next = i + 1 < n ? members[keys[i + 1].value] : NULL;
      m->prev = i > 0 ? members[keys[i - 1].value] : members[keys[n - 1].value]; /* cJSON: the first's prev is the last */
    }
    obj->child = members[keys[0].value];
  }
  if (members != stack_members) free(members);
  if (keys != stack_keys) free(keys);
}

/// The tree that writing the table at idx as JSON and parsing the text
/// would give, made directly, for the common case of a table of metrics:
/// no metatable, string keys, and numbers, booleans or strings as values,
/// the strings printable ASCII. NULL for any other table (the caller takes
/// the text route, which knows every case). Numbers as the parser makes
/// them: integers within 2^53 flagged as integers, the rest doubles.
static cJSON *flat_object(lua_State *L, int idx) {
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_rawlen(L, idx) > 0) return NULL; /* maybe a sequence: an array */
  cJSON *obj = cJSON_CreateObject();
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t klen = 0;
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
    cJSON *v = NULL;
    if (key && plain_text(key, klen)) {
      switch (lua_type(L, -1)) {
        case LUA_TBOOLEAN: v = cJSON_CreateBool(lua_toboolean(L, -1)); break;
        case LUA_TNUMBER:
          if (lua_isinteger(L, -1)) {
            lua_Integer i = lua_tointeger(L, -1);
            v = tune_json_new_int((int64_t)i);
          } else {
            v = cJSON_CreateNumber(lua_tonumber(L, -1));
          }
          break;
        case LUA_TSTRING: {
          size_t len;
          const char *str = lua_tolstring(L, -1, &len);
          if (plain_text(str, len)) v = cJSON_CreateString(str);
          break;
        }
        default: break;
      }
    }
    if (!v) {
      /* An entry it does not make: the caller resets the stack. */
      cJSON_Delete(obj);
      return NULL;
    }
    cJSON_AddItemToObject(obj, key, v);
    lua_pop(L, 1);
  }
  sort_members(obj);
  return obj;
}

cJSON *tune_lua_to_json(lua_State *L, int idx, char *err, size_t errlen) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TTABLE) {
    int top = lua_gettop(L);
    cJSON *v = flat_object(L, idx);
    lua_settop(L, top);
    if (v) return v;
  }
  tune_buf_t b = TUNE_BUF_INIT;
  if (tune_lua_write_json(L, idx, &b, err, errlen) < 0) {
    tune_buf_free(&b);
    return NULL;
  }
  cJSON *v = tune_json_parse(b.data, b.len, err, errlen);
  tune_buf_free(&b);
  return v;
}

cJSON *tune_lua_check_json(lua_State *L, int idx, const char *what) {
  char err[512];
  cJSON *v = tune_lua_to_json(L, idx, err, sizeof err);
  if (!v) luaL_error(L, "%s: %s", what, err);
  return v;
}

/// core.json_encode(value) -> text | nil, message
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  tune_buf_t b = TUNE_BUF_INIT;
  /* Most journal entries fit; 1 KiB stays within malloc's per-thread cache. */
  tune_buf_reserve(&b, 1000);
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
  tune_lua_push_json(L, v);
  cJSON_Delete(v);
  return 1;
}

/// Replaces the value on top with its text as progress lines show it: a
/// string as it is, a float with "%.4g", a table as JSON ("{...}" when it
/// is not JSON), anything else as tostring shows it.
static void short_text(lua_State *L) {
  int vt = lua_type(L, -1);
  if (vt == LUA_TSTRING) return;
  if (vt == LUA_TNUMBER && lua_isinteger(L, -1)) {
    /* As tostring writes it (LUA_INTEGER_FMT), without its metatable search. */
    char num[24];
    size_t len = tune_fmt_int(num, (int64_t)lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_pushlstring(L, num, len);
  } else if (vt == LUA_TBOOLEAN) {
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_pushstring(L, v ? "true" : "false");
  } else if (vt == LUA_TNUMBER) {
    char num[64];
    int len = snprintf(num, sizeof num, "%.4g", (double)lua_tonumber(L, -1));
    lua_pop(L, 1);
    lua_pushlstring(L, num, (size_t)len);
  } else if (vt == LUA_TTABLE) {
    tune_buf_t j = TUNE_BUF_INIT;
    char err[64];
    if (tune_lua_write_json(L, lua_gettop(L), &j, err, sizeof err) == 0) lua_pushlstring(L, j.data ? j.data : "", j.len);
    else lua_pushliteral(L, "{...}");
    tune_buf_free(&j);
    lua_remove(L, -2);
  } else {
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
  }
}

/// core.result_lines(keys, result, skip) -> text: "  key: value" for each
/// key of the sequence `keys` but `skip`, joined by newlines (the
/// progress lines' "Result for" block). A value is shown as it is (a
/// string), with "%.4g" (a float), as JSON (a table; "{...}" when it is
/// not JSON), or as tostring shows it (short_text). One call instead of a
/// format, a tostring and two concatenations per line in Lua.
static int l_result_lines(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *skip = luaL_optstring(L, 3, NULL);
  lua_Integer n = luaL_len(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  /* Between buffer operations the stack is as the last one left it, but
     for the one value luaL_addvalue takes from its top. */
  int first = 1;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    int skipped = skip && lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), skip);
    lua_pop(L, 1);
    if (skipped) continue;
    luaL_addstring(&b, first ? "  " : "\n  ");
    first = 0;
    lua_geti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaL_tolstring(L, -1, NULL);
      lua_remove(L, -2);
    }
    luaL_addvalue(&b);
    luaL_addstring(&b, ": ");
    lua_geti(L, 1, i);
    lua_gettable(L, 2);
    short_text(L);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

/// core.one_line(s) -> s with each CR, LF and tab a space (s itself when
/// it has none): a table cell's text, in one pass instead of three plain
/// searches (a final table looks at every text cell).
static int l_one_line(lua_State *L) {
  size_t len;
  const char *str = luaL_checklstring(L, 1, &len);
  size_t i = 0;
  while (i < len && str[i] != '\n' && str[i] != '\r' && str[i] != '\t') i++;
  if (i == len) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len);
  for (size_t k = 0; k < len; k++) {
    char c = str[k];
    out[k] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  luaL_pushresultsize(&b, len);
  return 1;
}

/// core.short_text(value) -> text: a value as progress lines show it.
static int l_short_text(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  short_text(L);
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

/// core.table_new(narr, nrec): a table with room for narr array items and
/// nrec fields (lua_createtable), for objects whose fields are set one by
/// one right after (a table grown field by field is rehashed at 1, 2, 4,
/// ... fields).
static int l_table_new(lua_State *L) {
  lua_Integer narr = luaL_optinteger(L, 1, 0), nrec = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, narr >= 0 && narr <= 1 << 20, 1, "out of range");
  luaL_argcheck(L, nrec >= 0 && nrec <= 1 << 20, 2, "out of range");
  lua_createtable(L, (int)narr, (int)nrec);
  return 1;
}

static const luaL_Reg json_funcs[] = {
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {"array", l_array},
    {"table_new", l_table_new},
    {"result_lines", l_result_lines},
    {"short_text", l_short_text},
    {"one_line", l_one_line},
    {NULL, NULL},
};

void tune_lconv_register(lua_State *L) { luaL_setfuncs(L, json_funcs, 0); }
