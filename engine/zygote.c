/// The fork server (zygote.h). One request per SOCK_SEQPACKET message: a
/// header, the working directory, argv and the environment as NUL-ended
/// strings, and the worker's four fds as SCM_RIGHTS; one reply: the new
/// pid, or -errno.
#define _GNU_SOURCE
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "signals.h"

extern char **environ;

/// Larger requests (a huge environment) are spawned the usual way.
#define MAX_REQUEST (64 * 1024)
/// The most environment variables a request may carry (more: spawned the
/// usual way).
#define MAX_ENV 4096
/// A zygote that does not answer within this is taken for dead.
#define REPLY_TIMEOUT_MS 10000

typedef struct {
  uint32_t argc, envc;
} request_hdr_t;

struct tune_zygote {
  int sock;     ///< -1 once the zygote is gone
  int ready;    ///< its first message (0: loaded) arrived
  pid_t pid;
  char *file;
  char **env;   ///< the environment it was started with
  char *req;    ///< MAX_REQUEST bytes: the request being written
};

/// Variables the engine sets per worker: they may differ from the
/// zygote's, the rest of the environment may not (it shaped the zygote's
/// Lua state: package paths, TUNELUA_LUA_DIR, LD_* ...).
static const char *const per_worker[] = {"TUNE_WORKER_ID=", "OMP_NUM_THREADS=", "CUDA_VISIBLE_DEVICES="};

static int is_per_worker(const char *kv) {
  for (size_t i = 0; i < TUNE_ARRAY_LEN(per_worker); i++)
    if (!strncmp(kv, per_worker[i], strlen(per_worker[i]))) return (int)i + 1;
  return 0;
}

static size_t strv_len(char *const v[]) {
  size_t n = 0;
  while (v[n]) n++;
  return n;
}

static void close_from(int lowfd) {
  if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = lowfd; fd < (max > 0 ? max : 1024); fd++) close(fd);
}

/* ------------------------------------------------------------------------ */
/* The driver's side                                                        */
/* ------------------------------------------------------------------------ */

tune_zygote_t *tune_zygote_start(const char *file, char *const env[]) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  /* Its complaints (an older binary's usage text for --zygote) are not the
     user's business: workers are then spawned as before. TUNE_DEBUG shows
     them. */
  if (!tune_log_debug_enabled()) posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = {(char *)file, "--zygote", NULL};
  /* The zygote binds every symbol at its start (LD_BIND_NOW), so that no
     fork of it resolves one lazily: each lazy binding writes a page of a
     global offset table, a copy-on-write fault in every worker (measured:
     about a tenth of a no-reuse trial's page faults). Its workers get the
     environment of their request, without this. */
  size_t n = strv_len(env);
  int has = 0;
  for (size_t i = 0; i < n && !has; i++) has = !strncmp(env[i], "LD_BIND_NOW=", 12);
  char **zenv = tune_xcalloc(n + 2, sizeof(char *));
  memcpy(zenv, env, n * sizeof(char *));
  if (!has) zenv[n] = "LD_BIND_NOW=1";
  pid_t pid;
  int rc = tune_spawn_clean(&pid, file, &fa, argv, zenv, 1, 0);
  free(zenv);
  close(sv[1]);
  if (rc < 0) {
    close(sv[0]);
    return NULL;
  }
  tune_zygote_t *z = tune_xcalloc(1, sizeof *z);
  z->sock = sv[0];
  z->pid = pid;
  z->file = tune_xstrdup(file);
  z->req = tune_xmalloc(MAX_REQUEST);
  z->env = tune_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) z->env[i] = tune_xstrdup(env[i]);
  return z;
}

int tune_zygote_alive(const tune_zygote_t *z) { return z && z->sock >= 0; }

/// The zygote failed: make sure it is gone and reaped.
static int zygote_lost(tune_zygote_t *z, int err) {
  if (z->sock >= 0) close(z->sock);
  z->sock = -1;
  if (z->pid > 0) {
    kill(z->pid, SIGKILL);
    while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    z->pid = -1;
  }
  return err;
}

