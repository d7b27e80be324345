#define _GNU_SOURCE
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"
#include "log.h"

/// Test-only fault injection (docs/architecture.md, "Testing crashes"):
/// TUNE_TEST_FAIL_WRITES=N makes the Nth and later atomic writes fail with
/// ENOSPC, as a full disk would.
static int injected_failure(void) {
  static long budget = -2;
  if (budget == -2) {
    const char *v = getenv("TUNE_TEST_FAIL_WRITES");
    budget = v && *v ? strtol(v, NULL, 10) : -1;
  }
  if (budget < 0) return 0;
  if (budget <= 1) return 1;
  budget--;
  return 0;
}

static int is_dir(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* The leaf first: a directory that exists costs one stat, a new one under
   an existing parent one mkdir; only a missing parent walks up the path. */
int tune_fs_mkdir_p(const char *path) {
  int rc = is_dir(path);
  if (rc != -ENOENT) return rc;
  if (mkdir(path, 0777) == 0) return 0;
  if (errno == EEXIST) return is_dir(path);
  if (errno != ENOENT) return -errno;
  char *p = tune_xstrdup(path);
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  char *slash = strrchr(p, '/');
  if (slash && slash != p) {
    *slash = '\0';
    rc = tune_fs_mkdir_p(p);
  }
  free(p);
  if (rc < 0) return rc;
  if (mkdir(path, 0777) < 0 && errno != EEXIST) return -errno;
  return is_dir(path);
}

int tune_fs_mkdir_new(const char *path) {
  if (mkdir(path, 0777) == 0) return 0;
  if (errno != ENOENT) return -errno;
  char *parent = tune_fs_dirname(path);
  int rc = tune_fs_mkdir_p(parent);
  free(parent);
  if (rc < 0) return rc;
  return mkdir(path, 0777) == 0 ? 0 : -errno;
}

/* All of `len` bytes, or -errno with *done those that went out. */
static int write_counted(int fd, const char *p, size_t len, size_t *done) {
  for (*done = 0; *done < len;) {
    ssize_t n = write(fd, p + *done, len - *done);
    if (n < 0 && errno != EINTR) return -errno;
    if (n > 0) *done += (size_t)n;
  }
  return 0;
}

int tune_fs_write_all(int fd, const void *data, size_t len) {
  size_t done;
  return write_counted(fd, data, len, &done);
}

int tune_fs_append_whole(int fd, const void *data, size_t len) {
  size_t done;
  int rc = write_counted(fd, data, len, &done);
  /* Undo what went out (a disk that filled up): the next append must not
     follow half a line, which resume would refuse. */
  struct stat st;
  if (rc < 0 && done && fstat(fd, &st) == 0 && (size_t)st.st_size >= done && ftruncate(fd, st.st_size - (off_t)done) < 0)
    TUNE_WARN("cannot undo a partial append: %s", strerror(errno));
  return rc;
}

int tune_appendbuf_write(tune_appendbuf_t *a, const char *data, size_t len) {
  int rc = a->fd >= 0 ? tune_fs_append_whole(a->fd, data, len) : -EBADF;
  if (rc < 0) atomic_store(&a->error, rc);
  return rc;
}

int tune_appendbuf_flush(tune_appendbuf_t *a) {
  if (!a->pending.len) return 0;
  int rc = tune_appendbuf_write(a, a->pending.data, a->pending.len);
  tune_buf_reset(&a->pending);
  return rc;
}

char *tune_fs_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return tune_xstrdup(".");
  if (slash == path) return tune_xstrdup("/");
  return tune_xstrndup(path, (size_t)(slash - path));
}

char *tune_fs_join(const char *dir, const char *name) {
  size_t n = strlen(dir);
  if (n && dir[n - 1] == '/') return tune_xasprintf("%s%s", dir, name);
  return tune_xasprintf("%s/%s", dir, name);
}

int tune_fs_sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return rc;
}

struct tune_atomic_file {
  char *path, *tmp;
  int fd, rc;
  size_t len;
  size_t size; /* bytes written so far, buffered or not */
  char *buf;   /* ATOMIC_BUF bytes, on the first buffered write */
};

