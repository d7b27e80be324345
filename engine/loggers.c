#include "loggers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
#include "json.h"
#include "log.h"

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

/// A logging trial: its files stay open while it runs (no open/close per
/// result), what it logs waits in `pend` until the next flush (one
/// write(2) per file and flush), and its config's text is made once per
/// config.
typedef struct trial_log {
  char *logdir;
  tune_wb_file_t *file[2];  ///< result.json, progress.csv; NULL until opened
  int nonempty[2];        ///< found with data when opened (a header to read)
  tune_buf_t pend[2];     ///< logged, not yet written (tune_loggers_flush)
  size_t header_len;      ///< pend[1] starts with progress.csv's header this long
  int dirty;              ///< on the loggers' dirty list
  csv_columns_t *cols;    ///< NULL until known
  int have_config;
  unsigned config_gen;
  tune_buf_t config_json; ///< the config as JSON
  flat_t config_flat;     ///< "config/a/b" keys and their leaves
  tune_buf_t cells;       ///< each config_flat entry's CSV cell, '\0'-ended
  size_t *cell_at;        ///< where each cell starts in `cells`
} trial_log_t;

static void forget_config(trial_log_t *t) {
  tune_buf_free(&t->config_json);
  flat_free(&t->config_flat);
  tune_buf_free(&t->cells);
  free(t->cell_at);
  t->cell_at = NULL;
  t->have_config = 0;
}

static void close_file(tune_loggers_t *l, trial_log_t *t, int which);

static void trial_log_free(tune_loggers_t *l, trial_log_t *t) {
  if (!t) return;
  for (int i = 0; i < 2; i++) {
    close_file(l, t, i);
    tune_buf_free(&t->pend[i]);
  }
  columns_free(t->cols);
  forget_config(t);
  free(t->logdir);
  free(t);
}

/// The config's texts, made when the trial's config is new.
static void know_config(trial_log_t *t, const tune_log_target_t *tg) {
  if (t->have_config && t->config_gen == tg->config_gen) return;
  forget_config(t);
  t->have_config = 1;
  t->config_gen = tg->config_gen;
  tune_json_write(&t->config_json, tg->config);
  cJSON *wrap = cJSON_CreateObject();
  cJSON_AddItemReferenceToObject(wrap, "config", (cJSON *)tg->config);
  flatten(&t->config_flat, wrap, NULL);
  t->cell_at = tune_xcalloc(t->config_flat.n + 1, sizeof *t->cell_at);
  for (size_t i = 0; i < t->config_flat.n; i++) {
    t->cell_at[i] = t->cells.len;
    csv_value(&t->cells, t->config_flat.vals[i]);
    tune_buf_putc(&t->cells, '\0');
    /* Only the keys and cells are kept: the leaves belong to the config. */
    t->config_flat.vals[i] = NULL;
  }
  cJSON_Delete(wrap);
}

/// The trial's log state for `logdir` (a new one when the directory changed).
static void drop(tune_loggers_t *l, trial_log_t *t);

static trial_log_t *trial_log(tune_loggers_t *l, const char *trial_id, const char *logdir) {
  trial_log_t *t = tune_map_get(&l->trials, trial_id);
  if (t && !strcmp(t->logdir, logdir)) return t;
  drop(l, t);
  t = tune_xcalloc(1, sizeof *t);
  t->logdir = tune_xstrdup(logdir);
  tune_map_put(&l->trials, trial_id, t);
  return t;
}

static const char *const LOG_NAMES[2] = {"result.json", "progress.csv"};

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
      /* There already: its length and header are read once what was
         handed over for it (a trial paused, or forgotten and logging
         again) is on disk. */
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
  t->nonempty[which] = size > 0;
  return 0;
}

/// The trial's file `which` closes after what was handed over for it.
static void close_file(tune_loggers_t *l, trial_log_t *t, int which) {
  if (!t->file[which]) return;
  tune_wb_file_write(l->direct ? NULL : l->writer, t->file[which], NULL, 0, 1);
  t->file[which] = NULL;
}

static void report_failure(tune_loggers_t *l, const char *dir, const char *name, int rc);

/// The journal's pending entries go before any row: a row on disk is
/// never ahead of the decisions about it ("finishing", docs/reliability.md).
/// A failure is the journal's to report (its owner takes `error`).
static void flush_ahead(tune_loggers_t *l) {
  if (l->ahead) tune_wb_append_flush(l->ahead, l->direct);
}

/// Hands what the trial has pending to its files' tasks, and with `close`
/// its files' ends (one task a file). progress.csv goes first: result.json
/// is what a resume reads a trial's last result from (whether it had
/// finished), so a row there is in progress.csv too when the driver dies
/// between the two writes; rows only in progress.csv are cut by the resume
/// with the rest after the trial's checkpoint.
static void flush_trial(tune_loggers_t *l, trial_log_t *t, int close) {
  if (t->dirty) flush_ahead(l);
  for (int which = 1; which >= 0; which--) {
    tune_buf_t *p = &t->pend[which];
    size_t len = p->len;
    l->pending -= len;
    if (t->file[which]) {
      if (len || close)
        tune_wb_file_write(l->direct ? NULL : l->writer, t->file[which], len ? p : NULL,
                           which == 1 ? t->header_len : 0, close);
      if (close) t->file[which] = NULL;
    } else if (len) {
      report_failure(l, t->logdir, LOG_NAMES[which], -EBADF);
      tune_buf_reset(p);
    }
    if (which == 1) t->header_len = 0;
  }
  t->dirty = 0;
}

