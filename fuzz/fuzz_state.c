/// libFuzzer target: the experiment-state and journal loader that a resume
/// reads (lua/tune/experiment/persistence.lua, through tune.core's JSON).
/// The input is split at its first NUL into the state file and the
/// journal; load() must return the state or nil and a message, never
/// raise. Lua's lines count as coverage (libFuzzer's extra counters, fed
/// by a line hook), so the fuzzer is guided through the Lua code too.
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int luaopen_tune_core(lua_State *L);

#define NCOUNTERS (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t lua_lines[NCOUNTERS];

static lua_State *L;
static char dir[256];

static void on_line(lua_State *l, lua_Debug *ar) {
  lua_getinfo(l, "S", ar);
  uintptr_t h = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline;
  h ^= h >> 16;
  lua_lines[h % NCOUNTERS]++;
}

static const char *const FILES[2] = {"experiment_state-2026-01-01_00-00-00.json", "experiment_journal.jsonl"};

/// The scratch directory goes when the fuzzer exits (a crash keeps it).
static void remove_dir(void) {
  char path[300];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
    unlink(path);
  }
  rmdir(dir);
}

static void init(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "tune.core", luaopen_tune_core, 0);
  lua_pop(L, 1);
  if (luaL_dostring(L, "package.path = '" TUNE_LUA_SRC_DIR "/?.lua;" TUNE_LUA_SRC_DIR "/?/init.lua;' .. package.path\n"
                       "fuzz_persistence = require('tune.experiment.persistence')") != LUA_OK) {
    fprintf(stderr, "fuzz_state: %s\n", lua_tostring(L, -1));
    abort();
  }
  const char *tmp = getenv("TMPDIR");
  if (!tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/tunelua-fuzz-state-%d", tmp, (int)getpid());
  char cmd[300];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (system(cmd) != 0) abort();
  atexit(remove_dir);
  lua_sethook(L, on_line, LUA_MASKLINE, 0);
}

static void put(const char *name, const uint8_t *data, size_t len) {
  char path[300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (len && fwrite(data, 1, len, f) != len) abort();
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) init();
  const uint8_t *nul = memchr(data, 0, size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  put(FILES[0], data, slen);
  put(FILES[1], nul ? nul + 1 : data, nul ? size - slen - 1 : 0);
  lua_getglobal(L, "fuzz_persistence");
  lua_getfield(L, -1, "load");
  lua_pushstring(L, dir);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    fprintf(stderr, "persistence.load raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
