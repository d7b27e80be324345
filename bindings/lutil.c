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

void tune_lua_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                    lua_CFunction close) {
  if (luaL_newmetatable(L, name)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    if (close) {
      lua_pushcfunction(L, close);
      lua_setfield(L, -2, "__close");
    }
  }
  lua_pop(L, 1);
}