#define ATOMIC_BUF 65536

tune_atomic_file_t *tune_fs_atomic_open(const char *path, int *rc) {
  if (injected_failure()) {
    *rc = -ENOSPC;
    return NULL;
  }
  tune_atomic_file_t *f = tune_xmalloc(sizeof *f);
  f->path = tune_xstrdup(path);
  f->tmp = tune_xasprintf("%s.tmp-%ld", path, (long)getpid());
  f->rc = 0;
  f->len = 0;
  f->size = 0;
  f->buf = NULL;
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (f->fd < 0) {
    *rc = -errno;
    free(f->path);
    free(f->tmp);
    free(f);
    return NULL;
  }
  *rc = 0;
  return f;
}

static int atomic_flush(tune_atomic_file_t *f) {
  if (f->rc == 0 && f->len) f->rc = tune_fs_write_all(f->fd, f->buf, f->len);
  f->len = 0;
  return f->rc;
}

int tune_fs_atomic_write(tune_atomic_file_t *f, const void *data, size_t len) {
  if (f->rc) return f->rc;
  f->size += len;
  if (f->len + len > ATOMIC_BUF && atomic_flush(f)) return f->rc;
  if (len >= ATOMIC_BUF) {
    f->rc = tune_fs_write_all(f->fd, data, len);
    return f->rc;
  }
  if (!f->buf) f->buf = tune_xmalloc(ATOMIC_BUF);
  memcpy(f->buf + f->len, data, len);
  f->len += len;
  return 0;
}

size_t tune_fs_atomic_size(const tune_atomic_file_t *f) { return f->size; }

int tune_fs_atomic_copy(tune_atomic_file_t *f, const char *src, size_t off, size_t len, size_t src_size) {
  if (f->rc) return f->rc;
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -errno;
  struct stat st;
  int rc = 0;
  if (fstat(in, &st) < 0) rc = -errno;
  else if ((size_t)st.st_size != src_size || off + len > src_size) rc = -ESTALE;
  if (rc == 0 && atomic_flush(f)) rc = f->rc;
  /* In the kernel where it can; read and write where it cannot. Nothing is
     counted as written until all of it is: a short copy fails the file. */
  size_t done = 0;
  loff_t in_off = (loff_t)off;
  while (rc == 0 && done < len) {
    ssize_t n = copy_file_range(in, &in_off, f->fd, NULL, len - done, 0);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n == 0) rc = -ESTALE;
    else if (errno == EINTR) continue;
    else if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) break;
    else rc = -errno;
  }
  if (rc == 0 && done < len) {
    /* The file's own buffer, empty after the flush above, carries it. */
    if (!f->buf) f->buf = tune_xmalloc(ATOMIC_BUF);
    while (rc == 0 && done < len) {
      size_t want = len - done < ATOMIC_BUF ? len - done : ATOMIC_BUF;
      ssize_t n = pread(in, f->buf, want, (off_t)(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) rc = n < 0 ? -errno : -ESTALE;
      else if ((rc = tune_fs_write_all(f->fd, f->buf, (size_t)n)) == 0) done += (size_t)n;
    }
  }
  close(in);
  if (rc == 0) f->size += len;
  /* A copy that failed after writing some of it leaves the file torn. */
  else if (done > 0) f->rc = rc;
  return rc;
}

static void atomic_free(tune_atomic_file_t *f) {
  free(f->buf);
  free(f->path);
  free(f->tmp);
  free(f);
}

void tune_fs_atomic_abort(tune_atomic_file_t *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  unlink(f->tmp);
  atomic_free(f);
}

int tune_fs_atomic_commit(tune_atomic_file_t *f, int sync) {
  int rc = atomic_flush(f);
  if (rc == 0 && sync && fsync(f->fd) < 0) rc = -errno;
  if (close(f->fd) < 0 && rc == 0) rc = -errno;
  f->fd = -1;
  if (rc == 0 && rename(f->tmp, f->path) < 0) rc = -errno;
  if (rc < 0) {
    tune_fs_atomic_abort(f);
    return rc;
  }
  if (sync) {
    char *dir = tune_fs_dirname(f->path);
    rc = tune_fs_sync_dir(dir);
    free(dir);
  }
  atomic_free(f);
  return rc;
}

