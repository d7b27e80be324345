#include "loggers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

typedef struct {
  size_t n;
  char **names;
} csv_columns_t;

/// A logging trial: its files stay open while it runs (one write(2) per
/// file and batch, no open/close per result).
typedef struct {
  char *logdir;
  int fd[2];              ///< result.json, progress.csv; -1 until opened
  csv_columns_t *cols;    ///< NULL until known
} trial_log_t;

static void columns_free(csv_columns_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free(c->names[i]);
  free(c->names);
  free(c);
}

static void trial_log_free(trial_log_t *t) {
  if (!t) return;
  for (int i = 0; i < 2; i++)
    if (t->fd[i] >= 0) close(t->fd[i]);
  columns_free(t->cols);
  free(t->logdir);
  free(t);
}

/// The trial's log state for `logdir` (a new one when the directory changed).
static trial_log_t *trial_log(tune_loggers_t *l, const char *trial_id, const char *logdir) {
  trial_log_t *t = tune_map_get(&l->trials, trial_id);
  if (t && !strcmp(t->logdir, logdir)) return t;
  trial_log_free(t);
  t = tune_xcalloc(1, sizeof *t);
  t->logdir = tune_xstrdup(logdir);
  t->fd[0] = t->fd[1] = -1;
  tune_map_put(&l->trials, trial_id, t);
  return t;
}

/// Appends to the trial's file `which` (0 result.json, 1 progress.csv),
/// opening it on first use. 0 or a negative errno.
static int log_append(trial_log_t *t, int which, const char *name, const void *data, size_t len) {
  if (t->fd[which] < 0) {
    char *path = tune_fs_join(t->logdir, name);
    t->fd[which] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    free(path);
    if (t->fd[which] < 0) return -errno;
  }
  return tune_fs_write_all(t->fd[which], data, len);
}

void tune_loggers_init(tune_loggers_t *l, int json, int csv) {
  memset(l, 0, sizeof *l);
  l->json = json;
  l->csv = csv;
  l->event_fd = -1;
  tune_map_init(&l->trials);
}

int tune_loggers_set_events(tune_loggers_t *l, const char *target) {
  if (l->event_fd_owned) close(l->event_fd);
  l->event_fd = -1;
  l->event_fd_owned = 0;
  if (!target) return 0;
  if (!strcmp(target, "-")) {
    l->event_fd = STDOUT_FILENO;
    return 0;
  }
  int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  l->event_fd = fd;
  l->event_fd_owned = 1;
  return 0;
}

void tune_loggers_free(tune_loggers_t *l) {
  tune_loggers_set_events(l, NULL);
  size_t pos = 0;
  void *v;
  while (tune_map_next(&l->trials, &pos, NULL, &v)) trial_log_free(v);
  tune_map_free(&l->trials);
  free(l->last_error);
}

void tune_loggers_close(tune_loggers_t *l, const char *trial_id) {
  trial_log_t *t = tune_map_get(&l->trials, trial_id);
  if (!t) return;
  for (int i = 0; i < 2; i++) {
    if (t->fd[i] >= 0) close(t->fd[i]);
    t->fd[i] = -1;
  }
}

void tune_loggers_forget(tune_loggers_t *l, const char *trial_id) {
  trial_log_free(tune_map_del(&l->trials, trial_id));
}

void tune_csv_field(tune_buf_t *out, const char *s, size_t len) {
  int quote = 0;
  for (size_t i = 0; i < len && !quote; i++)
    if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') quote = 1;
  if (!quote) {
    tune_buf_append(out, s, len);
    return;
  }
  tune_buf_putc(out, '"');
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '"') tune_buf_putc(out, '"');
    tune_buf_putc(out, s[i]);
  }
  tune_buf_putc(out, '"');
}

/* Flattened view of a result: parallel arrays of "a/b" keys and leaves. */
typedef struct {
  size_t n, cap;
  char **keys;
  const cJSON **vals;
} flat_t;

static void flat_add(flat_t *f, char *key, const cJSON *v) {
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 32;
    f->keys = tune_xrealloc(f->keys, f->cap * sizeof *f->keys);
    f->vals = tune_xrealloc(f->vals, f->cap * sizeof *f->vals);
  }
  f->keys[f->n] = key;
  f->vals[f->n++] = v;
}

