/// Writes made behind the driver: a trial's log file appended to and
/// closed, and the journal's grouped entries flushed, each as an ordered
/// task of a directory-thread service (engine/fsprep.h). The tasks run in
/// the order they were handed over, on the service's thread, or at once
/// when there is no service; what was handed over is on disk once the
/// service is drained (tune_fsprep_drain).
#ifndef TUNE_WRITEBEHIND_H
#define TUNE_WRITEBEHIND_H

#include <sys/types.h>

#include "buf.h"
#include "fsutil.h"

struct tune_fsprep;
struct tune_fsprep_task;

/// An open log file (result.json, progress.csv). Its owner's tasks write
/// to it and, once, close it (which frees it).
typedef struct tune_wb_file tune_wb_file_t;

/// Takes `fd` (open for appending) and `path` (allocated; for warnings);
/// `size` is the file's length now.
tune_wb_file_t *tune_wb_file_new(int fd, char *path, off_t size);
/// The rest is for tasks (tune_wb_task), in the order they are handed over.
/// The descriptor, for reading the file back.
int tune_wb_file_fd(const tune_wb_file_t *f);
/// Its path.
const char *tune_wb_file_path(const tune_wb_file_t *f);
/// Appends `len` bytes of `data`. `header_len`: data starts with
/// progress.csv's header this long. A failed append is undone (the file
/// cut back to its length before it) and warned about once per file and
/// error; a header it carried is sent again with the file's next data.
int tune_wb_file_put(tune_wb_file_t *f, const char *data, size_t len, size_t header_len);
/// Cuts the file back to `size` (what it was before a write whose
/// companion failed). A progress.csv cut to nothing gets its header again
/// with its next rows.
void tune_wb_file_undo(tune_wb_file_t *f, off_t size);
/// The file's length after what was put so far.
off_t tune_wb_file_size(const tune_wb_file_t *f);
/// True while a header a failed write held waits to be sent again.
int tune_wb_file_header_pending(const tune_wb_file_t *f);
/// Closes the file and frees `f`.
void tune_wb_file_end(tune_wb_file_t *f);
/// Hands `task` to the writer `w` (tune_fsprep_task; NULL: run at once); it
/// ends `ends` files (tune_wb_file_end). The files handed their end and
/// not yet closed are kept within tune_fsprep_max_kept() (the service is
/// drained past it).
void tune_wb_task(struct tune_fsprep *w, struct tune_fsprep_task *task, int ends);
/// tune_appendbuf_flush through the appendbuf's `writer` when it has one
/// (and not `now`): its pending bytes are taken and written by a task (a
/// failure is kept in its `error`, for its owner to report); else at once
/// (`now`: the caller knows nothing is queued before them).
void tune_wb_append_flush(tune_appendbuf_t *a, int now);

#endif