/// The same environment, in the same order, leaving out the per-worker
/// variables on both sides.
static int env_matches(const tune_zygote_t *z, char *const env[]) {
  char *const *a = env, *const *b = z->env;
  for (;;) {
    while (*a && is_per_worker(*a)) a++;
    while (*b && is_per_worker(*b)) b++;
    if (!*a || !*b) return !*a && !*b;
    if (strcmp(*a++, *b++)) return 0;
  }
}

static int put(char *buf, size_t *len, const char *s) {
  size_t n = strlen(s) + 1;
  if (*len + n > MAX_REQUEST) return -1;
  memcpy(buf + *len, s, n);
  *len += n;
  return 0;
}

/// The zygote's next answer, waiting up to `timeout_ms`: 0 and *v; -EAGAIN
/// when none came within it and timeout_ms is 0; another -errno when the
/// zygote is lost (it is then gone).
static int answer(tune_zygote_t *z, int timeout_ms, int32_t *v) {
  struct pollfd p = {z->sock, POLLIN, 0};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r == 0 && timeout_ms == 0) return -EAGAIN;
  if (r <= 0) return zygote_lost(z, r == 0 ? -ETIMEDOUT : -errno);
  ssize_t n;
  do n = recv(z->sock, v, sizeof *v, 0);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof *v) return zygote_lost(z, n < 0 ? -errno : -EPIPE);
  return 0;
}

