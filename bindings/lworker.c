/// The worker's end of the protocol (`tunelua --worker`): the channel on
/// the process's original stdin/stdout, with the trainable's own stdout
/// moved away first so user output never mixes with protocol lines; or,
/// when the launcher says so (TUNE_CHANNEL=host:port:token, the Slurm
/// backend), a TCP connection back to the driver (engine/channel.h), and
/// stdout stays the trainable's.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "json.h"
#include "lbind.h"
#include "lconv.h"
#include "proto.h"
#include "wpump.h"

#define CHANNEL_MT "tune.core.channel"
/// The worker's parent-death signal: a real-time one no trainable expects.
#define TUNE_DRIVER_DEATH_SIGNAL (SIGRTMIN + 3)

typedef struct {
  int in, out;
  size_t max;
  tune_buf_t buf;   /* bytes read, not yet returned as lines */
  tune_buf_t held;  /* replies held for the next write (channel:send's hold) */
} channel_t;

static channel_t *check_ch(lua_State *L) {
  channel_t *c = luaL_checkudata(L, 1, CHANNEL_MT);
  if (c->in < 0) luaL_error(L, "attempt to use a closed channel");
  return c;
}

/// The pids in /proc/<pid>/task/<pid>/children (the worker's direct
/// children) into `out`; how many, 0 when none or unreadable (< 0).
static int read_children(pid_t me, pid_t *out, int max) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)me, (int)me);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  int k = 0;
  for (char *p = buf, *end; k < max; p = end) {
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    out[k++] = (pid_t)pid;
  }
  return k;
}

/// Ends every process the trainable started: the worker is a child
/// subreaper, so its descendants, even those that left its process group
/// or double-forked, are its children once their parents go; each pass
/// kills and reaps the children it finds (one waitid(2) when there are
/// none, the common case). Returns how many it killed.
static int kill_descendants(void) {
  /* No child at all, the common case: one waitid(2), not /proc's three
     calls (this is on the path from one trial to the next). */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) return 0;
  pid_t me = getpid(), kids[512];
  int total = 0;
  for (int pass = 0; pass < 16; pass++) {
    int n = read_children(me, kids, 512);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
    total += n;
  }
  return total;
}

static void kill_group_at_exit(void) { kill_descendants(); }

/// core.worker_kill_group() -> n: ends what the last trial left running
/// (a reused worker, before its next trial).
static int l_worker_kill_group(lua_State *L) {
  lua_pushinteger(L, kill_descendants());
  return 1;
}

/// The driver died (the parent-death signal): a worker that leads its
/// process group takes the whole group with it, so whatever the trainable
/// started goes too; otherwise (Slurm's steps) it goes alone.
static void on_driver_death(int sig) {
  (void)sig;
  pid_t kids[512];
  int n = read_children(getpid(), kids, 512);
  for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
  if (getpgrp() == getpid()) kill(0, SIGKILL);
  kill(getpid(), SIGKILL);
}

/// SIGPIPE is caught, not ignored: a write to the dead driver's pipe then
/// fails with EPIPE and the worker exits through exit(3), taking its group
/// with it (atexit), where the default action would end it at once and
/// leave the trainable's processes behind. A handler, unlike SIG_IGN, is
/// reset by exec: the trainable's own programs keep the default.
static void on_sigpipe(int sig) { (void)sig; }

/// Seconds to wait for each of the driver's addresses to accept.
#define CONNECT_TIMEOUT_MS 10000

