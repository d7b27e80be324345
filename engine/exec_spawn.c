/// A worker for a trial: its environment (GPU ids, OMP threads, the
/// driver's variables), its placement as the start request names it, and
/// its spawn through the worker layer.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"
#include "executor_int.h"

static const char *const managed_env[] = {
    "TUNE_ORIG_WORKING_DIR=", "OMP_NUM_THREADS=", "CUDA_VISIBLE_DEVICES=", "TUNE_WORKER_STDOUT_FD=",
    "TUNE_DRIVER_PID=", "TUNE_MAX_MESSAGE_BYTES=", "TUNE_WORKER_ID=",
    "TUNE_CUDA_VISIBLE_DEVICES=", /* the Slurm backend's, for a step without GPUs */
};

static int managed(const char *kv) {
  for (size_t i = 0; i < TUNE_ARRAY_LEN(managed_env); i++)
    if (!strncmp(kv, managed_env[i], strlen(managed_env[i]))) return 1;
  return 0;
}

/// The GPU ids bundle `i` of `pg` sees: the backend's choice, else the
/// slots of the engine's cluster model. NULL: the launcher sets them.
static char *gpu_ids(tune_executor_t *ex, const tune_pg_t *pg, size_t i) {
  tune_backend_t *b = ex->backend;
  if (b->ops->gpu_ids) return b->ops->gpu_ids(b, TUNE_PG_PLACEMENT(pg), i);
  return tune_placement_gpu_ids(&b->cluster, TUNE_PG_PLACEMENT(pg), i);
}

/// OMP_NUM_THREADS for bundle i of `pg`: the driver's own value when it
/// has one (Ray's set_omp_num_threads_if_unset), else the bundle's CPUs
/// (the integer part, at least 1).
static char *omp_threads(const tune_executor_t *ex, const tune_pg_t *pg, size_t i) {
  if (ex->user_omp) return tune_xstrdup(ex->user_omp);
  long cpus = (long)(pg->fe->pgf->bundles[i].cpu / TUNE_RES_SCALE);
  return tune_xasprintf("%ld", cpus < 1 ? 1 : cpus);
}

/// Bundle i of the group: {index, resources, gpu_ids, node}. Caller owns it.
cJSON *tune__bundles_json(tune_executor_t *ex, const tune_pg_t *pg) {
  cJSON *arr = cJSON_CreateArray();
  const tune_pgf_t *f = pg->fe->pgf;
  const tune_placement_t *p = TUNE_PG_PLACEMENT(pg);
  for (size_t i = 0; i < f->nbundles; i++) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "index", (double)(i + 1));
    cJSON_AddItemToObject(b, "resources", tune_res_to_json(&f->bundles[i]));
    char *ids = gpu_ids(ex, pg, i);
    if (ids) cJSON_AddStringToObject(b, "gpu_ids", ids);
    free(ids);
    char *omp = omp_threads(ex, pg, i);
    cJSON_AddStringToObject(b, "omp_threads", omp);
    free(omp);
    if (i < p->nbundles && p->bundles[i].node < ex->backend->cluster.nnodes)
      cJSON_AddStringToObject(b, "node", ex->backend->cluster.nodes[p->bundles[i].node].name);
    cJSON_AddItemToArray(arr, b);
  }
  return arr;
}

/// OMP_NUM_THREADS and CUDA_VISIBLE_DEVICES for a standby worker that
/// takes a trial (the start request carries them).
cJSON *tune__trial_env_json(tune_executor_t *ex, const tune_pg_t *pg) {
  cJSON *env = cJSON_CreateObject();
  char *omp = omp_threads(ex, pg, 0), *cuda = gpu_ids(ex, pg, 0);
  cJSON_AddStringToObject(env, "OMP_NUM_THREADS", omp);
  if (cuda) cJSON_AddStringToObject(env, "CUDA_VISIBLE_DEVICES", cuda);
  free(omp);
  free(cuda);
  return env;
}

char **tune__env_base(const char *const *env, char **user_omp) {
  size_t n = 0;
  while (env && env[n]) n++;
  char **out = tune_xcalloc(n + 1, sizeof(char *));
  size_t k = 0;
  *user_omp = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!managed(env[i])) out[k++] = tune_xstrdup(env[i]);
    else if (!strncmp(env[i], "OMP_NUM_THREADS=", 16) && env[i][16] && !*user_omp)
      *user_omp = tune_xstrdup(env[i] + 16);
  }
  return out;
}

