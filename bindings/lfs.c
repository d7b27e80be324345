/// Files for Lua: directories, atomic writes (whole or in pieces), appends (one-shot and through
/// a handle kept open), reads, listings, removal.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsprep.h"
#include "writebehind.h"
#include "fsutil.h"
#include "lbind.h"

static int l_mkdir_p(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  int rc = tune_fs_mkdir_p(p);
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.mkdir_new(path): true when it made the directory (and any missing
/// parent); false, "exists" when something was at `path` already; nil and
/// a message otherwise. One mkdir(2) in the common case.
static int l_mkdir_new(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  int rc = tune_fs_mkdir_new(p);
  if (rc == -EEXIST) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "exists");
    return 2;
  }
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.write_atomic(path, data [, sync]): through a temporary name and a
/// rename; with sync (the default) fsynced, file and directory.
static int l_write_atomic(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int sync = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  int rc = sync ? tune_fs_write_atomic(p, data, len) : tune_fs_write_replace(p, data, len);
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.append(path, data [, sync]): one write(2) with O_APPEND.
static int l_append(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int rc = tune_fs_append(p, data, len, lua_toboolean(L, 3));
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.write_file(path, data) -> true | nil, err: the whole file, in place.
static int l_write_file(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int rc = tune_fs_write_file(p, data, len);
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_read_file(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  char *data;
  size_t len;
  int rc = tune_fs_read(p, (size_t)luaL_optinteger(L, 2, 1 << 30), &data, &len);
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushlstring(L, data, len);
  free(data);
  return 1;
}

/// core.listdir(path) -> sorted array of names (without . and ..)
static int l_listdir(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  DIR *d = opendir(p);
  if (!d) return tune_lua_fail(L, p, -errno);
  lua_newtable(L);
  int i = 1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, i++);
  }
  closedir(d);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 1;
}

/// core.stat(path) -> "file" | "directory" | "other", size | nil
static int l_stat(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st) < 0) return 0;
  lua_pushstring(L, S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode) ? "file" : "other");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_pushnumber(L, (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9);
  return 3;
}