/// Appends to what the trial's file `which` has pending, opening the file
/// on first use (an open that fails is reported now).
static int log_append(tune_loggers_t *l, trial_log_t *t, int which, const void *data, size_t len) {
  int rc = log_open(l, t, which, 0, -1);
  if (rc < 0) return rc;
  /* A flush hands the buffer over: the next starts with room for several
     rows rather than growing from nothing. */
  if (!t->pend[which].cap) tune_buf_reserve(&t->pend[which], len < 4096 ? 4096 : len);
  tune_buf_append(&t->pend[which], data, len);
  l->pending += len;
  if (!t->dirty) {
    t->dirty = 1;
    if (l->ndirty == l->dirty_cap) {
      l->dirty_cap = l->dirty_cap ? 2 * l->dirty_cap : 16;
      l->dirty = tune_xrealloc(l->dirty, l->dirty_cap * sizeof *l->dirty);
    }
    l->dirty[l->ndirty++] = t;
  }
  return 0;
}

void tune_loggers_flush(tune_loggers_t *l) {
  flush_ahead(l);
  for (size_t i = 0; i < l->ndirty; i++) flush_trial(l, l->dirty[i], 0);
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

/// Writes what a trial has pending, off the dirty list; with `close`, its
/// files close after.
static void settle(tune_loggers_t *l, trial_log_t *t, int close) {
  if (!t) return;
  if (t->dirty) {
    for (size_t i = 0; i < l->ndirty; i++) {
      if (l->dirty[i] == t) {
        l->dirty[i] = l->dirty[--l->ndirty];
        break;
      }
    }
  }
  if (t->dirty || close) flush_trial(l, t, close);
}

/// Writes what a trial has pending, then frees its log state.
static void drop(tune_loggers_t *l, trial_log_t *t) {
  settle(l, t, 1);
  trial_log_free(l, t);
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
  tune_loggers_flush(l);
  free(l->dirty);
  tune_loggers_set_events(l, NULL);
  size_t pos = 0;
  void *v;
  while (tune_map_next(&l->trials, &pos, NULL, &v)) trial_log_free(l, v);
  tune_map_free(&l->trials);
  tune_fsprep_drain(l->writer);
  free(l->last_error);
  tune_buf_free(&l->lines);
  tune_buf_free(&l->events);
  tune_buf_free(&l->one);
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
  if (!t) return;
  settle(l, t, 1);
  /* A finished trial keeps no buffer (10,000 of them would be MBs). */
  for (int i = 0; i < 2; i++) tune_buf_free(&t->pend[i]);
}

void tune_loggers_forget(tune_loggers_t *l, const char *trial_id) {
  drop(l, tune_map_del(&l->trials, trial_id));
}

static void report_failure(tune_loggers_t *l, const char *dir, const char *name, int rc) {
  char *msg = tune_xasprintf("cannot write %s/%s: %s", dir, name, strerror(-rc));
  if (!l->last_error || strcmp(l->last_error, msg)) TUNE_WARN("%s", msg);
  free(l->last_error);
  l->last_error = msg;
}

/* ------------------------------------------------------------------------ */
/* result.json and --events                                                 */
/* ------------------------------------------------------------------------ */

/// result.json lines and `--events` lines, from one encoding of each result.
static void write_json(tune_loggers_t *l, trial_log_t *tl, const tune_log_target_t *t, const cJSON **rs, size_t n) {
  tune_buf_t *lines = &l->lines, *events = &l->events, *one = &l->one;
  tune_buf_reset(lines);
  tune_buf_reset(events);
  for (size_t i = 0; i < n; i++) {
    tune_buf_reset(one);
    tune_json_write(one, rs[i]);
    if (l->json && one->len && one->data[one->len - 1] == '}') {
      /* The result without its closing brace, then its config. */
      tune_buf_append(lines, one->data, one->len - 1);
      tune_buf_puts(lines, rs[i]->child ? ",\"config\":" : "\"config\":");
      tune_buf_append(lines, tl->config_json.data, tl->config_json.len);
      tune_buf_puts(lines, "}\n");
    }
    if (l->event_fd >= 0) {
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
      tune_buf_append(events, one->data, one->len);
      tune_buf_puts(events, "}\n");
    }
  }
  if (lines->len) {
    int rc = log_append(l, tl, 0, lines->data, lines->len);
    if (rc < 0) report_failure(l, t->logdir, "result.json", rc);
  }
  if (events->len) tune_fs_write_all(l->event_fd, events->data, events->len);
}

/* ------------------------------------------------------------------------ */
/* progress.csv                                                             */
/* ------------------------------------------------------------------------ */

/// The columns of the progress.csv open as `fd` (its header line, however
/// long the file), or NULL when it has none yet.
static csv_columns_t *read_header(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size == 0) return NULL;
  tune_buf_t line = TUNE_BUF_INIT;
  char chunk[4096];
  const char *nl = NULL;
  off_t at = 0;
  for (;;) {
    ssize_t got = pread(fd, chunk, sizeof chunk, at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    at += got;
    const char *e = memchr(chunk, '\n', (size_t)got);
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
static void csv_row(trial_log_t *tl, const csv_columns_t *cols, const cJSON *r, tune_buf_t *b) {
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
      while (k < tl->config_flat.n && strcmp(tl->config_flat.keys[k], name)) k++;
      if (k == tl->config_flat.n)
        for (k = 0; k < tl->config_flat.n && strcmp(tl->config_flat.keys[k], name); k++) {}
      if (k < tl->config_flat.n) {
        tune_buf_puts(b, tl->cells.data + tl->cell_at[k]);
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

/// The columns of a first result: its flattened keys, then the config's.
static csv_columns_t *columns_of(trial_log_t *tl, const cJSON *r) {
  flat_t f = {0, 0, NULL, NULL};
  flatten(&f, r, NULL);
  csv_columns_t *cols = tune_xcalloc(1, sizeof *cols);
  cols->n = f.n + tl->config_flat.n;
  cols->names = tune_xcalloc(cols->n ? cols->n : 1, sizeof(char *));
  for (size_t i = 0; i < f.n; i++) cols->names[i] = tune_xstrdup(f.keys[i]);
  for (size_t i = 0; i < tl->config_flat.n; i++) cols->names[f.n + i] = tune_xstrdup(tl->config_flat.keys[i]);
  flat_free(&f);
  return cols;
}

static void write_csv(tune_loggers_t *l, trial_log_t *tl, const tune_log_target_t *t, const cJSON **rs, size_t n) {
  tune_buf_t *b = &l->rows;
  tune_buf_reset(b);
  int header = 0;
  if (!tl->cols) {
    int rc = log_open(l, tl, 1, 0, -1);
    if (rc < 0) {
      report_failure(l, t->logdir, "progress.csv", rc);
      return;
    }
    /* log_open knows whether the file had data: an empty one has no
       header to read. */
    tl->cols = tl->nonempty[1] ? read_header(tune_wb_file_fd(tl->file[1])) : NULL;
    if (!tl->cols) {
      /* The first result fixes the columns (Ray: later keys are ignored). */
      tl->cols = columns_of(tl, rs[0]);
      for (size_t i = 0; i < tl->cols->n; i++) {
        if (i) tune_buf_putc(b, ',');
        tune_csv_field(b, tl->cols->names[i], strlen(tl->cols->names[i]));
      }
      tune_buf_putc(b, '\n');
      header = 1;
    }
  }
  size_t header_len = header ? b->len : 0;
  for (size_t k = 0; k < n; k++) csv_row(tl, tl->cols, rs[k], b);
  int rc = log_append(l, tl, 1, b->data, b->len);
  if (rc < 0) {
    report_failure(l, t->logdir, "progress.csv", rc);
    if (header) {
      /* The header went with the failed open: the next write sends it. */
      columns_free(tl->cols);
      tl->cols = NULL;
    }
  } else if (header) {
    tl->header_len = header_len;
  }
}

/* ------------------------------------------------------------------------ */
/* What the executor calls                                                  */
/* ------------------------------------------------------------------------ */

/// The results to log: the first `n` of the batch, without the duplicate
/// (only ever a batch's last: exec_replies.c).
static size_t pick(cJSON *batch, size_t n, int stopped, const cJSON **out) {
  size_t k = 0, i = 0;
  for (cJSON *r = batch ? batch->child : NULL; r && i < n; r = r->next, i++) {
    if (stopped && i + 1 == n) tune_json_set(r, "done", cJSON_CreateTrue());
    if (!r->next && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "__duplicate__"))) continue;
    out[k++] = r;
  }
  return k;
}

void tune_loggers_write(tune_loggers_t *l, const tune_log_target_t *t, cJSON *batch, size_t n, int stopped) {
  if (!l->json && !l->csv && l->event_fd < 0) return;
  size_t len = (size_t)cJSON_GetArraySize(batch);
  if (n > len) n = len;
  if (n == 0) return;
  const cJSON **rs = tune_xcalloc(n, sizeof *rs);
  size_t k = pick(batch, n, stopped, rs);
  trial_log_t *tl = trial_log(l, t->trial_id, t->logdir);
  know_config(tl, t);
  if (k > 0 && (l->json || l->event_fd >= 0)) write_json(l, tl, t, rs, k);
  if (k > 0 && l->csv) write_csv(l, tl, t, rs, k);
  free(rs);
  if (l->flush_next) {
    /* A save is on its way: its rows are on disk before its checkpoint. */
    l->flush_next = 0;
    tune_loggers_sync(l);
  } else if (l->pending >= TUNE_LOGGERS_FLUSH_BYTES) {
    tune_loggers_flush(l);
  }
}
