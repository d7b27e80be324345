#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "backend.h"
#include "common.h"

/// Trims blanks around s[0..*len).
static const char *trim(const char *s, size_t *len) {
  while (*len && (*s == ' ' || *s == '\t')) { s++; (*len)--; }
  while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\n' || s[*len - 1] == '\r')) (*len)--;
  return s;
}

static void add_id(char ***ids, size_t *n, const char *s, size_t len) {
  s = trim(s, &len);
  if (!len) return;
  *ids = tune_xrealloc(*ids, (*n + 1) * sizeof(char *));
  (*ids)[(*n)++] = tune_xstrndup(s, len);
}

static int on_path(const char *exe) {
  const char *path = getenv("PATH");
  if (!path) return 0;
  char *copy = tune_xstrdup(path), *save = NULL;
  int found = 0;
  for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
    char *full = tune_xasprintf("%s/%s", dir, exe);
    found = access(full, X_OK) == 0;
    free(full);
  }
  free(copy);
  return found;
}

void tune_detect_node(tune_res_t *out, char ***gpu_ids, size_t *ngpu) {
  tune_res_init(out);
  *gpu_ids = NULL;
  *ngpu = 0;

  cpu_set_t set;
  long cpus = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 0) cpus = 1;
  tune_res_set(out, "CPU", (double)cpus);

  struct sysinfo si;
  if (sysinfo(&si) == 0) tune_res_set(out, "memory", (double)si.totalram * si.mem_unit);

  const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
  if (cvd) {
    /* Set means authoritative, as in Ray: "", "-1" or "NoDevFiles" (what
       Slurm and Grid Engine set for a job without GPUs) hides every GPU. */
    const char *s = strcmp(cvd, "NoDevFiles") ? cvd : "";
    while (*s) {
      const char *comma = strchr(s, ',');
      size_t len = comma ? (size_t)(comma - s) : strlen(s);
      size_t idlen = len;
      const char *id = trim(s, &idlen);
      /* CUDA shows only the devices listed before an invalid id ("0,-1,1"
         is GPU 0): the ones after were given to trials. */
      if (idlen == 2 && !strncmp(id, "-1", 2)) break;
      add_id(gpu_ids, ngpu, s, len);
      if (!comma) break;
      s = comma + 1;
    }
  } else if (on_path("nvidia-smi")) {
    FILE *f = popen("nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null", "r");
    if (f) {
      char line[256];
      while (fgets(line, sizeof line, f)) add_id(gpu_ids, ngpu, line, strlen(line));
      if (pclose(f) != 0) {
        /* nvidia-smi failed (no driver): no GPUs, whatever it printed. */
        for (size_t i = 0; i < *ngpu; i++) free((*gpu_ids)[i]);
        free(*gpu_ids);
        *gpu_ids = NULL;
        *ngpu = 0;
      }
    }
  }
  tune_res_set(out, "GPU", (double)*ngpu);
}
