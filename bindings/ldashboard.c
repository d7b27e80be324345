/// core.dashboard_start: the live dashboard's server (engine/dashboard.c)
/// as a Lua object, owned by tune.dashboard.
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dashboard.h"
#include "lbind.h"

#define DASHBOARD_MT "tune.dashboard"

typedef struct {
  tune_dashboard_t *d;
} ldash_t;

static tune_dashboard_t *check(lua_State *L) {
  ldash_t *u = luaL_checkudata(L, 1, DASHBOARD_MT);
  if (!u->d) luaL_error(L, "the dashboard is stopped");
  return u->d;
}

/// core.random_token() -> 32 hex digits from /dev/urandom | nil, message
static int l_random_token(lua_State *L) {
  unsigned char b[16];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, b, sizeof b) : -1;
  if (fd >= 0) close(fd);
  if (n != (ssize_t)sizeof b) {
    lua_pushnil(L);
    lua_pushliteral(L, "cannot read /dev/urandom");
    return 2;
  }
  char hex[33];
  for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", b[i]);
  lua_pushstring(L, hex);
  return 1;
}

/// core.dashboard_start(host, port, token|nil, root, page) -> dashboard | nil, message
static int l_start(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  const char *token = luaL_optstring(L, 3, NULL);
  const char *root = luaL_checkstring(L, 4);
  size_t page_len;
  const char *page = luaL_checklstring(L, 5, &page_len);
  ldash_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->d = NULL;
  luaL_setmetatable(L, DASHBOARD_MT);
  char err[256];
  if (port < 0 || port > 65535) {
    lua_pushnil(L);
    lua_pushfstring(L, "dashboard port %d is out of range (0-65535)", (int)port);
    return 2;
  }
  u->d = tune_dashboard_start(host, (int)port, token, root, page, page_len, err, sizeof err);
  if (!u->d) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static int l_port(lua_State *L) {
  lua_pushinteger(L, tune_dashboard_port(check(L)));
  return 1;
}

static int l_publish(lua_State *L) {
  tune_dashboard_t *d = check(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (tune_dashboard_publish(d, s, len) < 0) return luaL_error(L, "out of memory");
  return 0;
}

static int l_wanted(lua_State *L) {
  lua_pushboolean(L, tune_dashboard_wanted(check(L)));
  return 1;
}

static int l_requests(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)tune_dashboard_requests(check(L)));
  return 1;
}

/// dashboard:idle() -> seconds since the last request (nil: none yet), and
/// the longest gap between polls a page announced (nil: none did).
static int l_idle(lua_State *L) {
  double poll = 0, idle = tune_dashboard_idle(check(L), &poll);
  if (idle < 0) lua_pushnil(L);
  else lua_pushnumber(L, idle);
  if (poll > 0) lua_pushnumber(L, poll);
  else lua_pushnil(L);
  return 2;
}

/// dashboard:wait(seen [, timeout_s]) -> the event count: returns when it
/// differs from `seen` or after timeout_s (0 or none: at once).
static int l_wait(lua_State *L) {
  tune_dashboard_t *d = check(L);
  lua_Integer seen = luaL_checkinteger(L, 2);
  double timeout = luaL_optnumber(L, 3, 0);
  lua_pushinteger(L, (lua_Integer)tune_dashboard_wait(d, (unsigned long)seen, timeout));
  return 1;
}

static int l_stop(lua_State *L) {
  ldash_t *u = luaL_checkudata(L, 1, DASHBOARD_MT);
  tune_dashboard_stop(u->d);
  u->d = NULL;
  return 0;
}

static const luaL_Reg methods[] = {
    {"port", l_port}, {"publish", l_publish}, {"wanted", l_wanted},
    {"requests", l_requests}, {"idle", l_idle}, {"wait", l_wait}, {"stop", l_stop}, {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"dashboard_start", l_start},
    {"random_token", l_random_token},
    {NULL, NULL},
};

void tune_ldashboard_register(lua_State *L) {
  tune_lua_class(L, DASHBOARD_MT, methods, l_stop, NULL);
  luaL_setfuncs(L, funcs, 0);
}