void tune__env_free(char **env_base, char *user_omp) {
  for (char **p = env_base; p && *p; p++) free(*p);
  free(env_base);
  free(user_omp);
}

/// The worker's environment: the driver's own strings (borrowed: not to be
/// freed), then those made here from *owned on (to be freed).
static char **build_env(tune_executor_t *ex, const tune_pg_t *pg, uint64_t seq, size_t *owned) {
  size_t n = 0;
  while (ex->env_base[n]) n++;
  char **env = tune_xcalloc(n + TUNE_ARRAY_LEN(managed_env) + 1, sizeof(char *));
  memcpy(env, ex->env_base, n * sizeof(char *));
  size_t k = n;
  *owned = k;
  env[k++] = tune_xasprintf("TUNE_ORIG_WORKING_DIR=%s", ex->orig_cwd);
  if (pg) {
    /* A standby worker gets these with its trial (the start request). */
    char *omp = omp_threads(ex, pg, 0), *cuda = gpu_ids(ex, pg, 0);
    env[k++] = tune_xasprintf("OMP_NUM_THREADS=%s", omp);
    if (cuda) env[k++] = tune_xasprintf("CUDA_VISIBLE_DEVICES=%s", cuda);
    free(omp);
    free(cuda);
  }
  env[k++] = tune_xstrdup("TUNE_WORKER_STDOUT_FD=3");
  env[k++] = tune_xasprintf("TUNE_DRIVER_PID=%ld", (long)getpid());
  env[k++] = tune_xasprintf("TUNE_MAX_MESSAGE_BYTES=%zu", ex->o.max_message_bytes);
  env[k++] = tune_xasprintf("TUNE_WORKER_ID=%llu", (unsigned long long)seq);
  env[k] = NULL;
  return env;
}

tune_worker_t *tune__spawn(tune_executor_t *ex, tune_trial_t *t, tune_pg_t *pg, char *err, size_t errlen) {
  /* An in-process worker runs nothing: no arguments or environment. */
  int in_process = (ex->backend->ops->caps & TUNE_BACKEND_IN_PROCESS) != 0;
  char *none[] = {ex->worker_path, NULL};
  char **argv = none, **env = none + 1;
  size_t owned = 0;
  if (!in_process) {
    size_t nargs = 0;
    while (ex->worker_args[nargs]) nargs++;
    argv = tune_xcalloc(nargs + 2, sizeof(char *));
    argv[0] = ex->worker_path;
    for (size_t i = 0; i < nargs; i++) argv[i + 1] = ex->worker_args[i];
    env = build_env(ex, pg, ex->workers.next_seq + 1, &owned);
  }
  tune_worker_spawn_t so = {ex->worker_path, argv, env, t ? t->logdir : ex->orig_cwd,
                            pg ? TUNE_PG_PLACEMENT(pg) : NULL, pg ? pg->fe->pgf : NULL,
                            t ? t->loader_key : "", ex->o.fork_server};
  tune_worker_t *w = tune_worker_spawn(&ex->workers, &so, err, errlen);
  if (!in_process) {
    free(argv);
    for (char **p = env + owned; *p; p++) free(*p);
    free(env);
  }
  if (!w) return NULL;
  w->pg = pg;
  if (t) tune_worker_attach(w, t);
  return w;
}

/* Each running trial holds about seven descriptors (pipes, a pidfd, its
   logs): the soft limit (often 1024, or a user's ulimit -n) is raised to
   the hard one, as Ray's raylet does, so that the driver's own limit does
   not fail trials a machine could run. */
void tune__raise_fd_limit(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur == r.rlim_max) return;
  /* At most 65536: workers inherit it, and code that closes every
     descriptor up to the limit at its start would pay for more. */
  rlim_t want = r.rlim_max == RLIM_INFINITY || r.rlim_max > 65536 ? 65536 : r.rlim_max;
  if (want <= r.rlim_cur) return;
  r.rlim_cur = want;
  (void)setrlimit(RLIMIT_NOFILE, &r);
}