int tune_zygote_spawn(tune_zygote_t *z, const char *file, char *const argv[], char *const env[], const char *cwd,
                      const int fds[4], pid_t *pid) {
  if (!tune_zygote_alive(z)) return -ENOTSUP;
  int32_t reply;
  int rc;
  if (!z->ready) {
    /* Never wait for it to load: until it says it has, spawn as before. */
    if ((rc = answer(z, 0, &reply)) < 0) return rc;
    if (reply != 0) return zygote_lost(z, -EPROTO);
    z->ready = 1;
  }
  if (strcmp(file, z->file) || !argv[0] || !argv[1] || strcmp(argv[1], "--worker") || argv[2]) return -ENOTSUP;
  if (!env_matches(z, env) || strv_len(env) > MAX_ENV) return -ENOTSUP;
  char *buf = z->req;
  request_hdr_t h = {2, (uint32_t)strv_len(env)};
  size_t len = sizeof h;
  memcpy(buf, &h, sizeof h);
  int too_big = put(buf, &len, cwd ? cwd : ".") || put(buf, &len, argv[0]) || put(buf, &len, argv[1]);
  for (size_t i = 0; !too_big && env[i]; i++) too_big = put(buf, &len, env[i]);
  if (too_big) return -ENOTSUP;
  struct iovec iov = {buf, len};
  union {
    char b[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.b;
  msg.msg_controllen = sizeof ctl.b;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(4 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, 4 * sizeof(int));
  ssize_t n;
  do n = sendmsg(z->sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return zygote_lost(z, -errno);
  if ((rc = answer(z, REPLY_TIMEOUT_MS, &reply)) < 0) return rc;
  if (reply < 0) return reply;  /* this request failed (a missing directory); the zygote is fine */
  *pid = (pid_t)reply;
  return 0;
}

void tune_zygote_free(tune_zygote_t *z) {
  if (!z) return;
  zygote_lost(z, 0);
  for (char **e = z->env; *e; e++) free(*e);
  free(z->env);
  free(z->file);
  free(z->req);
  free(z);
}

/* ------------------------------------------------------------------------ */
/* The zygote's side                                                        */
/* ------------------------------------------------------------------------ */

/// Test hook (TUNE_TEST_FORK_DELAY_MS in the zygote's environment): each
/// new worker waits this long before it makes its own session, so that a
/// spec can kill it in that window.
static unsigned test_delay_ms;

/// In the new worker: the request's session, signals, fds, directory and
/// environment. Exits 127 where the worker cannot be set up.
static void become_worker(const int fds[4], const char *cwd, char **env) {
  if (test_delay_ms) usleep(test_delay_ms * 1000u);
  setsid();
  /* Every disposition is already the default: the zygote was started with
     them reset and installs no handler. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int tmp[4];
  for (int i = 0; i < 4; i++)
    if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0) _exit(127);
  for (int i = 0; i < 4; i++)
    if (dup2(tmp[i], i) < 0) _exit(127);
  close_from(4);
  if (chdir(cwd) < 0) {
    dprintf(2, "tunelua worker: cannot enter %s: %s\n", cwd, strerror(errno));
    _exit(127);
  }
  environ = env;
}

static void reply(int sock, int32_t v) {
  ssize_t n;
  do n = send(sock, &v, sizeof v, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) _exit(0); /* the driver is gone */
}

/// Splits `n` NUL-ended strings from buf[*off..len) into v[0..n). 0 or -1.
static int take(char *buf, size_t len, size_t *off, char **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (*off >= len) return -1;
    char *end = memchr(buf + *off, '\0', len - *off);
    if (!end) return -1;
    v[i] = buf + *off;
    *off = (size_t)(end - buf) + 1;
  }
  return 0;
}

/* The zygote's request, in static storage: after each fork the zygote's
   pages are shared with the new worker, and every page the zygote writes
   then is copied (a malloc and free per request touched several). A worker
   keeps its own copy of these: its argv and environment point into it. */
static char req_buf[MAX_REQUEST];
static char *req_args[17];
static char *req_env[MAX_ENV + 1];

char **tune_zygote_serve(int sock, int *argc) {
  /* Never outlive the driver, nor hold anything it opened. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char *driver = getenv("TUNE_DRIVER_PID");
  if (driver && strtol(driver, NULL, 10) != (long)getppid()) _exit(0);
  close_from(3);
  const char *delay = getenv("TUNE_TEST_FORK_DELAY_MS");
  test_delay_ms = delay ? (unsigned)strtoul(delay, NULL, 10) : 0;
  reply(sock, 0); /* loaded: the driver may send requests */
  char *buf = req_buf;
  for (;;) {
    struct iovec iov = {buf, MAX_REQUEST};
    union {
      char b[CMSG_SPACE(4 * sizeof(int))];
      struct cmsghdr align;
    } ctl;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof ctl.b;
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) _exit(0); /* EOF: the driver is done with us */
    int fds[4] = {-1, -1, -1, -1}, nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (nfds < 4) fds[nfds++] = fd;
        else close(fd);
      }
    }
    request_hdr_t h;
    size_t len = (size_t)n, off = sizeof h;
    char *cwd = NULL;
    int32_t answer = 0;
    if (nfds != 4 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || len < sizeof h) {
      answer = -EINVAL;
    } else {
      memcpy(&h, buf, sizeof h);
      if (h.argc < 1 || h.argc >= TUNE_ARRAY_LEN(req_args) || h.envc > MAX_ENV) answer = -EINVAL;
      else if (take(buf, len, &off, &cwd, 1) || take(buf, len, &off, req_args, h.argc) ||
               take(buf, len, &off, req_env, h.envc))
        answer = -EINVAL;
    }
    struct stat st;
    if (!answer && stat(cwd, &st) < 0) answer = -errno;
    else if (!answer && !S_ISDIR(st.st_mode)) answer = -ENOTDIR;
    if (!answer) {
      req_args[h.argc] = NULL;
      req_env[h.envc] = NULL;
      /* The driver is the new worker's parent: it reaps and signals it as
         a child of its own. */
      long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
      if (pid == 0) {
        become_worker(fds, cwd, req_env);
        *argc = (int)h.argc;
        return req_args;
      }
      answer = pid < 0 ? -errno : (int32_t)pid;
    }
    for (int i = 0; i < nfds; i++) close(fds[i]);
    reply(sock, answer);
  }
}
