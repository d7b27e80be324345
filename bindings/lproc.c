/// Child processes for tune.command and tune.launch: spawning one, waiting
/// for it, and reading its output line by line.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "lbind.h"
#include "signals.h"

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

/* What is left to read of fd after the child writing it exited (a count
   per fd, in the registry; none while it runs). */
static lua_Integer left_get(lua_State *L, int fd) {
  int top = lua_gettop(L); /* balanced: read_line's buffer is on the stack */
  lua_getfield(L, LUA_REGISTRYINDEX, "tune.readleft");
  lua_Integer left = lua_istable(L, -1) && lua_rawgeti(L, -1, fd) == LUA_TNUMBER ? lua_tointeger(L, -1) : -1;
  lua_settop(L, top);
  return left;
}

static void left_set(lua_State *L, int fd, lua_Integer left) {
  int top = lua_gettop(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "tune.readleft") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "tune.readleft");
  }
  if (left < 0) lua_pushnil(L);
  else lua_pushinteger(L, left);
  lua_rawseti(L, -2, fd);
  lua_settop(L, top);
}

/* Whether child `pid` has exited (not reaped: its waitpid comes after). */
static int child_exited(pid_t pid) {
  siginfo_t si;
  si.si_pid = 0;
  return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0;
}

/* The next chunk of fd: > 0 bytes, 0 at the end. With a pid (> 0), the
   end is that child's exit, not the pipe's end of file: what the pipe held
   when it exited is read, but nothing a process it left behind (a `cmd &`)
   writes after, and that process keeping the pipe open does not keep the
   reader waiting. The left count is in the registry. */
static ssize_t read_chunk(lua_State *L, int fd, pid_t pid, char *chunk, size_t cap) {
  lua_Integer left = pid > 0 ? left_get(L, fd) : -1;
  while (pid > 0 && left < 0) {
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p[2] = {{fd, POLLIN, 0}, {pfd, POLLIN, 0}};
    int r = poll(p, pfd >= 0 ? 2 : 1, pfd >= 0 ? -1 : 100);
    if (pfd >= 0) close(pfd);
    if (r < 0 && errno != EINTR) break;
    if (child_exited(pid)) {
      int avail = 0;
      if (ioctl(fd, FIONREAD, &avail) < 0) avail = 0;
      left_set(L, fd, left = avail);
    } else if (r > 0 && p[0].revents) {
      break;
    }
  }
  if (left == 0) return 0;
  if (left > 0 && (lua_Integer)cap > left) cap = (size_t)left;
  ssize_t n;
  do n = read(fd, chunk, cap);
  while (n < 0 && errno == EINTR);
  if (left > 0 && n > 0) left_set(L, fd, left - n);
  return n;
}

/// core.read_line(fd [, pid]) -> line | nil at end of input. Blocking;
/// buffered per fd in a small table kept in the registry. With the pid of
/// the child writing it, the input ends when that child exits (read_chunk).
static int l_read_line(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  pid_t pid = (pid_t)luaL_optinteger(L, 2, 0);
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
    ssize_t n = read_chunk(L, fd, pid, chunk, sizeof chunk);
    if (n <= 0) {
      luaL_pushresult(&b);
      lua_pushnil(L);
      lua_rawseti(L, 2, fd);
      left_set(L, fd, -1);
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

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"waitpid", l_waitpid},
    {"read_line", l_read_line},
    {"close_fd", l_close_fd},
    {NULL, NULL},
};

void tune_lproc_register(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
