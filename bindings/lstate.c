/// The Lua state of the tunelua binary (driver and workers): Lua's small
/// blocks come from a pool. A tuning run allocates and frees millions of
/// them (tables of results, strings of keys, closures), and glibc's
/// malloc spent a tenth of the driver's time on them (free-list searches,
/// consolidation); with the pool the loop's per-trial cost and the
/// simulator's results per second gain 5-15 % (docs/benchmarks.md). A
/// stock lua5.4 loading tune/core.so keeps its own allocator; so does the
/// sanitizer build, whose checks need every block from malloc.
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lbind.h"

#if defined(__SANITIZE_ADDRESS__)
#define TUNE_LUA_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TUNE_LUA_POOL 0
#endif
#endif
#ifndef TUNE_LUA_POOL
#define TUNE_LUA_POOL 1
#endif

/* Blocks up to POOL_MAX bytes, in classes of POOL_STEP, are carved from
   POOL_SLAB-byte slabs and kept on a free list per class once freed (Lua
   gives the old size on every free and realloc, so a block needs no
   header). Slabs are never given back: the pool is as large as the most
   small blocks the state ever held at once. Larger blocks use malloc. */
#define POOL_MAX 256
#define POOL_STEP 16
#define POOL_CLASSES (POOL_MAX / POOL_STEP)
#define POOL_SLAB (64 * 1024)

typedef struct {
  void *free[POOL_CLASSES];
  char *cur;     ///< the unused rest of the newest slab
  size_t left;
} pool_t;

static pool_t pool;   /* one Lua state per process */

static size_t class_of(size_t n) { return (n + POOL_STEP - 1) / POOL_STEP - 1; }

static void *pool_get(pool_t *p, size_t c) {
  void *b = p->free[c];
  if (b) {
    p->free[c] = *(void **)b;
    return b;
  }
  size_t size = (c + 1) * POOL_STEP;
  if (p->left < size) {
    /* The old slab's rest (under one block) is left unused. */
    char *slab = malloc(POOL_SLAB);
    if (!slab) return NULL;
    p->cur = slab;
    p->left = POOL_SLAB;
  }
  b = p->cur;
  p->cur += size;
  p->left -= size;
  return b;
}

static void pool_put(pool_t *p, size_t c, void *b) {
  *(void **)b = p->free[c];
  p->free[c] = b;
}

/// lua_Alloc. With ptr == NULL, osize is the kind of object, not a size.
static void *pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  pool_t *p = ud;
  if (nsize == 0) {
    if (!ptr) return NULL;
    if (osize <= POOL_MAX) pool_put(p, class_of(osize), ptr);
    else free(ptr);
    return NULL;
  }
  if (!ptr) return nsize <= POOL_MAX ? pool_get(p, class_of(nsize)) : malloc(nsize);
  int small_before = osize <= POOL_MAX, small_after = nsize <= POOL_MAX;
  if (small_before && small_after && class_of(osize) == class_of(nsize)) return ptr;
  if (!small_before && !small_after) return realloc(ptr, nsize);
  void *b = small_after ? pool_get(p, class_of(nsize)) : malloc(nsize);
  if (!b) return NULL;
  memcpy(b, ptr, osize < nsize ? osize : nsize);
  if (small_before) pool_put(p, class_of(osize), ptr);
  else free(ptr);
  return b;
}

/* cJSON's nodes and strings come from a pool of their own: a result
   makes and frees some thirty of them (the parsed line, the fields the
   engine adds, the copies for the loggers), and glibc's malloc and free
   were a seventh of the simulator's instructions. cJSON's free gives no
   size, so each block carries its class in a header of JSON_HDR bytes
   (JSON_BIG: a malloc'd block). The free lists are per thread, so that
   cJSON stays safe to call from any thread (today only the main thread
   makes cJSON objects: the directory and output threads do not); a block
   freed by another thread than the one that made it joins that thread's
   list, which is as good. */
#define JSON_HDR 16
#define JSON_BIG 0xffu

static _Thread_local pool_t json_pool;

static void *json_malloc(size_t n) {
  size_t total = n + JSON_HDR;
  unsigned char *b;
  if (total <= POOL_MAX) {
    size_t c = class_of(total);
    b = pool_get(&json_pool, c);
    if (!b) return NULL;
    b[0] = (unsigned char)c;
  } else {
    b = malloc(total);
    if (!b) return NULL;
    b[0] = JSON_BIG;
  }
  return b + JSON_HDR;
}

static void json_free(void *ptr) {
  if (!ptr) return;
  unsigned char *b = (unsigned char *)ptr - JSON_HDR;
  if (b[0] == JSON_BIG) free(b);
  else pool_put(&json_pool, b[0], b);
}

void tune_json_pool_install(void) {
  if (!TUNE_LUA_POOL) return;
  cJSON_Hooks hooks = {json_malloc, json_free};
  cJSON_InitHooks(&hooks);
}

/* What luaL_newstate installs besides its allocator: a panic function
   that prints the error, and warnings off until "@on". */

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg ? msg : "error object is not a string");
  return 0;
}

static void warn_on(void *ud, const char *msg, int tocont);
static void warn_off(void *ud, const char *msg, int tocont);

/// "@on" / "@off" (a whole message starting with '@') switch warnings.
static int warn_control(lua_State *L, const char *msg, int tocont) {
  if (tocont || msg[0] != '@') return 0;
  if (!strcmp(msg + 1, "on")) lua_setwarnf(L, warn_on, L);
  else if (!strcmp(msg + 1, "off")) lua_setwarnf(L, warn_off, L);
  return 1;
}

static void warn_off(void *ud, const char *msg, int tocont) { warn_control(ud, msg, tocont); }

/// The rest of a warning in parts: printed as it comes, ended by a newline.
static void warn_more(void *ud, const char *msg, int tocont) {
  fputs(msg, stderr);
  if (tocont) {
    lua_setwarnf(ud, warn_more, ud);
  } else {
    fputs("\n", stderr);
    fflush(stderr);
    lua_setwarnf(ud, warn_on, ud);
  }
}

static void warn_on(void *ud, const char *msg, int tocont) {
  if (warn_control(ud, msg, tocont)) return;
  fputs("Lua warning: ", stderr);
  warn_more(ud, msg, tocont);
}

lua_State *tune_lua_newstate(void) {
  if (!TUNE_LUA_POOL) return luaL_newstate();
  lua_State *L = lua_newstate(pool_alloc, &pool);
  if (!L) return NULL;
  lua_atpanic(L, panic);
  lua_setwarnf(L, warn_off, L);
  return L;
}
