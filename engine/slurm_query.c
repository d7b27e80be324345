/// What the Slurm backend asks Slurm itself (slurm_query.h): a command's
/// output, node lists, the nodes of a partition or an allocation, licenses.
/// These run Slurm's own commands (scontrol, squeue) and wait for them: the
/// backend calls them when it is created and outside any callback.
#define _GNU_SOURCE
#include "slurm_query.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

int tune_slurm_run(char *const argv[], tune_buf_t *out, tune_buf_t *err) {
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
  /* Read both pipes to the end (the outputs are small). */
  int fds[2] = {po[0], pe[0]};
  tune_buf_t *bufs[2] = {out, err};
  for (int open_n = 2; open_n > 0;) {
    open_n = 0;
    for (int i = 0; i < 2; i++) {
      if (fds[i] < 0) continue;
      char chunk[4096];
      ssize_t n = read(fds[i], chunk, sizeof chunk);
      if (n > 0) {
        if (bufs[i]) tune_buf_append(bufs[i], chunk, (size_t)n);
        open_n++;
      } else if (n < 0 && errno == EINTR) {
        open_n++;
      } else {
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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
