/// What the Slurm backend asks Slurm itself (slurm_query.h): a command's
/// output, node lists, the nodes of a partition or an allocation, licenses.
/// These run Slurm's own commands (scontrol, squeue) and wait for them: the
/// backend calls them when it is created and outside any callback. A wait
/// can be bounded, and can end early when Slurm says it is retrying (a
/// wrong SLURM_CONF makes every command retry for 60 s).
#define _GNU_SOURCE
#include "slurm_query.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

/// Whether a line of a Slurm command's stderr says it is retrying (a
/// configuration file it cannot read, a step it cannot create yet).
static int says_retrying(const tune_buf_t *err, size_t from) {
  return err && err->len > from && memmem(err->data + from, err->len - from, "retrying", 8) != NULL;
}

/// Ends a command that ran too long: SIGTERM (srun then cancels its step),
/// SIGKILL after 2 s.
static void end_child(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 200; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int tune_slurm_run_bounded(char *const argv[], tune_buf_t *out, tune_buf_t *err, double timeout_s,
                           int stop_on_retry) {
  int po[2] = {-1, -1}, pe[2] = {-1, -1};
  if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
    int e = -errno;
    for (int i = 0; i < 2; i++) {
      if (po[i] >= 0) close(po[i]);
      if (pe[i] >= 0) close(pe[i]);
    }
    return e;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]);
  close(pe[1]);
  if (rc != 0) {
    close(po[0]);
    close(pe[0]);
    return -rc;
  }
  /* Read both pipes to the end (the outputs are small), or to the limit. */
  tune_buf_t own_err = TUNE_BUF_INIT;
  if (!err && stop_on_retry) err = &own_err;
  size_t err_from = err ? err->len : 0;
  struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  tune_buf_t *bufs[2] = {out, err};
  double deadline = timeout_s > 0 ? now_s() + timeout_s : 0;
  int timed_out = 0;
  while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
    int wait_ms = -1;
    if (deadline) {
      double left = deadline - now_s();
      if (left <= 0) {
        timed_out = 1;
        break;
      }
      wait_ms = (int)(left * 1000) + 1;
    }
    int n = poll(pfd, 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && n > 0; i++) {
      if (pfd[i].fd < 0 || !pfd[i].revents) continue;
      char chunk[4096];
      ssize_t got = read(pfd[i].fd, chunk, sizeof chunk);
      if (got > 0) {
        if (bufs[i]) tune_buf_append(bufs[i], chunk, (size_t)got);
      } else if (!(got < 0 && errno == EINTR)) {
        close(pfd[i].fd);
        pfd[i].fd = -1;
      }
    }
    if (stop_on_retry && says_retrying(err, err_from)) {
      timed_out = 1;
      break;
    }
  }
  for (int i = 0; i < 2; i++)
    if (pfd[i].fd >= 0) close(pfd[i].fd);
  tune_buf_free(&own_err);
  if (timed_out) {
    end_child(pid);
    return TUNE_SLURM_TIMEDOUT;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tune_slurm_run(char *const argv[], tune_buf_t *out, tune_buf_t *err) {
  return tune_slurm_run_bounded(argv, out, err, TUNE_SLURM_QUERY_S, 0);
}

char *tune_slurm_first_line(const tune_buf_t *b) {
  if (!b || !b->len) return NULL;
  const char *p = b->data, *end = b->data + b->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\0')) e--;
    if (e > p) return tune_xstrndup(p, (size_t)(e - p));
    if (!nl) break;
    p = nl + 1;
  }
  return NULL;
}

int tune_slurm_list_has(const char *list, const char *name) {
  if (!list || !name) return 0;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && !strncmp(p, name, n)) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

double tune_slurm_mem_mb(const char *s) {
  if (!s || !*s) return 0;
  char *end;
  double v = strtod(s, &end);
  switch (*end) {
  case 'K': case 'k': return v / 1024;
  case 'G': case 'g': return v * 1024;
  case 'T': case 't': return v * 1024 * 1024;
  default: return v; /* M, or no unit: megabytes */
  }
}

char **tune_slurm_hostnames(const char *list, size_t *n) {
  *n = 0;
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "hostnames", (char *)list, NULL};
  char **names = NULL;
  if (tune_slurm_run(argv, &out, NULL) == 0 && out.len) {
    tune_buf_putc(&out, '\0');
    char *save = NULL;
    for (char *tok = strtok_r(out.data, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
      names = tune_xrealloc(names, (*n + 1) * sizeof *names);
      names[(*n)++] = tune_xstrdup(tok);
    }
  }
  tune_buf_free(&out);
  return names;
}

void tune_slurm_free_strv(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

char *tune_slurm_field(const char *text, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = text; (p = strstr(p, key)); p += klen) {
    if ((p == text || p[-1] == ' ' || p[-1] == '\n') && p[klen] == '=') {
      const char *v = p + klen + 1, *e = v;
      while (*e && *e != ' ' && *e != '\n') e++;
      return tune_xstrndup(v, (size_t)(e - v));
    }
  }
  return NULL;
}

long tune_slurm_gres_gpus(const char *gres) {
  /* "gpu:2", "gpu:tesla:2(S:0-1)", "gpu:2(IDX:0-1),fpga:1" */
  long total = 0;
  if (!gres) return 0;
  for (const char *p = gres; (p = strstr(p, "gpu:")); p += 4) {
    if (p != gres && p[-1] != ',') continue;
    const char *q = p + 4;
    const char *colon = strchr(q, ':'), *paren = strchr(q, '('), *comma = strchr(q, ',');
    const char *end = comma ? comma : q + strlen(q);
    if (paren && paren < end) end = paren;
    if (colon && colon < end) q = colon + 1;
    total += strtol(q, NULL, 10);
  }
  return total;
}

long tune_slurm_count_ids(const char *ids) {
  /* "0-3", "0,2", "0-1,4-5" */
  long n = 0;
  if (!ids || !*ids) return 0;
  const char *p = ids;
  while (*p) {
    char *end;
    long a = strtol(p, &end, 10), b = a;
    if (end == p) break;
    if (*end == '-') b = strtol(end + 1, &end, 10);
    n += b - a + 1;
    p = *end == ',' ? end + 1 : end;
    if (*end != ',') break;
  }
  return n;
}