static void flatten(flat_t *f, const cJSON *o, const char *prefix) {
  for (const cJSON *c = o->child; c; c = c->next) {
    char *key = prefix ? tune_xasprintf("%s/%s", prefix, c->string) : tune_xstrdup(c->string);
    if (cJSON_IsObject(c) && c->child) {
      flatten(f, c, key);
      free(key);
    } else {
      flat_add(f, key, c);
    }
  }
}

static void flat_free(flat_t *f) {
  for (size_t i = 0; i < f->n; i++) free(f->keys[i]);
  free(f->keys);
  free(f->vals);
}

/// A leaf as Ray's csv module writes it (str() of the Python value).
static void csv_value(tune_buf_t *out, const cJSON *v) {
  if (!v) return;
  switch (v->type & 0xFF) {
    case cJSON_True: tune_buf_puts(out, "True"); return;
    case cJSON_False: tune_buf_puts(out, "False"); return;
    case cJSON_NULL: return;
    case cJSON_Number:
      if (tune_json_is_int(v)) tune_json_write_int(out, (int64_t)v->valuedouble);
      else if (isnan(v->valuedouble)) tune_buf_puts(out, "nan");
      else if (isinf(v->valuedouble)) tune_buf_puts(out, v->valuedouble > 0 ? "inf" : "-inf");
      else tune_json_write_double(out, v->valuedouble);
      return;
    case cJSON_String: tune_csv_field(out, v->valuestring, strlen(v->valuestring)); return;
    default: {
      tune_buf_t tmp = TUNE_BUF_INIT;
      tune_json_write(&tmp, v);
      tune_csv_field(out, tmp.data, tmp.len);
      tune_buf_free(&tmp);
    }
  }
}

/// Columns of an existing progress.csv (its header line), or NULL.
static csv_columns_t *read_header(const char *path) {
  char *text;
  size_t len;
  if (tune_fs_read(path, 1 << 24, &text, &len) < 0 || len == 0) return NULL;
  char *nl = memchr(text, '\n', len);
  if (!nl) {
    free(text);
    return NULL;
  }
  csv_columns_t *c = tune_xcalloc(1, sizeof *c);
  tune_buf_t field = TUNE_BUF_INIT;
  int quoted = 0;
  for (char *p = text;; p++) {
    if (p < nl && quoted) {
      if (*p == '"' && p + 1 < nl && p[1] == '"') tune_buf_putc(&field, *p++);
      else if (*p == '"') quoted = 0;
      else tune_buf_putc(&field, *p);
      continue;
    }
    if (p < nl && *p == '"') {
      quoted = 1;
      continue;
    }
    if (p == nl || *p == ',') {
      c->names = tune_xrealloc(c->names, (c->n + 1) * sizeof *c->names);
      c->names[c->n++] = tune_xstrndup(field.data ? field.data : "", field.len);
      tune_buf_reset(&field);
      if (p == nl) break;
      continue;
    }
    if (*p != '\r') tune_buf_putc(&field, *p);
  }
  tune_buf_free(&field);
  free(text);
  return c;
}

static void report_failure(tune_loggers_t *l, const char *dir, const char *name, int rc) {
  char *msg = tune_xasprintf("cannot write %s/%s: %s", dir, name, strerror(-rc));
  if (!l->last_error || strcmp(l->last_error, msg)) TUNE_WARN("%s", msg);
  free(l->last_error);
  l->last_error = msg;
}

/// The results to log: the first `n` of the batch, without duplicates.
static size_t pick(cJSON *batch, size_t n, int stopped, const cJSON **out) {
  size_t k = 0, i = 0;
  for (cJSON *r = batch ? batch->child : NULL; r && i < n; r = r->next, i++) {
    if (stopped && i + 1 == n) tune_json_set(r, "done", cJSON_CreateTrue());
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "__duplicate__"))) continue;
    out[k++] = r;
  }
  return k;
}

