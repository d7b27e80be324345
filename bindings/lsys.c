/// System helpers Lua lacks: clocks, sleep, process ids, signals, node
/// detection, the worker binary's path (child processes: lproc.c; files:
/// lfs.c).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <lauxlib.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "backend.h"
#include "common.h"
#include "fsutil.h"
#include "lbind.h"
#include "lconv.h"
#include "signals.h"

static int l_now(lua_State *L) {
  lua_pushnumber(L, (double)uv_hrtime() / 1e9);
  return 1;
}

static int l_time(lua_State *L) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  lua_pushnumber(L, (double)tv.tv_sec + tv.tv_usec / 1e6);
  return 1;
}

/// core.sleep(seconds): nanosleep, resumed after signals.
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (!(s > 0)) return 0; /* NaN too */
  if (s > TUNE_MAX_WAIT_S) s = TUNE_MAX_WAIT_S;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
  return 0;
}

static int l_getcwd(lua_State *L) {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return tune_lua_fail(L, "getcwd", -errno);
  lua_pushstring(L, buf);
  return 1;
}

static int l_chdir(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  if (chdir(p) < 0) return tune_lua_fail(L, p, -errno);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_hostname(lua_State *L) {
  char buf[256];
  if (gethostname(buf, sizeof buf) < 0) strcpy(buf, "localhost");
  buf[sizeof buf - 1] = '\0';
  lua_pushstring(L, buf);
  return 1;
}

/// core.node_ip(): the first non-loopback IPv4 address, else 127.0.0.1.
static int l_node_ip(lua_State *L) {
  struct ifaddrs *ifs = NULL;
  char buf[INET_ADDRSTRLEN] = "127.0.0.1";
  if (getifaddrs(&ifs) == 0) {
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
      if ((ntohl(a.s_addr) >> 24) == 127) continue;
      inet_ntop(AF_INET, &a, buf, sizeof buf);
      break;
    }
    freeifaddrs(ifs);
  }
  lua_pushstring(L, buf);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/// core.kill(pid, signal_name_or_number) -> true | nil, message
static int l_kill(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int sig = SIGTERM;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *n = lua_tostring(L, 2);
    static const struct { const char *n; int s; } sigs[] = {
        {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT}, {"USR1", SIGUSR1},
        {"USR2", SIGUSR2}, {"SEGV", SIGSEGV}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"0", 0},
    };
    sig = -1;
    for (size_t i = 0; i < TUNE_ARRAY_LEN(sigs); i++)
      if (!strcmp(n, sigs[i].n)) sig = sigs[i].s;
    luaL_argcheck(L, sig >= 0, 2, "unknown signal name");
  } else if (!lua_isnoneornil(L, 2)) {
    sig = (int)luaL_checkinteger(L, 2);
  }
  if (kill(pid, sig) < 0) return tune_lua_fail(L, "kill", -errno);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.setenv(name, value | nil): set (or unset) an environment variable
/// of this process, for its own libraries and the processes it starts.
static int l_setenv(lua_State *L) {
  const char *n = luaL_checkstring(L, 1);
  int rc = lua_isnoneornil(L, 2) ? unsetenv(n) : setenv(n, luaL_checkstring(L, 2), 1);
  if (rc < 0) return tune_lua_fail(L, n, -errno);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.raise_signal(name): restore the signal's default action and raise
/// it, so the process dies exactly as an uninstrumented crash would (tests
/// of a worker that segfaults; a sanitizer's handler would intercept kill).
static int l_raise_signal(lua_State *L) {
  static const struct { const char *n; int s; } sigs[] = {
      {"SEGV", SIGSEGV}, {"ABRT", SIGABRT}, {"KILL", SIGKILL}, {"BUS", SIGBUS}, {"FPE", SIGFPE},
  };
  const char *n = luaL_checkstring(L, 1);
  for (size_t i = 0; i < TUNE_ARRAY_LEN(sigs); i++) {
    if (strcmp(n, sigs[i].n)) continue;
    signal(sigs[i].s, SIG_DFL);
    raise(sigs[i].s);
    return 0;
  }
  return luaL_argerror(L, 1, "unknown signal name");
}

/// core.detect_node() -> {CPU=, GPU=, memory=}, {gpu ids...}
static int l_detect_node(lua_State *L) {
  tune_res_t r;
  char **ids;
  size_t n;
  tune_detect_node(&r, &ids, &n);
  cJSON *j = tune_res_to_json(&r);
  tune_lua_push_json(L, j);
  cJSON_Delete(j);
  tune_res_free(&r);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, ids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
    free(ids[i]);
  }
  free(ids);
  return 2;
}

#ifndef TUNE_CORE_TO_BINDIR
/// Set by CMake from the install layout; this is the default one's.
#define TUNE_CORE_TO_BINDIR "../../../../bin"
#endif

static int executable(const char *p) { return p && access(p, X_OK) == 0; }

/// core.worker_path() -> path of the tunelua binary | nil, message
static int l_worker_path(lua_State *L) {
  const char *env = getenv("TUNELUA_BIN");
  if (env && *env) {
    lua_pushstring(L, env);
    return 1;
  }
  if (tune_self_exe) {
    lua_pushstring(L, tune_self_exe);
    return 1;
  }
  Dl_info info;
  if (dladdr((void *)l_worker_path, &info) && info.dli_fname) {
    char so[PATH_MAX];
    if (realpath(info.dli_fname, so)) {
      /* Build tree: <build>/tune/core.so next to <build>/tunelua. Installed:
       * <prefix>/<libdir>/lua/5.4/tune/core.so and <prefix>/<bindir>/tunelua,
       * wherever the prefix was moved to. */
      char *d1 = tune_fs_dirname(so), *d2 = tune_fs_dirname(d1);
      char *cands[2] = {tune_fs_join(d2, "tunelua"), NULL};
      char *bindir = tune_fs_join(d1, TUNE_CORE_TO_BINDIR);
      cands[1] = tune_fs_join(bindir, "tunelua");
      int ok = 0;
      for (int i = 0; i < 2 && !ok; i++) {
        char real[PATH_MAX];
        if (executable(cands[i]) && realpath(cands[i], real)) {
          lua_pushstring(L, real);
          ok = 1;
        }
      }
      free(d1);
      free(d2);
      free(bindir);
      free(cands[0]);
      free(cands[1]);
      if (ok) return 1;
    }
  }
  const char *installed = TUNE_INSTALL_BINDIR "/tunelua";
  if (executable(installed)) {
    lua_pushstring(L, installed);
    return 1;
  }
  lua_pushnil(L);
  lua_pushliteral(L, "cannot find the tunelua binary: set TUNELUA_BIN");
  return 2;
}

static const luaL_Reg funcs[] = {
    {"now", l_now},
    {"time", l_time},
    {"sleep", l_sleep},
    {"getcwd", l_getcwd},
    {"chdir", l_chdir},
    {"getpid", l_getpid},
    {"hostname", l_hostname},
    {"node_ip", l_node_ip},
    {"isatty", l_isatty},
    {"kill", l_kill},
    {"raise_signal", l_raise_signal},
    {"setenv", l_setenv},
    {"detect_node", l_detect_node},
    {"worker_path", l_worker_path},
    {NULL, NULL},
};

void tune_lsys_register(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
