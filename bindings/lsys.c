/// System helpers Lua lacks: clocks, sleep, process ids, signals, spawning,
/// node detection, the worker binary's path (files: lfs.c).
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
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
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

extern char **environ;

/// core.spawn(argv, {env = {K = V | false}, cwd =, stdout = path | "pipe",
///   stderr = path}) -> pid [, read_fd] | nil, message
/// A child of this process, in its process group (so it dies with it).
/// `env` overrides this process's environment (false removes a variable).
/// With stdout = "pipe", the second result is the fd to read it from
/// (core.read_line).
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int nargs = (int)luaL_len(L, 1);
  luaL_argcheck(L, nargs >= 1, 1, "argv must not be empty");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  else {
    lua_newtable(L);
    lua_replace(L, 2);
  }
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nargs + 1), 0);
  for (int i = 0; i < nargs; i++) {
    lua_rawgeti(L, 1, i + 1);
    argv[i] = (char *)luaL_checkstring(L, -1); /* anchored by the argv table */
    lua_pop(L, 1);
  }
  argv[nargs] = NULL;
  /* The environment: ours, with the overrides applied. */
  lua_getfield(L, 2, "env");
  int env_idx = lua_gettop(L);
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  size_t nover = 0;
  if (lua_istable(L, env_idx)) {
    lua_pushnil(L);
    while (lua_next(L, env_idx)) {
      nover++;
      lua_pop(L, 1);
    }
  }
  char **env = lua_newuserdatauv(L, sizeof(char *) * (nenv + nover + 1), 0);
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++) {
    const char *eq = strchr(environ[i], '=');
    int overridden = 0;
    if (eq && lua_istable(L, env_idx)) {
      lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
      overridden = lua_rawget(L, env_idx) != LUA_TNIL;
      lua_pop(L, 1);
    }
    if (!overridden) env[k++] = environ[i];
  }
  if (lua_istable(L, env_idx)) {
    lua_newtable(L); /* keeps the "K=V" strings alive until we return */
    int anchor = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, env_idx)) {
      if (lua_type(L, -1) != LUA_TBOOLEAN || lua_toboolean(L, -1)) {
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        env[k++] = (char *)lua_tostring(L, -1);
        lua_rawseti(L, anchor, ++n);
      }
      lua_pop(L, 1);
    }
  }
  env[k] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int pipefd[2] = {-1, -1};
  lua_getfield(L, 2, "stdout");
  const char *out = lua_tostring(L, -1);
  if (out && !strcmp(out, "pipe")) {
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
      posix_spawn_file_actions_destroy(&fa);
      return tune_lua_fail(L, "pipe", -errno);
    }
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  } else if (out) {
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0666);
  }
  lua_getfield(L, 2, "stderr");
  const char *err = lua_tostring(L, -1);
  if (err) posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_APPEND, 0666);
  lua_getfield(L, 2, "cwd");
  const char *cwd = lua_tostring(L, -1);
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
  pid_t pid;
  int rc = tune_spawn_clean(&pid, argv[0], &fa, argv, env, 0, 1);
  if (pipefd[1] >= 0) close(pipefd[1]);
  if (rc < 0) {
    if (pipefd[0] >= 0) close(pipefd[0]);
    return tune_lua_fail(L, argv[0], rc);
  }
  lua_pushinteger(L, pid);
  if (pipefd[0] >= 0) {
    lua_pushinteger(L, pipefd[0]);
    return 2;
  }
  return 1;
}

/// core.waitpid(pid [, nohang]) -> "exited", code | "signaled", signal |
/// nil when still running (nohang) | nil, message
static int l_waitpid(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int st;
  pid_t r;
  do r = waitpid(pid, &st, lua_toboolean(L, 2) ? WNOHANG : 0);
  while (r < 0 && errno == EINTR);
  if (r == 0) return 0;
  if (r < 0) return tune_lua_fail(L, "waitpid", -errno);
  if (WIFSIGNALED(st)) {
    lua_pushliteral(L, "signaled");
    lua_pushinteger(L, WTERMSIG(st));
  } else {
    lua_pushliteral(L, "exited");
    lua_pushinteger(L, WEXITSTATUS(st));
  }
  return 2;
}

/// core.read_line(fd) -> line | nil at end of input. Blocking; buffered
/// per fd in a small table kept in the registry.
static int l_read_line(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  lua_settop(L, 1);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "tune.readbuf") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "tune.readbuf");
  }
  /* [fd, bufs] */
  if (lua_rawgeti(L, 2, fd) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  /* [fd, bufs, pending] */
  size_t len;
  const char *s = lua_tolstring(L, 3, &len);
  const char *nl = memchr(s, '\n', len);
  if (nl) {
    lua_pushlstring(L, nl + 1, len - (size_t)(nl - s) - 1);
    lua_rawseti(L, 2, fd);
    lua_pushlstring(L, s, (size_t)(nl - s));
    return 1;
  }
  /* The line so far grows in a buffer, and only each new chunk is scanned
     (a line of megabytes was concatenated and scanned again per read). */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, s, len);
  for (;;) {
    char chunk[65536];
    ssize_t n;
    do n = read(fd, chunk, sizeof chunk);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      luaL_pushresult(&b);
      lua_pushnil(L);
      lua_rawseti(L, 2, fd);
      if (luaL_len(L, -1) == 0) return 0;
      return 1; /* the last line, without its newline */
    }
    nl = memchr(chunk, '\n', (size_t)n);
    if (nl) {
      luaL_addlstring(&b, chunk, (size_t)(nl - chunk));
      luaL_pushresult(&b);
      lua_pushlstring(L, nl + 1, (size_t)(chunk + n - nl - 1));
      lua_rawseti(L, 2, fd);
      return 1;
    }
    luaL_addlstring(&b, chunk, (size_t)n);
  }
}

static int l_close_fd(lua_State *L) {
  close((int)luaL_checkinteger(L, 1));
  return 0;
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
    {"spawn", l_spawn},
    {"waitpid", l_waitpid},
    {"read_line", l_read_line},
    {"close_fd", l_close_fd},
    {"detect_node", l_detect_node},
    {"worker_path", l_worker_path},
    {NULL, NULL},
};

void tune_lsys_register(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