/// result.json lines and `--events` lines, from one encoding of each result.
static void write_json(tune_loggers_t *l, trial_log_t *tl, const tune_log_target_t *t, const cJSON **rs, size_t n) {
  tune_buf_t lines = TUNE_BUF_INIT, events = TUNE_BUF_INIT, one = TUNE_BUF_INIT, cfg = TUNE_BUF_INIT;
  tune_json_write(&cfg, t->config);
  for (size_t i = 0; i < n; i++) {
    tune_buf_reset(&one);
    tune_json_write(&one, rs[i]);
    if (l->json && one.len && one.data[one.len - 1] == '}') {
      /* The result without its closing brace, then its config. */
      tune_buf_append(&lines, one.data, one.len - 1);
      tune_buf_puts(&lines, rs[i]->child ? ",\"config\":" : "\"config\":");
      tune_buf_append(&lines, cfg.data, cfg.len);
      tune_buf_puts(&lines, "}\n");
    }
    if (l->event_fd >= 0) {
      tune_buf_puts(&events, "{\"event\":\"trial_result\",\"time\":");
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      tune_json_write_double(&events, (double)ts.tv_sec + ts.tv_nsec / 1e9);
      tune_buf_puts(&events, ",\"trial_id\":");
      tune_json_write_string(&events, t->trial_id, strlen(t->trial_id));
      tune_buf_puts(&events, ",\"name\":");
      tune_json_write_string(&events, t->name, strlen(t->name));
      tune_buf_puts(&events, ",\"status\":\"RUNNING\",\"experiment_tag\":");
      tune_json_write_string(&events, t->experiment_tag, strlen(t->experiment_tag));
      tune_buf_puts(&events, ",\"logdir\":");
      tune_json_write_string(&events, t->logdir, strlen(t->logdir));
      tune_buf_puts(&events, ",\"result\":");
      tune_buf_append(&events, one.data, one.len);
      tune_buf_puts(&events, "}\n");
    }
  }
  if (lines.len) {
    int rc = log_append(tl, 0, "result.json", lines.data, lines.len);
    if (rc < 0) report_failure(l, t->logdir, "result.json", rc);
  }
  if (events.len) tune_fs_write_all(l->event_fd, events.data, events.len);
  tune_buf_free(&lines);
  tune_buf_free(&events);
  tune_buf_free(&one);
  tune_buf_free(&cfg);
}

static void write_csv(tune_loggers_t *l, trial_log_t *tl, const tune_log_target_t *t, const cJSON **rs, size_t n) {
  csv_columns_t *cols = tl->cols;
  tune_buf_t b = TUNE_BUF_INIT;
  int fresh = 0;
  if (!cols) {
    char *path = tune_fs_join(t->logdir, "progress.csv");
    cols = read_header(path);
    free(path);
    if (!cols) fresh = 1;
  }
  for (size_t k = 0; k < n; k++) {
    const cJSON *r = rs[k];
    flat_t f = {0, 0, NULL, NULL};
    flatten(&f, r, NULL);
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(wrap, "config", (cJSON *)t->config);
    flatten(&f, wrap, NULL);
    if (fresh) {
      /* The first result fixes the columns (Ray: later keys are ignored). */
      cols = tune_xcalloc(1, sizeof *cols);
      cols->n = f.n;
      cols->names = tune_xcalloc(f.n ? f.n : 1, sizeof(char *));
      for (size_t i = 0; i < f.n; i++) {
        cols->names[i] = tune_xstrdup(f.keys[i]);
        if (i) tune_buf_putc(&b, ',');
        tune_csv_field(&b, f.keys[i], strlen(f.keys[i]));
      }
      tune_buf_putc(&b, '\n');
      fresh = 0;
    }
    for (size_t i = 0; i < cols->n; i++) {
      if (i) tune_buf_putc(&b, ',');
      /* Results usually keep their key order: try the same position first. */
      const cJSON *v = NULL;
      if (i < f.n && !strcmp(f.keys[i], cols->names[i])) v = f.vals[i];
      for (size_t j = 0; j < f.n && !v; j++)
        if (!strcmp(f.keys[j], cols->names[i])) v = f.vals[j];
      csv_value(&b, v);
    }
    tune_buf_putc(&b, '\n');
    cJSON_Delete(wrap);
    flat_free(&f);
  }
  tl->cols = cols;
  int rc = log_append(tl, 1, "progress.csv", b.data, b.len);
  if (rc < 0) report_failure(l, t->logdir, "progress.csv", rc);
  tune_buf_free(&b);
}

void tune_loggers_write(tune_loggers_t *l, const tune_log_target_t *t, cJSON *batch, size_t n, int stopped) {
  if (!l->json && !l->csv && l->event_fd < 0) return;
  size_t len = (size_t)cJSON_GetArraySize(batch);
  if (n > len) n = len;
  if (n == 0) return;
  const cJSON **rs = tune_xcalloc(n, sizeof *rs);
  size_t k = pick(batch, n, stopped, rs);
  trial_log_t *tl = trial_log(l, t->trial_id, t->logdir);
  if (k > 0 && (l->json || l->event_fd >= 0)) write_json(l, tl, t, rs, k);
  if (k > 0 && l->csv) write_csv(l, tl, t, rs, k);
  free(rs);
}
