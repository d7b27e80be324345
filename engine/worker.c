/// The driver's side of one worker process: spawning it with its
/// environment, writing requests, framing protocol lines, and routing the
/// trainable's own output to its log files or to the console.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "executor_int.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

static const char *const managed_env[] = {
    "TUNE_ORIG_WORKING_DIR=", "OMP_NUM_THREADS=", "CUDA_VISIBLE_DEVICES=", "TUNE_WORKER_STDOUT_FD=",
    "TUNE_DRIVER_PID=", "TUNE_MAX_MESSAGE_BYTES=", "TUNE_WORKER_ID=",
};

static int managed(const char *kv) {
  for (size_t i = 0; i < TUNE_ARRAY_LEN(managed_env); i++)
    if (!strncmp(kv, managed_env[i], strlen(managed_env[i]))) return 1;
  return 0;
}

/// OMP_NUM_THREADS and CUDA_VISIBLE_DEVICES for a worker on `pg`.
static void trial_env(tune_executor_t *ex, const tune_pg_t *pg, char **omp, char **cuda) {
  const tune_res_t *head = &pg->fe->pgf->bundles[0];
  long cpus = (long)(head->cpu / TUNE_RES_SCALE);
  *omp = tune_xasprintf("%ld", cpus < 1 ? 1 : cpus);
  *cuda = tune_placement_gpu_ids(&ex->backend->cluster, &pg->placement, 0);
}

cJSON *tune__worker_bundles(tune_executor_t *ex, const tune_pg_t *pg) {
  cJSON *arr = cJSON_CreateArray();
  const tune_pgf_t *f = pg->fe->pgf;
  for (size_t i = 0; i < f->nbundles; i++) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "index", (double)(i + 1));
    cJSON_AddItemToObject(b, "resources", tune_res_to_json(&f->bundles[i]));
    char *ids = tune_placement_gpu_ids(&ex->backend->cluster, &pg->placement, i);
    cJSON_AddStringToObject(b, "gpu_ids", ids);
    free(ids);
    if (i < pg->placement.nbundles)
      cJSON_AddStringToObject(b, "node", ex->backend->cluster.nodes[pg->placement.bundles[i].node].name);
    cJSON_AddItemToArray(arr, b);
  }
  return arr;
}

cJSON *tune__worker_trial_env(tune_executor_t *ex, const tune_pg_t *pg) {
  char *omp, *cuda;
  trial_env(ex, pg, &omp, &cuda);
  cJSON *env = cJSON_CreateObject();
  cJSON_AddStringToObject(env, "OMP_NUM_THREADS", omp);
  cJSON_AddStringToObject(env, "CUDA_VISIBLE_DEVICES", cuda);
  free(omp);
  free(cuda);
  return env;
}

static char **build_env(tune_executor_t *ex, const tune_trial_t *t, const tune_pg_t *pg, uint64_t seq) {
  size_t n = 0;
  while (ex->env_base[n]) n++;
  char **env = tune_xcalloc(n + TUNE_ARRAY_LEN(managed_env) + 1, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!managed(ex->env_base[i])) env[k++] = tune_xstrdup(ex->env_base[i]);
  env[k++] = tune_xasprintf("TUNE_ORIG_WORKING_DIR=%s", ex->orig_cwd);
  if (pg) {
    /* A standby worker gets these with its trial (the start request). */
    char *omp, *cuda;
    trial_env(ex, pg, &omp, &cuda);
    env[k++] = tune_xasprintf("OMP_NUM_THREADS=%s", omp);
    env[k++] = tune_xasprintf("CUDA_VISIBLE_DEVICES=%s", cuda);
    free(omp);
    free(cuda);
  }
  env[k++] = tune_xstrdup("TUNE_WORKER_STDOUT_FD=3");
  env[k++] = tune_xasprintf("TUNE_DRIVER_PID=%ld", (long)getpid());
  env[k++] = tune_xasprintf("TUNE_MAX_MESSAGE_BYTES=%zu", ex->o.max_message_bytes);
  env[k++] = tune_xasprintf("TUNE_WORKER_ID=%llu", (unsigned long long)seq);
  env[k] = NULL;
  (void)t;
  return env;
}

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void remember_stderr(tune_worker_t *w, const char *line, size_t len) {
  free(w->tail[w->tail_next]);
  w->tail[w->tail_next] = tune_xstrndup(line, len > 400 ? 400 : len);
  w->tail_next = (w->tail_next + 1) % TUNE_STDERR_TAIL;
}

