#include "writebehind.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fsprep.h"
#include "log.h"

/// Files handed their close and not closed yet, over all services: held
/// within the limit on files kept open ahead (tune_fsprep_max_kept), so
/// that a driver under a small `ulimit -n` keeps its descriptors.
static atomic_int closing;

/// The fields after `fd` are the tasks' only.
struct tune_wb_file {
  int fd;
  char *path;           ///< for warnings
  off_t size;           ///< the file's length after the last whole write
  tune_buf_t header;    ///< a header whose write failed: sent with the next rows
  int warned;           ///< the failure last warned about (-errno), or 0
};

tune_wb_file_t *tune_wb_file_new(int fd, char *path, off_t size) {
  tune_wb_file_t *f = tune_xcalloc(1, sizeof *f);
  f->fd = fd;
  f->path = path;
  f->size = size;
  return f;
}

int tune_wb_file_fd(const tune_wb_file_t *f) { return f->fd; }

const char *tune_wb_file_path(const tune_wb_file_t *f) { return f->path; }

/// Appends to the file. A write that fails part-way (a full disk) is
/// undone, so the file never keeps a torn line for the next write to land
/// on. 0 or -errno.
static int file_append(tune_wb_file_t *f, const char *data, size_t len) {
  int rc;
  /* Test-only (docs/architecture.md, "Testing crashes"): the Nth append
     writes half its bytes and fails with ENOSPC, as a full disk does; or
     the driver is killed (SIGKILL) just before its Nth append. */
  static long torn_at = -2, crash_at = -2;
  if (torn_at == -2) {
    const char *v = getenv("TUNE_TEST_TORN_LOG_WRITE");
    torn_at = v && *v ? strtol(v, NULL, 10) : -1;
    v = getenv("TUNE_TEST_CRASH_AT_LOG_WRITE");
    crash_at = v && *v ? strtol(v, NULL, 10) : -1;
  }
  if (crash_at > 0 && --crash_at == 0) raise(SIGKILL);
  if (torn_at > 0 && --torn_at == 0) {
    rc = tune_fs_write_all(f->fd, data, len / 2);
    if (rc == 0) rc = -ENOSPC;
  } else {
    rc = tune_fs_write_all(f->fd, data, len);
  }
  if (rc < 0) {
    if (ftruncate(f->fd, f->size) < 0) TUNE_WARN("cannot undo a partial write to %s", f->path);
    return rc;
  }
  f->size += (off_t)len;
  return 0;
}

off_t tune_wb_file_size(const tune_wb_file_t *f) { return f->size; }

int tune_wb_file_header_pending(const tune_wb_file_t *f) { return f->header.len > 0; }

/// A failed write loses what it held (as a failed write of one batch
/// did), but a header among it is sent again with the next rows, so that
/// progress.csv's first line stays its header.
int tune_wb_file_put(tune_wb_file_t *f, const char *data, size_t len, size_t header_len) {
  if (!len) return 0;
  tune_buf_t all = TUNE_BUF_INIT;
  size_t lost = f->header.len;
  if (lost && !header_len) {
    tune_buf_append(&all, f->header.data, lost);
    tune_buf_append(&all, data, len);
    data = all.data;
    len = all.len;
    header_len = lost;
  }
  int rc = file_append(f, data, len);
  if (rc < 0) {
    if (rc != f->warned) TUNE_WARN("cannot write %s: %s", f->path, strerror(-rc));
    f->warned = rc;
    if (header_len && !f->header.len) tune_buf_append(&f->header, data, header_len);
  } else {
    f->warned = 0;
    tune_buf_free(&f->header);
  }
  tune_buf_free(&all);
  return rc;
}

void tune_wb_file_undo(tune_wb_file_t *f, off_t size) {
  if (size >= f->size) return;
  if (ftruncate(f->fd, size) < 0) {
    TUNE_WARN("cannot undo a write to %s: %s", f->path, strerror(errno));
    return;
  }
  f->size = size;
}

void tune_wb_file_end(tune_wb_file_t *f) {
  close(f->fd);
  atomic_fetch_sub(&closing, 1);
  tune_buf_free(&f->header);
  free(f->path);
  free(f);
}

void tune_wb_task(struct tune_fsprep *w, tune_fsprep_task_t *task, int ends) {
  if (ends) atomic_fetch_add(&closing, ends);
  tune_fsprep_task(w, task);
  if (ends && w) {
    /* Past the limit the thread is waited for; past half of it, woken. */
    int max = tune_fsprep_max_kept(), n = atomic_load(&closing);
    if (n > (max > 0 ? max : 0)) tune_fsprep_drain(w);
    else if (2 * n > max) tune_fsprep_kick(w);
  }
}

/// A flush of an appendbuf's pending bytes, written by the thread.
typedef struct {
  tune_fsprep_task_t task;
  tune_appendbuf_t *a; /* drained by its owner before it goes */
  tune_buf_t data;
} append_task_t;

static void run_append(tune_fsprep_task_t *t) {
  append_task_t *at = (append_task_t *)t;
  (void)tune_appendbuf_write(at->a, at->data.data, at->data.len);
  tune_buf_free(&at->data);
  free(at);
}

void tune_wb_append_flush(tune_appendbuf_t *a, int now) {
  if (!a->writer || now) {
    tune_appendbuf_flush(a);
    return;
  }
  if (!a->pending.len) return;
  append_task_t *at = tune_xmalloc(sizeof *at);
  at->task.run = run_append;
  at->a = a;
  at->data = a->pending; /* taken: the handle starts a new buffer */
  a->pending = (tune_buf_t)TUNE_BUF_INIT;
  tune_fsprep_task(a->writer, &at->task);
}
