/// File-system helpers for everything resume depends on: directories
/// created recursively, files written atomically (temporary name, fsync,
/// rename, fsync of the parent), appends with write(2), directory trees
/// synced or removed. All return 0 or a negative errno and set nothing else.
#ifndef TUNE_FSUTIL_H
#define TUNE_FSUTIL_H

#include <stdatomic.h>
#include <stddef.h>

#include "buf.h"

/// write(2) until all of `data` is written (retrying EINTR). 0 or -errno.
int tune_fs_write_all(int fd, const void *data, size_t len);
/// Like tune_fs_write_all on a file opened O_APPEND by one writer, but a
/// write that fails part-way is undone (ftruncate): 0, or -errno with the
/// file as it was.
int tune_fs_append_whole(int fd, const void *data, size_t len);
/// mkdir -p with mode 0777 (umask applies).
int tune_fs_mkdir_p(const char *path);
/// Creates the directory `path` (and missing parents): 0 when it made it,
/// -EEXIST when something was there already, or another negative errno.
int tune_fs_mkdir_new(const char *path);
/// Write `len` bytes to `path` atomically: `path.tmp-<pid>`, fsync, rename,
/// fsync of the directory. The old file survives any crash before rename.
int tune_fs_write_atomic(const char *path, const void *data, size_t len);
/// Like tune_fs_write_atomic without the fsyncs: a reader sees the old file
/// or the new one, never a torn one, but a machine crash may lose it. For
/// files nothing durable depends on, or that a later sync covers (a file
/// inside a checkpoint directory, synced when the checkpoint is committed).
int tune_fs_write_replace(const char *path, const void *data, size_t len);
/// A file written atomically in pieces: `path.tmp-<pid>` is written as
/// the pieces come (through a 64 KiB buffer), and commit makes it appear
/// at `path` as tune_fs_write_atomic does. Nothing appears at `path` until
/// commit; abort (or a failed commit) removes the temporary file.
typedef struct tune_atomic_file tune_atomic_file_t;
/// NULL and *rc (a negative errno) when the temporary file cannot be made.
tune_atomic_file_t *tune_fs_atomic_open(const char *path, int *rc);
/// Appends a piece; the first error is kept and returned again by commit.
int tune_fs_atomic_write(tune_atomic_file_t *f, const void *data, size_t len);
/// Bytes written so far (the offset the next piece starts at).
size_t tune_fs_atomic_size(const tune_atomic_file_t *f);
/// Appends `len` bytes of the file `src` from offset `off` (a part of an
/// earlier snapshot), checking first that `src` still has `src_size`
/// bytes. 0; -ESTALE when `src` is not the file expected; another
/// negative errno. A copy that fails before writing anything leaves `f`
/// as it was (the caller writes the piece another way); one that fails
/// after fails the file.
int tune_fs_atomic_copy(tune_atomic_file_t *f, const char *src, size_t off, size_t len, size_t src_size);
/// Flush, fsync (with `sync`), rename, fsync of the directory; frees `f`.
int tune_fs_atomic_commit(tune_atomic_file_t *f, int sync);
/// Closes and removes the temporary file; frees `f`. NULL is a no-op.
void tune_fs_atomic_abort(tune_atomic_file_t *f);
/// Append with one write(2) per call (O_APPEND); creates the file.
/// With `sync`, fdatasync before closing.
int tune_fs_append(const char *path, const void *data, size_t len, int sync);
/// A file appended to through memory (the experiment journal): appends
/// wait in `pending` until tune_appendbuf_flush writes them with one
/// write(2). Whoever writes files that must not get ahead of it flushes it
/// first (the result loggers, tune_loggers_t.ahead).
typedef struct {
  int fd;              ///< O_APPEND, or -1 when closed
  tune_buf_t pending;  ///< appended, not yet written
  atomic_int error;    ///< the last failed flush's -errno, until taken (0)
  /// When set (held: tune_fsprep_retain), flushes are written behind by
  /// this service's thread (tune_wb_append_flush); the handle's owner
  /// drains it before closing `fd` or reading `error` for a flush it asked
  /// for.
  struct tune_fsprep *writer;
} tune_appendbuf_t;
/// Writes what is pending. 0, or -errno (also kept in `error`); what could
/// not be written is dropped, as a failed append of it would have been.
int tune_appendbuf_flush(tune_appendbuf_t *a);
/// Writes `len` bytes of `data` to the handle's file (not its pending
/// ones): tune_appendbuf_flush's write, for a writer that took them. 0, or
/// -errno (also kept in `error`).
int tune_appendbuf_write(tune_appendbuf_t *a, const char *data, size_t len);
/// Writes a whole file in place (created or truncated; not synced).
int tune_fs_write_file(const char *path, const void *data, size_t len);
/// Read a whole file. Caller owns *out (free). Fails with -EFBIG beyond max.
int tune_fs_read(const char *path, size_t max, char **out, size_t *len);
/// fsync every regular file below `dir`, then every directory, bottom up.
int tune_fs_sync_tree(const char *dir);
/// fsync a directory (so a rename inside it is durable).
int tune_fs_sync_dir(const char *dir);
/// rm -rf. Missing paths are not an error.
int tune_fs_remove_tree(const char *path);
/// Atomically make `tmp` appear at `final`: a plain rename when `final` does
/// not exist, an exchange (renameat2 RENAME_EXCHANGE) followed by removal of
/// the old tree when it does. Then fsync the parent.
int tune_fs_commit_dir(const char *tmp, const char *final);
/// 1 when `path` exists, 0 otherwise.
int tune_fs_exists(const char *path);
/// Parent directory of `path` in a fresh string. Caller owns the result.
char *tune_fs_dirname(const char *path);
/// Path joined with a name, in a fresh string. Caller owns the result.
char *tune_fs_join(const char *dir, const char *name);

#endif