char *tune__worker_stderr_tail(const tune_worker_t *w) {
  tune_buf_t b = TUNE_BUF_INIT;
  for (size_t i = 0; i < TUNE_STDERR_TAIL; i++) {
    const char *l = w->tail[(w->tail_next + i) % TUNE_STDERR_TAIL];
    if (!l) continue;
    tune_buf_puts(&b, l);
    tune_buf_putc(&b, '\n');
  }
  return b.len ? tune_buf_steal(&b) : (tune_buf_free(&b), NULL);
}

/// Trainable output: to its log file, or to the console with a prefix.
static void route_output(tune_worker_t *w, int stream, const char *data, size_t len) {
  int idx = stream == TUNE_STREAM_STDOUT ? 0 : 1;
  tune_buf_t *partial = &w->partial[idx];
  const char *file = NULL;
  if (w->trial) file = idx == 0 ? w->trial->stdout_file : w->trial->stderr_file;
  if (len == 0) {
    /* End of stream: an unterminated last line still counts. */
    if (partial->len) {
      if (idx == 1) remember_stderr(w, partial->data, partial->len);
      if (!file) {
        char prefix[256];
        int n = snprintf(prefix, sizeof prefix, "(%s pid=%lld) ", w->trial ? w->trial->name : "worker",
                         (long long)w->pid);
        tune_buf_t out = TUNE_BUF_INIT;
        tune_buf_append(&out, prefix, (size_t)n);
        tune_buf_append(&out, partial->data, partial->len);
        tune_buf_putc(&out, '\n');
        tune_fs_write_all(w->ex->o.console_fd[idx], out.data, out.len);
        tune_buf_free(&out);
      }
      tune_buf_reset(partial);
    }
    return;
  }
  if (file) {
    int rc = tune_fs_append(file, data, len, 0);
    if (rc < 0) TUNE_WARN("cannot write trial output to %s: %s", file, strerror(-rc));
  }
  /* Split into lines: for the stderr tail, and the console prefix. */
  tune_buf_t out = TUNE_BUF_INIT;
  char prefix[256];
  int plen = snprintf(prefix, sizeof prefix, "(%s pid=%lld) ", w->trial ? w->trial->name : "worker",
                      (long long)w->pid);
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t part = nl ? (size_t)(nl - data) : len;
    tune_buf_append(partial, data, part);
    if (!nl) break;
    if (idx == 1) remember_stderr(w, partial->data, partial->len);
    if (!file) {
      tune_buf_append(&out, prefix, (size_t)plen);
      tune_buf_append(&out, partial->data, partial->len);
      tune_buf_putc(&out, '\n');
    }
    tune_buf_reset(partial);
    data += part + 1;
    len -= part + 1;
  }
  if (file && partial->len > 4096) tune_buf_reset(partial);
  if (out.len) tune_fs_write_all(w->ex->o.console_fd[idx], out.data, out.len);
  tune_buf_free(&out);
}

static int on_line(void *ud, const char *line, size_t len) {
  tune_worker_t *w = ud;
  if (w->fault) return 1;
  tune__executor_on_line(w, line, len);
  return w->fault ? 1 : 0;
}