static int write_via_tmp(const char *path, const void *data, size_t len, int sync) {
  int rc;
  tune_atomic_file_t *f = tune_fs_atomic_open(path, &rc);
  if (!f) return rc;
  f->rc = tune_fs_write_all(f->fd, data, len);
  return tune_fs_atomic_commit(f, sync);
}

int tune_fs_write_atomic(const char *path, const void *data, size_t len) {
  return write_via_tmp(path, data, len, 1);
}

int tune_fs_write_replace(const char *path, const void *data, size_t len) {
  return write_via_tmp(path, data, len, 0);
}

/* One open, write, (fdatasync,) close of `path` with `flags`. */
static int write_once(const char *path, int flags, const void *data, size_t len, int sync) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0666);
  if (fd < 0) return -errno;
  int rc = tune_fs_write_all(fd, data, len);
  if (rc == 0 && sync && fdatasync(fd) < 0) rc = -errno;
  if (close(fd) < 0 && rc == 0) rc = -errno;
  return rc;
}

int tune_fs_append(const char *path, const void *data, size_t len, int sync) {
  return write_once(path, O_APPEND, data, len, sync);
}

int tune_fs_write_file(const char *path, const void *data, size_t len) {
  return write_once(path, O_TRUNC, data, len, 0);
}

int tune_fs_read(const char *path, size_t max, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  tune_buf_t b = TUNE_BUF_INIT;
  int rc = 0;
  for (;;) {
    tune_buf_reserve(&b, 65536);
    ssize_t n = read(fd, b.data + b.len, 65536);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (n == 0) break;
    b.len += (size_t)n;
    b.data[b.len] = '\0';
    if (b.len > max) {
      rc = -EFBIG;
      break;
    }
  }
  close(fd);
  if (rc < 0) {
    tune_buf_free(&b);
    return rc;
  }
  *len = b.len;
  *out = tune_buf_steal(&b);
  return 0;
}

/// Walks `dir` depth-first; calls `fn` on every entry after its children.
static int walk(const char *dir, int (*fn)(const char *path, int is_dir)) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -errno;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *child = tune_fs_join(dir, e->d_name);
    struct stat st;
    if (lstat(child, &st) < 0) {
      rc = errno == ENOENT ? 0 : -errno;
    } else if (S_ISDIR(st.st_mode)) {
      rc = walk(child, fn);
      if (rc == 0) rc = fn(child, 1);
    } else {
      rc = fn(child, 0);
    }
    free(child);
  }
  closedir(d);
  return rc;
}

static int sync_one(const char *path, int is_dir) {
  if (is_dir) return tune_fs_sync_dir(path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ELOOP ? 0 : -errno;
  int rc = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return rc;
}

int tune_fs_sync_tree(const char *dir) {
  int rc = walk(dir, sync_one);
  if (rc == 0) rc = tune_fs_sync_dir(dir);
  return rc;
}

static int remove_one(const char *path, int is_dir) {
  if ((is_dir ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT) return -errno;
  return 0;
}

int tune_fs_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -errno;
  if (!S_ISDIR(st.st_mode)) return remove_one(path, 0);
  int rc = walk(path, remove_one);
  if (rc == 0) rc = remove_one(path, 1);
  return rc;
}

int tune_fs_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

int tune_fs_commit_dir(const char *tmp, const char *final) {
  if (injected_failure()) return -ENOSPC;
  int rc = 0;
  if (rename(tmp, final) < 0) {
    if (errno != ENOTEMPTY && errno != EEXIST) return -errno;
    /* `final` exists: swap atomically, then remove the old tree (now at tmp). */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) < 0) return -errno;
    rc = tune_fs_remove_tree(tmp);
  }
  char *dir = tune_fs_dirname(final);
  int rc2 = tune_fs_sync_dir(dir);
  free(dir);
  return rc ? rc : rc2;
}