/// Connects to one address within CONNECT_TIMEOUT_MS: the fd, or -errno.
static int connect_one(const struct addrinfo *ai) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return -errno;
  int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc < 0 && errno == EINPROGRESS) {
    struct pollfd pf = {fd, POLLOUT, 0};
    int n;
    while ((n = poll(&pf, 1, CONNECT_TIMEOUT_MS)) < 0 && errno == EINTR) {
    }
    int soerr = n == 0 ? ETIMEDOUT : 0;
    socklen_t sl = sizeof soerr;
    if (n > 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    rc = soerr ? -1 : 0;
    errno = soerr;
  }
  if (rc < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/// The driver's channel (TUNE_CHANNEL=host:port:token; an empty host is
/// the address srun was started from): the connected fd, the token sent.
/// Raises naming the address when it cannot connect.
static int connect_driver(lua_State *L, const char *spec) {
  char *copy = strdup(spec);
  char *token = copy ? strrchr(copy, ':') : NULL;
  char *port = NULL;
  if (token) {
    *token++ = '\0';
    port = strrchr(copy, ':');
  }
  if (!port) {
    free(copy);
    return luaL_error(L, "malformed TUNE_CHANNEL (host:port:token expected)");
  }
  *port++ = '\0';
  const char *host = *copy ? copy : getenv("SLURM_LAUNCH_NODE_IPADDR");
  if (!host || !*host) host = "127.0.0.1";
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int gai = getaddrinfo(host, port, &hints, &res);
  int fd = -EHOSTUNREACH;
  for (struct addrinfo *ai = gai == 0 ? res : NULL; ai && fd < 0; ai = ai->ai_next) fd = connect_one(ai);
  if (res) freeaddrinfo(res);
  char line[128];
  int n = snprintf(line, sizeof line, "%s\n", token);
  if (fd >= 0 && tune_fs_write_all(fd, line, (size_t)n) < 0) {
    close(fd);
    fd = -EPIPE;
  }
  if (fd < 0) {
    lua_pushfstring(L, "cannot connect to the driver at %s port %s: %s", host, port,
                    gai ? gai_strerror(gai) : strerror(-fd));
    free(copy);
    return lua_error(L);
  }
  free(copy);
  return fd;
}

/// core.worker_channel() -> channel. Call once, before any user code runs.
static int l_worker_channel(lua_State *L) {
  /* A Slurm step without GPUs: slurmstepd unsets CUDA_VISIBLE_DEVICES
     there (--gres=none), and the backend says what it is: empty, as on the
     local backend. */
  const char *cvd = getenv("TUNE_CUDA_VISIBLE_DEVICES");
  if (cvd) {
    setenv("CUDA_VISIBLE_DEVICES", cvd, 1);
    unsetenv("TUNE_CUDA_VISIBLE_DEVICES");
  }
  const char *driver = getenv("TUNE_DRIVER_PID");
  if (driver && *driver) {
    /* Die with the driver, and the trainable's processes with us: a
       catchable parent-death signal (SIGKILL could not be caught). If the
       driver is already gone, do not start. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_driver_death;
    sigfillset(&sa.sa_mask);
    sigaction(TUNE_DRIVER_DEATH_SIGNAL, &sa, NULL);
    /* A mask inherited from whoever started the driver must not hold it. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, TUNE_DRIVER_DEATH_SIGNAL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    /* A worker that exits (stopped, or its driver gone) takes the
       trainable's processes with it. */
    atexit(kill_group_at_exit);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, TUNE_DRIVER_DEATH_SIGNAL);
    if ((long)getppid() != strtol(driver, NULL, 10)) _exit(70);
  }
  const char *spec = getenv("TUNE_CHANNEL");
  int in, out, sock = spec && *spec;
  if (sock) {
    /* A dead driver's socket: EPIPE and an orderly exit, not SIGPIPE. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    in = connect_driver(L, spec);
    out = fcntl(in, F_DUPFD_CLOEXEC, 3);
    unsetenv("TUNE_CHANNEL");
  } else {
    in = fcntl(0, F_DUPFD_CLOEXEC, 3);
    out = fcntl(1, F_DUPFD_CLOEXEC, 3);
  }
  if (in < 0 || out < 0) return luaL_error(L, "worker_channel: %s", strerror(errno));
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    close(devnull);
  }
  /* The trainable's stdout: over the channel, or the fd the launcher gave
     for it, else stderr. */
  fflush(stdout);
  const char *ofd = getenv("TUNE_WORKER_STDOUT_FD");
  if (sock) {
    int rc = tune_pump_start(out);
    if (rc < 0) return luaL_error(L, "worker_channel: cannot forward output: %s", strerror(-rc));
  } else {
    int user_out = ofd && *ofd ? (int)strtol(ofd, NULL, 10) : 2;
    if (dup2(user_out, 1) < 0) dup2(2, 1);
    if (user_out > 2) close(user_out);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  unsetenv("TUNE_WORKER_STDOUT_FD");

  channel_t *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->in = in;
  c->out = out;
  const char *mx = getenv("TUNE_MAX_MESSAGE_BYTES");
  c->max = mx && *mx ? (size_t)strtoull(mx, NULL, 10) : TUNE_MAX_MESSAGE_DEFAULT;
  tune_buf_init(&c->buf);
  tune_buf_init(&c->held);
  luaL_setmetatable(L, CHANNEL_MT);
  return 1;
}

/// Writes `len` bytes of `data` after any held replies, in one write. 0 or
/// -errno.
static int channel_write(channel_t *c, const char *data, size_t len) {
  /* What the trainable printed without a newline goes first: it belongs
     to the trial this message is about (a reused worker kept it for the
     next trial's first line, or the console's). */
  fflush(stdout);
  if (c->held.len) {
    tune_buf_append(&c->held, data, len);
    data = c->held.data;
    len = c->held.len;
  }
  int rc = tune_pump_active() ? tune_pump_send(data, len) : tune_fs_write_all(c->out, data, len);
  tune_buf_reset(&c->held);
  return rc;
}

/// channel:read() -> message table, or nil at end of input. Raises on a
/// malformed or oversize line. Held replies go out before it waits.
static int l_read(lua_State *L) {
  channel_t *c = check_ch(L);
  for (;;) {
    char *nl = c->buf.len ? memchr(c->buf.data, '\n', c->buf.len) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - c->buf.data);
      char err[256];
      cJSON *v = tune_json_parse(c->buf.data, n, err, sizeof err);
      tune_buf_consume(&c->buf, n + 1);
      if (!v) return luaL_error(L, "malformed message from the driver: %s", err);
      tune_lua_push_json(L, v);
      cJSON_Delete(v);
      return 1;
    }
    if (c->buf.len > c->max) return luaL_error(L, "message from the driver exceeds %d bytes", (int)c->max);
    /* A driver that is gone gets nothing: the read then sees the end. */
    if (c->held.len) (void)channel_write(c, "", 0);
    tune_buf_reserve(&c->buf, 65536);
    ssize_t r = read(c->in, c->buf.data + c->buf.len, 65536);
    if (r < 0) {
      if (errno == EINTR) continue;
      return luaL_error(L, "read: %s", strerror(errno));
    }
    if (r == 0) return 0;
    c->buf.len += (size_t)r;
    c->buf.data[c->buf.len] = '\0';
  }
}

/// channel:send(message [, hold]) -> true | nil, message. With `hold` the
/// message waits for the channel's next write (a send, or a read about to
/// wait), and goes out in the same write: a reply the driver only notes
/// (ready, reset) costs no write of its own when a result follows.
static int l_send(lua_State *L) {
  channel_t *c = check_ch(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  int hold = lua_toboolean(L, 3);
  tune_buf_t b = TUNE_BUF_INIT;
  char err[512];
  if (tune_lua_write_json(L, 2, &b, err, sizeof err) < 0) {
    tune_buf_free(&b);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  tune_buf_putc(&b, '\n');
  if (hold) {
    tune_buf_append(&c->held, b.data, b.len);
    tune_buf_free(&b);
    lua_pushboolean(L, 1);
    return 1;
  }
  int rc = channel_write(c, b.data, b.len);
  tune_buf_free(&b);
  if (rc < 0) return tune_lua_fail(L, "send", rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// channel:send_raw(text): a line as it is (tests of malformed input).
static int l_send_raw(lua_State *L) {
  channel_t *c = check_ch(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  int rc = channel_write(c, s, len);
  if (rc < 0) return tune_lua_fail(L, "send", rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_close(lua_State *L) {
  channel_t *c = luaL_checkudata(L, 1, CHANNEL_MT);
  if (c->in >= 0) {
    close(c->in);
    close(c->out);
    c->in = c->out = -1;
    tune_buf_free(&c->buf);
    tune_buf_free(&c->held);
  }
  return 0;
}

static const luaL_Reg methods[] = {
    {"read", l_read}, {"send", l_send}, {"send_raw", l_send_raw}, {"close", l_close}, {NULL, NULL},
};

void tune_lworker_register(lua_State *L) {
  tune_lua_class(L, CHANNEL_MT, methods, l_close, NULL);
  lua_pushcfunction(L, l_worker_channel);
  lua_setfield(L, -2, "worker_channel");
  lua_pushcfunction(L, l_worker_kill_group);
  lua_setfield(L, -2, "worker_kill_group");
}