static void on_data(void *ud, int stream, const char *data, size_t len) {
  tune_worker_t *w = ud;
  if (stream != TUNE_STREAM_PROTOCOL) {
    route_output(w, stream, data, len);
    return;
  }
  if (len == 0) {
    if (tune_lines_pending(&w->lines) && !w->fault)
      tune__executor_on_fault(w, "protocol stream ended in the middle of a message");
    return;
  }
  if (w->fault) return;
  int rc = tune_lines_feed(&w->lines, data, len, on_line, w);
  if (rc == -E2BIG) {
    char what[128];
    snprintf(what, sizeof what, "message longer than the limit of %zu bytes (TUNE_MAX_MESSAGE_BYTES)",
             w->ex->o.max_message_bytes);
    tune__executor_on_fault(w, what);
  }
}

static void on_exit_cb(void *ud, const tune_exit_t *e) {
  tune_worker_t *w = ud;
  w->proc = NULL;
  w->exited = 1;
  tune__executor_on_exit(w, e);
}

static const tune_proc_cb_t proc_cb = {on_data, on_exit_cb};

cJSON *tune__start_body(const tune_trial_t *t) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddNumberToObject(b, "v", TUNE_PROTOCOL_VERSION);
  cJSON_AddStringToObject(b, "trial_id", t->id);
  cJSON_AddStringToObject(b, "name", t->name);
  cJSON_AddStringToObject(b, "logdir", t->logdir);
  cJSON_AddStringToObject(b, "experiment_tag", t->tag);
  cJSON_AddItemToObject(b, "config", cJSON_Duplicate(t->config, 1));
  cJSON_AddItemToObject(b, "trainable", cJSON_Duplicate(t->loader, 1));
  if (t->bundles) cJSON_AddItemToObject(b, "bundles", cJSON_Duplicate(t->bundles, 1));
  return b;
}

tune_worker_t *tune__worker_spawn(tune_executor_t *ex, tune_trial_t *t, tune_pg_t *pg, char *err, size_t errlen) {
  tune_worker_t *w = tune_xcalloc(1, sizeof *w);
  w->ex = ex;
  w->seq = ++ex->next_worker;
  w->pg = pg;
  w->standby = t == NULL;
  w->loader_key = tune_xstrdup(t ? t->loader_key : "");
  tune_lines_init(&w->lines, ex->o.max_message_bytes);

  size_t nargs = 0;
  while (ex->worker_args[nargs]) nargs++;
  char **argv = tune_xcalloc(nargs + 2, sizeof(char *));
  argv[0] = ex->worker_path;
  for (size_t i = 0; i < nargs; i++) argv[i + 1] = ex->worker_args[i];
  char **env = build_env(ex, t, pg, w->seq);
  tune_spawn_t so = {ex->worker_path, argv, env, t ? t->logdir : ex->orig_cwd, 0, pg ? &pg->placement : NULL,
                     pg ? pg->fe->pgf : NULL};
  int rc = ex->backend->ops->spawn(ex->backend, &so, &proc_cb, w, &w->proc);
  free(argv);
  free_strv(env);
  if (rc < 0) {
    snprintf(err, errlen, "could not start worker %s: %s", ex->worker_path, strerror(-rc));
    tune_lines_free(&w->lines);
    free(w->loader_key);
    free(w);
    return NULL;
  }
  ex->nspawned++;
  w->pid = ex->backend->ops->pid(w->proc);
  w->next = ex->workers;
  if (ex->workers) ex->workers->prev = w;
  ex->workers = w;
  if (t) tune__worker_attach(w, t);
  return w;
}

void tune__worker_attach(tune_worker_t *w, tune_trial_t *t) {
  if (w->trial == t) return;
  if (w->trial) {
    w->trial->worker = NULL;
    tune_trial_unref(w->trial);
  }
  w->trial = t ? tune_trial_ref(t) : NULL;
  if (t) {
    t->worker = w;
    free(w->loader_key);
    w->loader_key = tune_xstrdup(t->loader_key);
  }
}

