/// Helpers every binding file shares (declared in lbind.h).
#include <lauxlib.h>
#include <string.h>

#include "lbind.h"

const char *tune_self_exe = NULL;

int tune_lua_fail(lua_State *L, const char *what, int rc) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
  lua_pushinteger(L, rc < 0 ? -rc : rc);
  return 3;
}
