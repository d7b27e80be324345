#include "loggers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

typedef struct {
  size_t n;
  char **names;
} csv_columns_t;

static void columns_free(csv_columns_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free(c->names[i]);
  free(c->names);
  free(c);
}

void tune_loggers_init(tune_loggers_t *l, int json, int csv) {
  memset(l, 0, sizeof *l);
  l->json = json;
  l->csv = csv;
  tune_map_init(&l->columns);
}

void tune_loggers_free(tune_loggers_t *l) {
  size_t pos = 0;
  void *v;
  while (tune_map_next(&l->columns, &pos, NULL, &v)) columns_free(v);
  tune_map_free(&l->columns);
  free(l->last_error);
}

void tune_loggers_forget(tune_loggers_t *l, const char *trial_id) {
  columns_free(tune_map_del(&l->columns, trial_id));
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

static void report_failure(tune_loggers_t *l, const char *path, int rc) {
  char *msg = tune_xasprintf("cannot write %s: %s", path, strerror(-rc));
  if (!l->last_error || strcmp(l->last_error, msg)) TUNE_WARN("%s", msg);
  free(l->last_error);
  l->last_error = msg;
}

void tune_loggers_sink(void *ud, const char *trial_id, const char *logdir, const cJSON *config,
                       const cJSON *results) {
  tune_loggers_t *l = ud;
  if (!results->child) return;
  if (l->json) {
    tune_buf_t b = TUNE_BUF_INIT;
    for (const cJSON *r = results->child; r; r = r->next) {
      /* The result without its closing brace, then its config. */
      tune_json_write(&b, r);
      if (b.len && b.data[b.len - 1] == '}') {
        b.len--;
        tune_buf_puts(&b, r->child ? ",\"config\":" : "\"config\":");
        tune_json_write(&b, config);
        tune_buf_putc(&b, '}');
      }
      tune_buf_putc(&b, '\n');
    }
    char *path = tune_fs_join(logdir, "result.json");
    int rc = tune_fs_append(path, b.data, b.len, 0);
    if (rc < 0) report_failure(l, path, rc);
    free(path);
    tune_buf_free(&b);
  }
  if (l->csv) {
    char *path = tune_fs_join(logdir, "progress.csv");
    csv_columns_t *cols = tune_map_get(&l->columns, trial_id);
    tune_buf_t b = TUNE_BUF_INIT;
    int fresh = 0;
    if (!cols) {
      cols = read_header(path);
      if (!cols) fresh = 1;
    }
    for (const cJSON *r = results->child; r; r = r->next) {
      flat_t f = {0, 0, NULL, NULL};
      flatten(&f, r, NULL);
      cJSON *wrap = cJSON_CreateObject();
      cJSON_AddItemReferenceToObject(wrap, "config", (cJSON *)config);
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
        for (size_t k = 0; k < f.n && !v; k++)
          if (!strcmp(f.keys[k], cols->names[i])) v = f.vals[k];
        csv_value(&b, v);
      }
      tune_buf_putc(&b, '\n');
      cJSON_Delete(wrap);
      flat_free(&f);
    }
    tune_map_put(&l->columns, trial_id, cols);
    int rc = tune_fs_append(path, b.data, b.len, 0);
    if (rc < 0) report_failure(l, path, rc);
    free(path);
    tune_buf_free(&b);
  }
}