static const char *const req_names[] = {"start", "train", "save", "restore", "reset", "stop"};

tune_req_t *tune__worker_request(tune_worker_t *w, tune_req_kind_t kind, tune_trial_t *t, cJSON *body) {
  if (!w->proc || w->fault) {
    cJSON_Delete(body);
    return NULL;
  }
  tune_req_t *r = tune_xcalloc(1, sizeof *r);
  r->id = ++w->next_req;
  r->kind = kind;
  r->trial = t ? tune_trial_ref(t) : NULL;
  if (!body) body = cJSON_CreateObject();
  tune_buf_t line = TUNE_BUF_INIT;
  tune_buf_printf(&line, "{\"type\":\"%s\",\"id\":%llu", req_names[kind], (unsigned long long)r->id);
  for (cJSON *c = body->child; c; c = c->next) {
    tune_buf_putc(&line, ',');
    tune_json_write_string(&line, c->string, strlen(c->string));
    tune_buf_putc(&line, ':');
    tune_json_write(&line, c);
  }
  tune_buf_puts(&line, "}\n");
  cJSON_Delete(body);
  int rc = w->ex->backend->ops->send(w->proc, line.data, line.len);
  tune_buf_free(&line);
  if (rc < 0) {
    tune__req_free(r);
    return NULL;
  }
  if (w->req_tail) w->req_tail->next = r;
  else w->req_head = r;
  w->req_tail = r;
  return r;
}

tune_req_t *tune__worker_pop_request(tune_worker_t *w) {
  tune_req_t *r = w->req_head;
  if (!r) return NULL;
  w->req_head = r->next;
  if (!w->req_head) w->req_tail = NULL;
  r->next = NULL;
  return r;
}

void tune__req_free(tune_req_t *r) {
  if (!r) return;
  if (r->trial) tune_trial_unref(r->trial);
  free(r->tmp_dir);
  free(r->dir);
  free(r);
}

static void kill_timer_cb(void *ud) {
  tune_worker_t *w = ud;
  if (w->proc) {
    TUNE_DEBUG("worker %lld did not stop in time: killing it", (long long)w->pid);
    w->ex->backend->ops->kill(w->proc);
  }
}

void tune__worker_kill(tune_worker_t *w) {
  w->stopping = 1;
  if (w->proc) w->ex->backend->ops->kill(w->proc);
}

void tune__worker_stop(tune_worker_t *w) {
  if (w->stopping) return;
  w->stopping = 1;
  if (!w->proc) return;
  if (!tune__worker_request(w, TUNE_REQ_STOP, NULL, NULL)) {
    tune__worker_kill(w);
    return;
  }
  if (w->ex->o.force_trial_cleanup_s > 0) {
    tune_backend_t *b = w->ex->backend;
    if (!w->kill_timer) w->kill_timer = b->ops->timer_new(b, kill_timer_cb, w);
    b->ops->timer_start(w->kill_timer, w->ex->o.force_trial_cleanup_s);
  }
}

void tune__worker_free(tune_worker_t *w) {
  tune_executor_t *ex = w->ex;
  if (w->prev) w->prev->next = w->next;
  else if (ex->workers == w) ex->workers = w->next;
  if (w->next) w->next->prev = w->prev;
  tune_req_t *r;
  while ((r = tune__worker_pop_request(w))) tune__req_free(r);
  tune__worker_attach(w, NULL);
  if (w->kill_timer) ex->backend->ops->timer_free(w->kill_timer);
  tune_lines_free(&w->lines);
  tune_buf_free(&w->partial[0]);
  tune_buf_free(&w->partial[1]);
  for (size_t i = 0; i < TUNE_STDERR_TAIL; i++) free(w->tail[i]);
  free(w->hostname);
  free(w->node_ip);
  free(w->loader_key);
  free(w->fault);
  free(w);
}
