/// luaopen_tune_core: the `tune.core` module, which lua/tune/*.lua builds on.
#include <lauxlib.h>

#include "lbind.h"
#include "common.h"
#include "lconv.h"
#include "signals.h"

int luaopen_tune_core(lua_State *L) {
  tune_std_fds_ensure(); /* a host started with a std stream closed */
  tune_lconv_init(L);
  lua_newtable(L);
  tune_lconv_register(L);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  luaL_getmetatable(L, TUNE_ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  lua_pushstring(L, TUNE_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushnumber(L, TUNE_MAX_WAIT_S);
  lua_setfield(L, -2, "max_wait_s");
  tune_lpgf_register(L);
  tune_lexecutor_register(L);
  tune_lexecutor_pg_register(L);
  tune_lworker_register(L);
  tune_lsys_register(L);
  tune_lproc_register(L);
  tune_lfs_register(L);
  tune_ldashboard_register(L);
  return 1;
}
