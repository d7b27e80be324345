#include "loggers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"
#include "fsprep.h"
#include "writebehind.h"
#include "fsutil.h"
#include "jpack.h"
#include "json.h"
#include "log.h"
#include "trial.h"

/* ------------------------------------------------------------------------ */
/* Flattened views and CSV cells                                            */
/* ------------------------------------------------------------------------ */

/// Flattened view of an object: parallel arrays of "a/b" keys and leaves.
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
  memset(f, 0, sizeof *f);
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

/// A leaf as Ray's csv module writes it (str() of the Python value).
static void csv_value(tune_buf_t *out, const cJSON *v) {
  if (!v) return;
  switch (v->type & 0xFF) {
    case cJSON_True: tune_buf_puts(out, "True"); return;
    case cJSON_False: tune_buf_puts(out, "False"); return;
    case cJSON_NULL: return;
    case cJSON_Number:
      if (tune_json_is_int(v)) tune_json_write_int(out, tune_json_int(v));
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

/* ------------------------------------------------------------------------ */
/* A logging trial                                                          */
/* ------------------------------------------------------------------------ */

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

/// A trial's config as its rows show it: made once per config, and shared
/// with the writes behind the driver (which may still hold an earlier one).
typedef struct {
  atomic_int refs;
  tune_buf_t json;    ///< the config as JSON
  flat_t flat;        ///< "config/a/b" keys (the leaves are not kept)
  tune_buf_t cells;   ///< each key's CSV cell, '\0'-ended
  size_t *cell_at;    ///< where each cell starts in `cells`
} log_config_t;

static void config_unref(log_config_t *c) {
  if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
  tune_buf_free(&c->json);
  flat_free(&c->flat);
  tune_buf_free(&c->cells);
  free(c->cell_at);
  free(c);
}

/// A config's texts.
static log_config_t *config_new(const cJSON *config) {
  log_config_t *c = tune_xcalloc(1, sizeof *c);
  atomic_init(&c->refs, 1);
  tune_json_write(&c->json, config);
  cJSON *wrap = cJSON_CreateObject();
  cJSON_AddItemReferenceToObject(wrap, "config", (cJSON *)config);
  flatten(&c->flat, wrap, NULL);
  c->cell_at = tune_xcalloc(c->flat.n + 1, sizeof *c->cell_at);
  for (size_t i = 0; i < c->flat.n; i++) {
    c->cell_at[i] = c->cells.len;
    csv_value(&c->cells, c->flat.vals[i]);
    tune_buf_putc(&c->cells, '\0');
    /* Only the keys and cells are kept: the leaves belong to the config. */
    c->flat.vals[i] = NULL;
  }
  cJSON_Delete(wrap);
  return c;
}

/// What the writes touch, in their order: the trial's progress.csv
/// columns, fixed by its first row (or read back from the file's header),
/// and the last attempt whose rows could not all be written, which the
/// driver reads too.
typedef struct {
  csv_columns_t *cols; ///< NULL until known
  char *trial_id;
  atomic_uint failed;  ///< the attempt (tune_loggers_attempt), or 0
  atomic_int failed_rc, failed_which;  ///< its -errno and file (0 result.json, 1 progress.csv)
} log_rows_t;

/// A failed write, kept for the driver (tune_loggers_take_faults).
typedef struct tune_log_fault {
  struct tune_log_fault *next;
  char *trial_id, *msg;
  unsigned attempt;
} log_fault_t;

/// A logging trial: its files stay open while it runs (no open/close per
/// result), and what it logs waits in `pend`, packed (engine/jpack.h),
/// until the next flush hands it to the writer, which encodes it and makes
/// one write(2) per file. Its config's texts are made once per config.
typedef struct trial_log {
  char *logdir;
  tune_wb_file_t *file[2];  ///< result.json, progress.csv; NULL until opened
  tune_buf_t pend;          ///< results logged, not handed over yet, packed
  size_t npend;             ///< how many
  int dirty;                ///< on the loggers' dirty list
  unsigned config_gen;
  unsigned attempt;         ///< its tasks' (a new one each time the files close)
  log_config_t *config;     ///< NULL until known (a reference)
  log_rows_t *rows;         ///< the writes'; the trial's last task frees it
} trial_log_t;

static const char *const LOG_NAMES[2] = {"result.json", "progress.csv"};

/* ------------------------------------------------------------------------ */
/* progress.csv                                                             */
/* ------------------------------------------------------------------------ */

/// The columns of the progress.csv open as `fd` (its header line, however
/// long the file: a newline inside a quoted key does not end it), or NULL
/// when it has none yet.
static csv_columns_t *read_header(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size == 0) return NULL;
  tune_buf_t line = TUNE_BUF_INIT;
  char chunk[4096];
  const char *nl = NULL;
  off_t at = 0;
  int in_quotes = 0;
  for (;;) {
    ssize_t got = pread(fd, chunk, sizeof chunk, at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    at += got;
    const char *e = NULL;
    for (ssize_t i = 0; i < got && !e; i++) {
      if (chunk[i] == '"') in_quotes = !in_quotes; /* "" inside quotes toggles twice */
      else if (chunk[i] == '\n' && !in_quotes) e = chunk + i;
    }
    tune_buf_append(&line, chunk, e ? (size_t)(e - chunk) : (size_t)got);
    if (e || line.len > (1u << 24)) {
      nl = e;
      break;
    }
  }
  if (!nl) {
    /* No complete header (an empty file, or one torn at the header). */
    tune_buf_free(&line);
    return NULL;
  }
  csv_columns_t *c = tune_xcalloc(1, sizeof *c);
  tune_buf_t field = TUNE_BUF_INIT;
  int quoted = 0;
  const char *text = line.data ? line.data : "";
  const char *end = text + line.len;
  for (const char *p = text;; p++) {
    if (p < end && quoted) {
      if (*p == '"' && p + 1 < end && p[1] == '"') tune_buf_putc(&field, *p++);
      else if (*p == '"') quoted = 0;
      else tune_buf_putc(&field, *p);
      continue;
    }
    if (p < end && *p == '"') {
      quoted = 1;
      continue;
    }
    if (p == end || *p == ',') {
      c->names = tune_xrealloc(c->names, (c->n + 1) * sizeof *c->names);
      c->names[c->n++] = tune_xstrndup(field.data ? field.data : "", field.len);
      tune_buf_reset(&field);
      if (p == end) break;
      continue;
    }
    if (*p != '\r') tune_buf_putc(&field, *p);
  }
  tune_buf_free(&field);
  tune_buf_free(&line);
  return c;
}

/// A top-level member of `r` named `name`, trying position `i` first
/// (results keep their key order).
static const cJSON *member(const cJSON *r, const cJSON **at, const char *name) {
  if (*at && (*at)->string && !strcmp((*at)->string, name)) {
    const cJSON *v = *at;
    *at = v->next;
    return v;
  }
  for (const cJSON *c = r->child; c; c = c->next)
    if (c->string && !strcmp(c->string, name)) {
      *at = c->next;
      return c;
    }
  return NULL;
}

static int is_flat(const cJSON *r) {
  for (const cJSON *c = r->child; c; c = c->next)
    if (cJSON_IsObject(c) && c->child) return 0;
  return 1;
}

/// One row: a flat result's members are found by name in order, without
/// building keys; config cells come from the trial's cache.
static void csv_row(const log_config_t *c, const csv_columns_t *cols, const cJSON *r, tune_buf_t *b) {
  flat_t f = {0, 0, NULL, NULL};
  int flat = is_flat(r);
  if (!flat) flatten(&f, r, NULL);
  const cJSON *at = r->child;
  size_t cfg = 0;
  for (size_t i = 0; i < cols->n; i++) {
    if (i) tune_buf_putc(b, ',');
    const char *name = cols->names[i];
    if (!strncmp(name, "config/", 7)) {
      /* The config's cells keep their order too. */
      size_t k = cfg;
      while (k < c->flat.n && strcmp(c->flat.keys[k], name)) k++;
      if (k == c->flat.n)
        for (k = 0; k < c->flat.n && strcmp(c->flat.keys[k], name); k++) {}
      if (k < c->flat.n) {
        tune_buf_puts(b, c->cells.data + c->cell_at[k]);
        cfg = k + 1;
      }
      continue;
    }
    const cJSON *v = NULL;
    if (flat) {
      v = member(r, &at, name);
    } else {
      if (i < f.n && !strcmp(f.keys[i], name)) v = f.vals[i];
      for (size_t j = 0; j < f.n && !v; j++)
        if (!strcmp(f.keys[j], name)) v = f.vals[j];
    }
    csv_value(b, v);
  }
  tune_buf_putc(b, '\n');
  if (!flat) flat_free(&f);
}

/* ------------------------------------------------------------------------ */
/* Rows, encoded and written behind the driver                              */
/* ------------------------------------------------------------------------ */

/// Adds `name` to the columns unless it is there already: a reported
/// "a/b" beside a nested {"a": {"b": ...}}, or a "config/x" of the
/// result's own, is one column (Ray's flattened dict has one such key).
static void add_column(csv_columns_t *cols, const char *name) {
  for (size_t i = 0; i < cols->n; i++)
    if (!strcmp(cols->names[i], name)) return;
  cols->names[cols->n++] = tune_xstrdup(name);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/// Whether flattened key `k` comes from a field the engine fills in.
static int filled(const char *k) {
  const char *slash = strchr(k, '/');
  return tune_result_key_is_filled(k, slash ? (size_t)(slash - k) : strlen(k));
}

/// The columns of a first result: the trainable's own (flattened) keys in
/// name order, then the fields the engine fills in, then the config's. A
/// Lua table has no order of its own (its traversal order differs from
/// process to process), so every trial's file has the same columns in the
/// same order (Ray's follow the reported dict's order). A result's own
/// "config/..." keys are left to the config's columns (their cells come
/// from the trial's config, csv_row).
static csv_columns_t *columns_of(const log_config_t *c, const cJSON *r) {
  flat_t f = {0, 0, NULL, NULL};
  flatten(&f, r, NULL);
  csv_columns_t *cols = tune_xcalloc(1, sizeof *cols);
  cols->names = tune_xcalloc(f.n + c->flat.n + 1, sizeof(char *));
  char **own = tune_xcalloc(f.n + 1, sizeof(char *));
  size_t nown = 0;
  for (size_t i = 0; i < f.n; i++)
    if (strncmp(f.keys[i], "config/", 7) && !filled(f.keys[i])) own[nown++] = f.keys[i];
  qsort(own, nown, sizeof *own, by_name);
  for (size_t i = 0; i < nown; i++) add_column(cols, own[i]);
  free(own);
  for (size_t i = 0; i < f.n; i++)
    if (strncmp(f.keys[i], "config/", 7) && filled(f.keys[i])) add_column(cols, f.keys[i]);
  for (size_t i = 0; i < c->flat.n; i++) add_column(cols, c->flat.keys[i]);
  flat_free(&f);
  return cols;
}

/// A trial's rows handed to the writer: encoded and written there (or at
/// once without one), progress.csv first (see flush_trial); then with
/// `close` the files' ends, and with `end` the trial's row state.
typedef struct {
  tune_fsprep_task_t task;
  tune_loggers_t *loggers;  ///< their scratch (they drain before they go)
  tune_wb_file_t *file[2];  ///< those open (not owned unless `close`)
  log_config_t *config;     ///< a reference, or NULL
  log_rows_t *rows;
  tune_buf_t pend;          ///< the results, packed
  size_t npend;
  cJSON **rs;               ///< the results, rebuilt
  unsigned attempt;         ///< the trial's when it handed them over
  int close, end;
} rows_task_t;

static int encode_csv(rows_task_t *rt) {
  tune_buf_t *b = &rt->loggers->rows;
  tune_buf_reset(b);
  log_rows_t *rows = rt->rows;
  size_t header_len = 0;
  int empty = tune_wb_file_size(rt->file[1]) == 0;
  if (!rows->cols) {
    /* A file with data (a trial paused, forgotten or resumed) has its
       header to read back; else the first result fixes the columns (Ray:
       later keys are ignored). */
    if (!empty) rows->cols = read_header(tune_wb_file_fd(rt->file[1]));
    if (!rows->cols) rows->cols = columns_of(rt->config, rt->rs[0]);
  }
  if (empty && !tune_wb_file_header_pending(rt->file[1])) {
    /* The file's first line: also for a trial started again on a file a
       failed write (a full disk) left empty, its columns known before. */
    for (size_t i = 0; i < rows->cols->n; i++) {
      if (i) tune_buf_putc(b, ',');
      tune_csv_field(b, rows->cols->names[i], strlen(rows->cols->names[i]));
    }
    tune_buf_putc(b, '\n');
    header_len = b->len;
  }
  for (size_t k = 0; k < rt->npend; k++) csv_row(rt->config, rows->cols, rt->rs[k], b);
  return tune_wb_file_put(rt->file[1], b->data, b->len, header_len);
}

/// result.json's lines: each result with its config.
static int encode_json(rows_task_t *rt) {
  tune_buf_t *b = &rt->loggers->lines;
  tune_buf_reset(b);
  for (size_t k = 0; k < rt->npend; k++) {
    const cJSON *r = rt->rs[k];
    size_t at = b->len;
    tune_json_write(b, r);
    if (b->len == at || b->data[b->len - 1] != '}') {
      b->len = at; /* results are objects */
      continue;
    }
    /* The result without its closing brace, then its config. */
    b->len--;
    tune_buf_puts(b, r->child ? ",\"config\":" : "\"config\":");
    tune_buf_append(b, rt->config->json.data, rt->config->json.len);
    tune_buf_puts(b, "}\n");
  }
  return b->len ? tune_wb_file_put(rt->file[0], b->data, b->len, 0) : 0;
}

/// The rows of the task's attempt could not all be written: kept for the
/// driver (the trial fails), who also reads `rows->failed`.
static void rows_failed(rows_task_t *rt, int which, int rc) {
  log_rows_t *rows = rt->rows;
  atomic_store_explicit(&rows->failed_rc, rc, memory_order_relaxed);
  atomic_store_explicit(&rows->failed_which, which, memory_order_relaxed);
  atomic_store_explicit(&rows->failed, rt->attempt, memory_order_release);
  log_fault_t *f = tune_xcalloc(1, sizeof *f);
  f->trial_id = tune_xstrdup(rows->trial_id);
  f->attempt = rt->attempt;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(rt->rs[0], "training_iteration");
  char from[64] = "";
  if (cJSON_IsNumber(it)) snprintf(from, sizeof from, " from training_iteration %.17g", it->valuedouble);
  f->msg = tune_xasprintf("cannot write %s: %s (the trial's results%s on were not logged)",
                          tune_wb_file_path(rt->file[which]), strerror(-rc), from);
  f->next = atomic_load_explicit(&rt->loggers->faults, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&rt->loggers->faults, &f->next, f, memory_order_release,
                                                memory_order_relaxed)) {}
}

/// Rebuilds the results (on the writer's thread: its own cJSON blocks),
/// encodes them, and frees them. Once a write of the trial's rows failed,
/// the rest of that attempt's are dropped: a file never has a hole (the
/// trial fails; retried, it logs again from its checkpoint).
static void run_rows(tune_fsprep_task_t *task) {
  rows_task_t *rt = (rows_task_t *)task;
  if (rt->npend && atomic_load_explicit(&rt->rows->failed, memory_order_relaxed) == rt->attempt) rt->npend = 0;
  if (rt->npend) {
    rt->rs = tune_xcalloc(rt->npend, sizeof *rt->rs);
    const char *p = rt->pend.data, *end = p + rt->pend.len;
    size_t n = 0;
    /* The driver packed them all: a result that would not rebuild (none
       should) ends the rows there. */
    while (n < rt->npend && (rt->rs[n] = tune_json_unpack(&p, end))) n++;
    rt->npend = n;
    /* The two logs keep the same rows: a batch progress.csv could not take
       is not written to result.json, and one result.json could not take is
       cut from progress.csv again (a disk that filled up in between). */
    off_t csv_before = rt->file[1] ? tune_wb_file_size(rt->file[1]) : 0;
    int rc = n && rt->file[1] ? encode_csv(rt) : 0, which = 1;
    if (n && rt->file[0] && rc == 0 && (which = 0, rc = encode_json(rt)) < 0 && rt->file[1])
      tune_wb_file_undo(rt->file[1], csv_before);
    if (rc < 0) rows_failed(rt, which, rc);
    for (size_t k = 0; k < n; k++) cJSON_Delete(rt->rs[k]);
    free(rt->rs);
  }
  tune_buf_free(&rt->pend);
  config_unref(rt->config);
  if (rt->close)
    for (int i = 0; i < 2; i++)
      if (rt->file[i]) tune_wb_file_end(rt->file[i]);
  if (rt->end) {
    columns_free(rt->rows->cols);
    free(rt->rows->trial_id);
    free(rt->rows);
  }
  free(rt);
}

/// The journal's pending entries go before any row: a row on disk is
/// never ahead of the decisions about it ("finishing", docs/reliability.md).
/// A failure is the journal's to report (its owner takes `error`).
static void flush_ahead(tune_loggers_t *l) {
  if (l->ahead) tune_wb_append_flush(l->ahead, l->direct);
}

/// Hands what the trial has pending to the writer, as one task; with
/// `close` its files' ends, with `end` its row state (the trial's last
/// task). progress.csv goes first: result.json is what a resume reads a
/// trial's last result from (whether it had finished), so a row there is
/// in progress.csv too when the driver dies between the two writes; rows
/// only in progress.csv are cut by the resume with the rest after the
/// trial's checkpoint.
static void flush_trial(tune_loggers_t *l, trial_log_t *t, int close, int end) {
  t->dirty = 0;
  int files = close ? (t->file[0] != NULL) + (t->file[1] != NULL) : 0;
  if (!t->npend && !files && !(end && t->rows)) return;
  if (t->npend) flush_ahead(l);
  rows_task_t *rt = tune_xcalloc(1, sizeof *rt);
  rt->task.run = run_rows;
  rt->loggers = l;
  for (int i = 0; i < 2; i++) {
    rt->file[i] = t->file[i];
    if (close) t->file[i] = NULL;
  }
  if (t->npend) {
    rt->config = t->config;
    atomic_fetch_add_explicit(&t->config->refs, 1, memory_order_relaxed);
  }
  rt->rows = t->rows;
  if (end) t->rows = NULL;
  rt->pend = t->pend;
  rt->npend = t->npend;
  rt->attempt = t->attempt;
  /* What it logs once its files open again is a new attempt. */
  if (close) t->attempt = ++l->attempts;
  l->pending -= t->npend;
  t->pend = (tune_buf_t)TUNE_BUF_INIT;
  t->npend = 0;
  rt->close = close;
  rt->end = end;
  tune_wb_task(l->direct ? NULL : l->writer, &rt->task, files);
}

/// Writes what a trial has pending, off the dirty list (see flush_trial).
static void settle(tune_loggers_t *l, trial_log_t *t, int close, int end) {
  if (t->dirty) {
    for (size_t i = 0; i < l->ndirty; i++) {
      if (l->dirty[i] == t) {
        l->dirty[i] = l->dirty[--l->ndirty];
        break;
      }
    }
  }
  flush_trial(l, t, close, end);
}

/// Hands over what a trial has pending, closes its files, and frees its
/// log state.
static void drop(tune_loggers_t *l, trial_log_t *t) {
  if (!t) return;
  settle(l, t, 1, 1);
  config_unref(t->config);
  free(t->logdir);
  free(t);
}

/// The trial's log state for `logdir` (a new one when the directory changed).
static trial_log_t *trial_log(tune_loggers_t *l, const char *trial_id, const char *logdir) {
  trial_log_t *t = tune_map_get(&l->trials, trial_id);
  if (t && !strcmp(t->logdir, logdir)) return t;
  drop(l, t);
  t = tune_xcalloc(1, sizeof *t);
  t->logdir = tune_xstrdup(logdir);
  t->attempt = ++l->attempts;
  t->rows = tune_xcalloc(1, sizeof *t->rows);
  t->rows->trial_id = tune_xstrdup(trial_id);
  tune_map_put(&l->trials, trial_id, t);
  return t;
}

/// The config's texts, made when the trial's config is new; rows pending
/// with the one before are handed over first.
static void know_config(tune_loggers_t *l, trial_log_t *t, const tune_log_target_t *tg) {
  if (t->config && t->config_gen == tg->config_gen) return;
  if (t->npend) settle(l, t, 0, 0);
  config_unref(t->config);
  t->config = config_new(tg->config);
  t->config_gen = tg->config_gen;
}

/// Opens the trial's file `which` (0 result.json, 1 progress.csv) for
/// appending, once; progress.csv also for reading its header back. `fd`:
/// already open that way (made empty with the directory), else -1.
/// 0 or a negative errno.
static int log_open(tune_loggers_t *l, trial_log_t *t, int which, int made, int fd) {
  if (t->file[which]) {
    if (fd >= 0) close(fd);
    return 0;
  }
  char *path = tune_fs_join(t->logdir, LOG_NAMES[which]);
  off_t size = 0;
  if (fd < 0) {
    int flags = (which ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND | O_CLOEXEC;
    /* A new trial's file is made here, or was made empty with its
       directory (`made`, engine/fsprep.h): then it is empty, no fstat. */
    fd = open(path, made ? flags : flags | O_EXCL, 0666);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && l->writer) {
      /* Files the writer has yet to close count: they go first. */
      tune_fsprep_drain(l->writer);
      fd = open(path, made ? flags : flags | O_EXCL, 0666);
    }
    if (fd < 0 && errno == EEXIST) {
      /* There already: its length is read once what was handed over for
         it (a trial paused, or forgotten and logging again) is on disk. */
      tune_fsprep_drain(l->writer);
      fd = open(path, flags, 0666);
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0) size = st.st_size;
    }
    if (fd < 0) {
      int rc = -errno;
      free(path);
      return rc;
    }
  }
  t->file[which] = tune_wb_file_new(fd, path, size);
  return 0;
}

static void report_failure(tune_loggers_t *l, const char *dir, const char *name, int rc) {
  char *msg = tune_xasprintf("cannot write %s/%s: %s", dir, name, strerror(-rc));
  if (!l->last_error || strcmp(l->last_error, msg)) TUNE_WARN("%s", msg);
  free(l->last_error);
  l->last_error = msg;
}

/// Adds a result to what the trial has pending.
static void add_pending(tune_loggers_t *l, trial_log_t *t, const cJSON *r) {
  if (!t->pend.cap) tune_buf_reserve(&t->pend, 1024);
  tune_json_pack(&t->pend, r);
  t->npend++;
  l->pending++;
  if (!t->dirty) {
    t->dirty = 1;
    if (l->ndirty == l->dirty_cap) {
      l->dirty_cap = l->dirty_cap ? 2 * l->dirty_cap : 16;
      l->dirty = tune_xrealloc(l->dirty, l->dirty_cap * sizeof *l->dirty);
    }
    l->dirty[l->ndirty++] = t;
  }
}

void tune_loggers_flush(tune_loggers_t *l) {
  flush_ahead(l);
  for (size_t i = 0; i < l->ndirty; i++) flush_trial(l, l->dirty[i], 0, 0);
  l->ndirty = 0;
}

void tune_loggers_flush_idle(tune_loggers_t *l) {
  /* Nothing queued before them: written here, in order all the same. */
  l->direct = tune_fsprep_quiet(l->writer);
  tune_loggers_flush(l);
  l->direct = 0;
}

void tune_loggers_sync(tune_loggers_t *l) {
  tune_loggers_flush(l);
  tune_fsprep_drain(l->writer);
}

void tune_loggers_take_faults(tune_loggers_t *l, tune_log_fault_fn fn, void *ud) {
  if (!atomic_load_explicit(&l->faults, memory_order_relaxed)) return;
  log_fault_t *f = atomic_exchange_explicit(&l->faults, NULL, memory_order_acquire), *old = NULL;
  while (f) { /* newest first: reversed */
    log_fault_t *next = f->next;
    f->next = old;
    old = f;
    f = next;
  }
  for (f = old; f; f = old) {
    old = f->next;
    const trial_log_t *t = fn ? tune_map_get(&l->trials, f->trial_id) : NULL;
    if (fn && (!t || t->attempt == f->attempt)) fn(ud, f->trial_id, f->msg);
    free(f->trial_id);
    free(f->msg);
    free(f);
  }
}

unsigned tune_loggers_attempt(tune_loggers_t *l, const char *trial_id) {
  const trial_log_t *t = tune_map_get(&l->trials, trial_id);
  return t ? t->attempt : 0;
}

int tune_loggers_failed(tune_loggers_t *l, const char *trial_id, unsigned attempt, char *msg, size_t len) {
  const trial_log_t *t = tune_map_get(&l->trials, trial_id);
  unsigned failed = t && t->rows ? atomic_load_explicit(&t->rows->failed, memory_order_acquire) : 0;
  if (!attempt || failed < attempt) return 0;
  int which = atomic_load_explicit(&t->rows->failed_which, memory_order_relaxed);
  int rc = atomic_load_explicit(&t->rows->failed_rc, memory_order_relaxed);
  snprintf(msg, len, "cannot write %s/%s: %s", t->logdir, LOG_NAMES[which], strerror(-rc));
  return 1;
}

/* ------------------------------------------------------------------------ */
/* What the executor calls                                                  */
/* ------------------------------------------------------------------------ */

/// `--events` lines, written at once: each result as a trial_result.
static void write_events(tune_loggers_t *l, const tune_log_target_t *t, const cJSON **rs, size_t n) {
  tune_buf_t *events = &l->events;
  tune_buf_reset(events);
  for (size_t i = 0; i < n; i++) {
    tune_buf_puts(events, "{\"event\":\"trial_result\",\"time\":");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tune_json_write_double(events, (double)ts.tv_sec + ts.tv_nsec / 1e9);
    tune_buf_puts(events, ",\"trial_id\":");
    tune_json_write_string(events, t->trial_id, strlen(t->trial_id));
    tune_buf_puts(events, ",\"name\":");
    tune_json_write_string(events, t->name, strlen(t->name));
    tune_buf_puts(events, ",\"status\":\"RUNNING\",\"experiment_tag\":");
    tune_json_write_string(events, t->experiment_tag, strlen(t->experiment_tag));
    tune_buf_puts(events, ",\"logdir\":");
    tune_json_write_string(events, t->logdir, strlen(t->logdir));
    tune_buf_puts(events, ",\"result\":");
    tune_json_write(events, rs[i]);
    tune_buf_puts(events, "}\n");
  }
  tune_loggers_write_event(l, events->data, events->len);
}

/// The results to log: the first `n` of the batch, without the duplicate
/// (only ever a batch's last: exec_replies.c).
static size_t pick(cJSON *batch, size_t n, int stopped, const cJSON **out) {
  size_t k = 0, i = 0;
  for (cJSON *r = batch ? batch->child : NULL; r && i < n; r = r->next, i++) {
    if (stopped && i + 1 == n) tune_json_set(r, "done", cJSON_CreateTrue());
    if (!r->next && cJSON_IsTrue(tune_json_get(r, "__duplicate__"))) continue;
    out[k++] = r;
  }
  return k;
}

void tune_loggers_write(tune_loggers_t *l, const tune_log_target_t *t, cJSON *batch, size_t n, int stopped) {
  if (!l->json && !l->csv && l->event_fd < 0) return;
  size_t len = (size_t)cJSON_GetArraySize(batch);
  if (n > len) n = len;
  if (n == 0) return;
  const cJSON *few[16];
  const cJSON **rs = n <= 16 ? few : tune_xcalloc(n, sizeof *rs);
  size_t k = pick(batch, n, stopped, rs);
  if (k > 0 && l->event_fd >= 0) write_events(l, t, rs, k);
  if (k > 0 && (l->json || l->csv)) {
    trial_log_t *tl = trial_log(l, t->trial_id, t->logdir);
    know_config(l, tl, t);
    /* Packed now, encoded and written by the writer (flush_trial), into
       the files open then; one that cannot be opened is reported and
       tried again at the next write. */
    int open = 0;
    for (int which = 0; which < 2; which++) {
      if (!(which ? l->csv : l->json)) continue;
      int rc = log_open(l, tl, which, 0, -1);
      if (rc < 0) report_failure(l, t->logdir, LOG_NAMES[which], rc);
      else open = 1;
    }
    if (open)
      for (size_t i = 0; i < k; i++) add_pending(l, tl, rs[i]);
  }
  if (rs != few) free(rs);
  if (l->flush_next) {
    /* A save is on its way: its rows are on disk before its checkpoint. */
    l->flush_next = 0;
    tune_loggers_sync(l);
  } else if (l->pending >= TUNE_LOGGERS_FLUSH_RESULTS) {
    tune_loggers_flush(l);
  }
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */
/* ------------------------------------------------------------------------ */

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
  free(l->event_target);
  l->event_target = NULL;
  if (!target) return 0;
  if (!strcmp(target, "-")) {
    l->event_fd = STDOUT_FILENO;
  } else {
    int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    l->event_fd = fd;
    l->event_fd_owned = 1;
  }
  l->event_target = tune_xstrdup(target);
  return 0;
}

void tune_loggers_write_event(tune_loggers_t *l, const char *data, size_t len) {
  if (l->event_fd < 0) return;
  int rc = tune_fs_write_all(l->event_fd, data, len);
  if (rc < 0) {
    /* A reader gone, a full disk: said once, and the run goes on. */
    TUNE_WARN("cannot write the event stream to %s: %s; no more events are written to it", l->event_target,
              strerror(-rc));
    tune_loggers_set_events(l, NULL);
  }
}

void tune_loggers_free(tune_loggers_t *l) {
  tune_loggers_flush(l);
  tune_loggers_set_events(l, NULL);
  size_t pos = 0;
  void *v;
  while (tune_map_next(&l->trials, &pos, NULL, &v)) drop(l, v);
  tune_map_free(&l->trials);
  free(l->dirty);
  /* The tasks use the scratch buffers below. */
  tune_fsprep_drain(l->writer);
  tune_loggers_take_faults(l, NULL, NULL);
  free(l->last_error);
  tune_buf_free(&l->lines);
  tune_buf_free(&l->events);
  tune_buf_free(&l->rows);
}

void tune_loggers_open(tune_loggers_t *l, const char *trial_id, const char *logdir, int made, int fds[2]) {
  trial_log_t *t = l->json || l->csv ? trial_log(l, trial_id, logdir) : NULL;
  for (int i = 0; i < 2; i++) {
    int on = i == 0 ? l->json : l->csv;
    /* Made empty and opened with the directory (engine/fsprep.h). */
    int fd = fds ? fds[i] : -1;
    if (fds) fds[i] = -1;
    if (on) (void)log_open(l, t, i, made, fd);
    else if (fd >= 0) close(fd);
  }
}

void tune_loggers_close(tune_loggers_t *l, const char *trial_id) {
  trial_log_t *t = tune_map_get(&l->trials, trial_id);
  /* Its CSV columns are kept (in its row state). */
  if (t) settle(l, t, 1, 0);
}

void tune_loggers_forget(tune_loggers_t *l, const char *trial_id) {
  drop(l, tune_map_del(&l->trials, trial_id));
}