static int l_remove_tree(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  int rc = tune_fs_remove_tree(p);
  if (rc < 0) return tune_lua_fail(L, p, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_rename(lua_State *L) {
  const char *a = luaL_checkstring(L, 1), *b = luaL_checkstring(L, 2);
  if (rename(a, b) < 0) return tune_lua_fail(L, a, -errno);
  lua_pushboolean(L, 1);
  return 1;
}

/// core.executable(path): true when path is a file this process may run
/// (execvp's test: a regular file with access(X_OK)).
static int l_executable(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  struct stat st;
  lua_pushboolean(L, stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0);
  return 1;
}

/// core.writable(dir): true when this process may create files in dir
/// (access(W_OK|X_OK)); nil, message otherwise.
/* core.writable(dir) -> true | nil, message: a directory files can be
   made in, with room for them (a file system with less than 64 KiB or no
   inode left is full for an experiment's first snapshot). */
static int l_writable(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  if (access(p, W_OK | X_OK) < 0) return tune_lua_fail(L, p, -errno);
  struct statvfs v;
  /* Only a file system that reports its size (f_blocks; not /proc or
     some FUSE ones, which say 0 of 0) is judged by it. */
  if (statvfs(p, &v) == 0 && v.f_blocks &&
      ((unsigned long long)v.f_bavail * v.f_frsize < 65536ull || (v.f_files && !v.f_favail)))
    return tune_lua_fail(L, p, -ENOSPC);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_realpath(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  char buf[PATH_MAX];
  if (!realpath(p, buf)) return tune_lua_fail(L, p, -errno);
  lua_pushstring(L, buf);
  return 1;
}


/* core.open_append(path [, buffered]) -> handle: a file opened once for
   appending (the experiment journal). Unbuffered, each handle:write(data
   [, sync]) is one write(2). Buffered, writes wait in memory until
   handle:flush(), a synced write, close, 64 KiB pending, or an executor
   given the handle (ex:set_journal) writing rows or going idle: then one
   write(2) takes them all. A failed flush the handle did not report is
   reported by the next write or flush. */

#define APPEND_MT "tune.AppendFile"

typedef struct {
  tune_appendbuf_t ab;
  int buffered;
} append_file_t;

#define APPEND_MAX_PENDING (64u * 1024u)

static append_file_t *check_append(lua_State *L) { return luaL_checkudata(L, 1, APPEND_MT); }

tune_appendbuf_t *tune_lfs_check_append(lua_State *L, int idx) {
  append_file_t *f = luaL_checkudata(L, idx, APPEND_MT);
  return &f->ab;
}

static int l_open_append(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  append_file_t *f = lua_newuserdatauv(L, sizeof *f, 0);
  memset(f, 0, sizeof *f);
  f->ab.fd = -1;
  f->buffered = lua_toboolean(L, 2);
  luaL_setmetatable(L, APPEND_MT);
  f->ab.fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (f->ab.fd < 0) return tune_lua_fail(L, p, -errno);
  return 1;
}

/// A flush error not yet reported, taken (0 if none).
static int take_error(append_file_t *f) { return atomic_exchange(&f->ab.error, 0); }

/// Writes what is pending now (through the writer, waited for, when the
/// handle has one); its error is reported by the caller, not kept for
/// later.
static int flush_now(append_file_t *f) {
  if (f->ab.writer) {
    tune_wb_append_flush(&f->ab, 0);
    tune_fsprep_drain(f->ab.writer);
    return take_error(f);
  }
  int rc = tune_appendbuf_flush(&f->ab);
  f->ab.error = 0;
  return rc;
}

static int l_append_write(lua_State *L) {
  append_file_t *f = check_append(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int sync = lua_toboolean(L, 3);
  if (f->ab.fd < 0) return luaL_error(L, "write to a closed append handle");
  int rc = take_error(f);
  if (f->buffered && !sync) {
    /* Queued even after an earlier flush failed (reported now). */
    tune_buf_append(&f->ab.pending, data, len);
    if (rc == 0 && f->ab.pending.len >= APPEND_MAX_PENDING) {
      /* Behind the driver with a writer (its failure reported later). */
      if (f->ab.writer) tune_wb_append_flush(&f->ab, 0);
      else rc = flush_now(f);
    }
  } else if (rc == 0 && (rc = flush_now(f)) == 0) {
    rc = tune_fs_append_whole(f->ab.fd, data, len);
    if (rc == 0 && sync && fdatasync(f->ab.fd) < 0) rc = -errno;
  }
  if (rc < 0) return tune_lua_fail(L, "append", rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_append_flush(lua_State *L) {
  append_file_t *f = check_append(L);
  int rc = take_error(f);
  if (rc == 0) rc = flush_now(f);
  if (rc < 0) return tune_lua_fail(L, "append", rc);
  lua_pushboolean(L, 1);
  return 1;
}

/// Writes what is pending and closes (also __gc and __close); a closed
/// handle stays safe to flush (an executor may still hold it).
static int l_append_close(lua_State *L) {
  append_file_t *f = check_append(L);
  if (f->ab.fd >= 0) {
    tune_wb_append_flush(&f->ab, 0);
    tune_fsprep_drain(f->ab.writer);
    close(f->ab.fd);
  }
  f->ab.fd = -1;
  tune_buf_free(&f->ab.pending);
  tune_fsprep_free(f->ab.writer);
  f->ab.writer = NULL;
  return 0;
}

static const luaL_Reg append_methods[] = {
    {"write", l_append_write},
    {"flush", l_append_flush},
    {"close", l_append_close},
    {NULL, NULL},
};

/* core.open_atomic(path) -> handle: a file written atomically in pieces
   (handle:write(data) as many times as needed, then handle:commit([sync])
   makes it appear at `path`, fsynced unless sync is false). Until then,
   and after handle:abort() or collection, nothing appears at `path`.
   handle:size() is the bytes written so far; handle:copy(src, offset,
   len, src_size) appends part of another file (an earlier snapshot).
   handle:commit_async([remove]) -> job: the synced commit (and then the
   removal of `remove`) on the directory thread, the handle done at once;
   job:wait() -> true | nil, message, errno. */
#define ATOMIC_MT "tune.AtomicFile"

typedef struct {
  tune_atomic_file_t *f;
} atomic_handle_t;

static int l_open_atomic(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  atomic_handle_t *h = lua_newuserdatauv(L, sizeof *h, 1);
  h->f = NULL;
  luaL_setmetatable(L, ATOMIC_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  int rc;
  h->f = tune_fs_atomic_open(p, &rc);
  if (!h->f) return tune_lua_fail(L, p, rc);
  return 1;
}

static atomic_handle_t *check_atomic(lua_State *L) {
  atomic_handle_t *h = luaL_checkudata(L, 1, ATOMIC_MT);
  if (!h->f) luaL_error(L, "the atomic file was already committed or aborted");
  return h;
}

static int l_atomic_write(lua_State *L) {
  atomic_handle_t *h = check_atomic(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  tune_fs_atomic_write(h->f, data, len);
  lua_settop(L, 1);
  return 1;
}

static int l_atomic_size(lua_State *L) {
  atomic_handle_t *h = check_atomic(L);
  lua_pushinteger(L, (lua_Integer)tune_fs_atomic_size(h->f));
  return 1;
}

/* handle:copy(src, offset, len, src_size) -> true | nil, message, errno:
   appends a part of the file `src`, which must have src_size bytes. */
static int l_atomic_copy(lua_State *L) {
  atomic_handle_t *h = check_atomic(L);
  const char *src = luaL_checkstring(L, 2);
  lua_Integer off = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4), size = luaL_checkinteger(L, 5);
  luaL_argcheck(L, off >= 0 && len >= 0 && size >= 0, 3, "offsets must not be negative");
  int rc = tune_fs_atomic_copy(h->f, src, (size_t)off, (size_t)len, (size_t)size);
  if (rc < 0) return tune_lua_fail(L, src, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_atomic_commit(lua_State *L) {
  atomic_handle_t *h = check_atomic(L);
  int sync = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  int rc = tune_fs_atomic_commit(h->f, sync);
  h->f = NULL;
  lua_getiuservalue(L, 1, 1);
  if (rc < 0) return tune_lua_fail(L, lua_tostring(L, -1), rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_atomic_commit_async(lua_State *L);

static int l_atomic_abort(lua_State *L) {
  atomic_handle_t *h = luaL_checkudata(L, 1, ATOMIC_MT);
  tune_fs_atomic_abort(h->f);
  h->f = NULL;
  return 0;
}

static const luaL_Reg atomic_methods[] = {
    {"write", l_atomic_write},
    {"size", l_atomic_size},
    {"copy", l_atomic_copy},
    {"commit", l_atomic_commit},
    {"commit_async", l_atomic_commit_async},
    {"abort", l_atomic_abort},
    {NULL, NULL},
};

/* core.prepare_dir(dir, params_json[, lazy]) -> job: makes `dir` (its
   parent must exist) with params.json and empty result.json and
   progress.csv on a thread of its own (engine/fsprep.h; `lazy`: not needed
   soon, the thread is woken for a batch of such jobs); job:wait() -> true,
   or nil, a message, the errno and whether the directory was there
   already. The thread is the Lua state's (stopped when the state closes). */
#define PREP_MT "tune.PrepareDir"
#define PREP_SERVICE_MT "tune.PrepareDirService"
#define PREP_SERVICE_KEY "tune.prepare_dir.service"

typedef struct {
  tune_fsprep_job_t *job;
} prep_handle_t;

typedef struct {
  tune_fsprep_t *svc;
} prep_service_t;

static int l_prep_service_gc(lua_State *L) {
  prep_service_t *ps = luaL_checkudata(L, 1, PREP_SERVICE_MT);
  tune_fsprep_free(ps->svc);
  ps->svc = NULL;
  return 0;
}

tune_fsprep_t *tune_lfs_prep_service(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, PREP_SERVICE_KEY) == LUA_TUSERDATA) {
    prep_service_t *ps = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ps->svc;
  }
  lua_pop(L, 1);
  prep_service_t *ps = lua_newuserdatauv(L, sizeof *ps, 0);
  ps->svc = NULL;
  luaL_setmetatable(L, PREP_SERVICE_MT);
  ps->svc = tune_fsprep_new();
  if (!ps->svc) luaL_error(L, "cannot start the directory thread: out of memory");
  lua_setfield(L, LUA_REGISTRYINDEX, PREP_SERVICE_KEY);
  return ps->svc;
}

static int l_prepare_dir(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  size_t len;
  const char *params = luaL_checklstring(L, 2, &len);
  tune_fsprep_t *svc = tune_lfs_prep_service(L);
  prep_handle_t *h = lua_newuserdatauv(L, sizeof *h, 1);
  h->job = NULL;
  luaL_setmetatable(L, PREP_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  h->job = tune_fsprep_submit(svc, dir, params, len, lua_toboolean(L, 3));
  if (!h->job) return tune_lua_fail(L, dir, -EAGAIN);
  return 1;
}

static int l_prep_wait(lua_State *L) {
  prep_handle_t *h = luaL_checkudata(L, 1, PREP_MT);
  if (!h->job) return luaL_error(L, "the directory job was already released");
  int rc = tune_fsprep_wait(h->job);
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_getiuservalue(L, 1, 1);
  int n = tune_lua_fail(L, lua_tostring(L, -1), rc);
  lua_pushboolean(L, rc == -EEXIST);
  return n + 1;
}

int tune_lfs_take_prep_fds(lua_State *L, int idx, int fds[2]) {
  prep_handle_t *h = luaL_testudata(L, idx, PREP_MT);
  fds[0] = fds[1] = -1;
  return h && h->job ? tune_fsprep_take_fds(h->job, fds) : -1;
}

static int l_atomic_commit_async(lua_State *L) {
  atomic_handle_t *h = check_atomic(L);
  const char *remove = luaL_optstring(L, 2, NULL);
  tune_fsprep_t *svc = tune_lfs_prep_service(L);
  prep_handle_t *j = lua_newuserdatauv(L, sizeof *j, 1);
  j->job = NULL;
  luaL_setmetatable(L, PREP_MT);
  lua_getiuservalue(L, 1, 1);
  lua_setiuservalue(L, -2, 1);
  j->job = tune_fsprep_commit(svc, h->f, remove);
  if (!j->job) {
    lua_getiuservalue(L, 1, 1);
    return tune_lua_fail(L, lua_tostring(L, -1), -EAGAIN);
  }
  h->f = NULL;
  return 1;
}

static int l_prep_gc(lua_State *L) {
  prep_handle_t *h = luaL_checkudata(L, 1, PREP_MT);
  tune_fsprep_release(h->job);
  h->job = NULL;
  return 0;
}

static const luaL_Reg prep_methods[] = {
    {"wait", l_prep_wait},
    {NULL, NULL},
};

/* core.lock_dir(dir) -> handle | nil, "in use": an exclusive flock(2) on
   the directory, held until handle:unlock() (also __gc and __close) or
   the process ends (kill -9 included): one driver per experiment. Where
   the file system cannot lock a directory (NFS emulates flock with a
   write lock, which a directory opened read-only cannot take; Lustre
   without -o flock), the handle holds nothing and the run goes on. */
#define LOCK_MT "tune.DirLock"

static int l_lock_dir(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  int *h = lua_newuserdatauv(L, sizeof *h, 0);
  *h = -1;
  luaL_setmetatable(L, LOCK_MT);
  *h = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*h >= 0 && flock(*h, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(*h);
    *h = -1;
    if (e == EWOULDBLOCK) {
      lua_pushnil(L);
      lua_pushstring(L, "in use");
      return 2;
    }
  }
  return 1;
}

static int l_unlock_dir(lua_State *L) {
  int *h = luaL_checkudata(L, 1, LOCK_MT);
  if (*h >= 0) close(*h);
  *h = -1;
  return 0;
}

static const luaL_Reg lock_methods[] = {
    {"unlock", l_unlock_dir},
    {NULL, NULL},
};

static const luaL_Reg no_methods[] = {{NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"mkdir_p", l_mkdir_p},
    {"mkdir_new", l_mkdir_new},
    {"prepare_dir", l_prepare_dir},
    {"write_atomic", l_write_atomic},
    {"append", l_append},
    {"write_file", l_write_file},
    {"open_append", l_open_append},
    {"open_atomic", l_open_atomic},
    {"read_file", l_read_file},
    {"listdir", l_listdir},
    {"stat", l_stat},
    {"executable", l_executable},
    {"remove_tree", l_remove_tree},
    {"rename", l_rename},
    {"realpath", l_realpath},
    {"writable", l_writable},
    {"lock_dir", l_lock_dir},
    {NULL, NULL},
};

void tune_lfs_register(lua_State *L) {
  tune_lua_class(L, APPEND_MT, append_methods, l_append_close, l_append_close);
  tune_lua_class(L, ATOMIC_MT, atomic_methods, l_atomic_abort, l_atomic_abort);
  tune_lua_class(L, PREP_MT, prep_methods, l_prep_gc, NULL);
  tune_lua_class(L, PREP_SERVICE_MT, no_methods, l_prep_service_gc, NULL);
  tune_lua_class(L, LOCK_MT, lock_methods, l_unlock_dir, l_unlock_dir);
  luaL_setfuncs(L, funcs, 0);
}
