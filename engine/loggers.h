/// The default result loggers, in C (Ray's JsonLoggerCallback and
/// CSVLoggerCallback): the results the runner accepted are appended to the
/// trial's result.json (one JSON object a line, with its config) and
/// progress.csv (flattened "a/b" columns fixed by the first result,
/// config/ columns included); and, with an event stream, each as a
/// `trial_result` line of `--events` (encoded once for both, written at
/// once).
///
/// The two files are written in groups: what is logged waits in memory,
/// packed (engine/jpack.h), until tune_loggers_flush(); then it is encoded and goes with one
/// write(2) per file, so a crash leaves at most a torn last line. The executor flushes before the
/// driver waits (the files are current whenever the driver is idle), and
/// the experiment before each snapshot and dashboard publish; a trial's
/// rows are also written when its files close (before its TERMINATED,
/// PAUSED or ERROR entry), when a save was asked for (flush_next), and
/// whenever TUNE_LOGGERS_FLUSH_RESULTS are pending. Every flush first writes
/// `ahead` (the experiment journal) when one is set, so that no row is on
/// disk before the journal entries made before it.
///
/// With a `writer` (engine/fsprep.h), a flush hands each trial's results,
/// and a close the files' close, to that service's thread: encoded and
/// written there in the order they were handed over (the journal's writes
/// among them, through the same service), while the driver goes on. tune_loggers_sync is the flush
/// that returns with everything on disk.
///
/// A write of a trial's rows that fails (a full disk) loses that batch, and
/// so that its file never has a hole the writer drops the rest of that
/// trial's rows until its files close (a failed trial retried, from its
/// checkpoint, logs again after that). The failure is kept for the driver
/// (tune_loggers_take_faults), which fails the trial; a checkpoint is
/// committed only if the rows before it were written (tune_loggers_failed).
#ifndef TUNE_LOGGERS_H
#define TUNE_LOGGERS_H

#include <cjson/cJSON.h>

#include "buf.h"
#include "fsutil.h"
#include "map.h"

typedef struct {
  int json;
  int csv;
  int event_fd;         ///< `--events` stream, or -1
  int event_fd_owned;   ///< opened here (closed by tune_loggers_free)
  char *event_target;   ///< its name as given ("-": stdout), for a warning
  tune_map_t trials;    ///< trial id -> its open files and CSV columns (owned)
  char *last_error;     ///< the last write failure, for a warning
  tune_buf_t events;     ///< scratch for `--events` lines
  tune_buf_t lines, rows;  ///< the writer's scratch (one trial's encoding at a time)
  struct trial_log **dirty;  ///< trials with rows pending (not owned)
  size_t ndirty, dirty_cap;
  size_t pending;       ///< results pending over all trials
  int flush_next;       ///< flush after the next write (a save is on its way)
  tune_appendbuf_t *ahead;  ///< written before any row (the journal), or NULL; not owned
  struct tune_fsprep *writer;  ///< writes behind the driver, or NULL (at once); not owned
  int direct;           ///< this flush writes at once (tune_loggers_flush_idle)
  unsigned attempts;    ///< the last number given to a trial's logging (see tune_loggers_attempt)
  /// Failed row writes the driver has not taken yet, newest first (pushed
  /// by the writer's thread, taken by tune_loggers_take_faults).
  _Atomic(struct tune_log_fault *) faults;
} tune_loggers_t;

/// Pending results that make the next write flush.
#define TUNE_LOGGERS_FLUSH_RESULTS 1000u

/// Whose results these are.
typedef struct {
  const char *trial_id;
  const char *name;
  const char *logdir;
  const char *experiment_tag;
  const cJSON *config;
  unsigned config_gen;    ///< a new value for every new config of the trial
} tune_log_target_t;

void tune_loggers_init(tune_loggers_t *l, int json, int csv);
void tune_loggers_free(tune_loggers_t *l);
/// Where `--events` trial_result lines go: a file (appended to), "-" for
/// stdout, NULL for nowhere. 0 or a negative errno.
int tune_loggers_set_events(tune_loggers_t *l, const char *target);
/// Writes `len` bytes (whole event lines) to the `--events` stream, if any.
/// A write that fails is warned about once, naming the stream, which is
/// then closed: the run goes on without it.
void tune_loggers_write_event(tune_loggers_t *l, const char *data, size_t len);
/// Logs results 1..n of `batch` (skipping Ray's "__duplicate__" result);
/// with `stopped`, the n-th gets done = true first.
void tune_loggers_write(tune_loggers_t *l, const tune_log_target_t *t, cJSON *batch, size_t n, int stopped);
/// Writes every trial's pending rows (one write(2) per file; behind the
/// driver with a writer).
void tune_loggers_flush(tune_loggers_t *l);
/// tune_loggers_flush for a driver about to wait: when the writer has
/// nothing queued, the rows (and the journal) are written at once rather
/// than handed over (a stream of results, flushed at each short wait,
/// costs less that way than a hand-over and a wake-up each time).
void tune_loggers_flush_idle(tune_loggers_t *l);
/// tune_loggers_flush, and returns once the rows (and what was handed to
/// the writer before them) are on disk.
void tune_loggers_sync(tune_loggers_t *l);
/// Opens (creates) the trial's result.json and progress.csv for the
/// loggers that are on, as Ray's loggers do when a trial starts; the
/// executor calls it once the start request is on its way, so that the
/// files' creation overlaps the worker's start instead of delaying the
/// first result's handling. A failure here is left to the first write,
/// which tries again and reports it. `made`: the files are there and
/// empty (made with the trial's directory, engine/fsprep.h). `fds` (or
/// NULL): result.json and progress.csv already open that way, or -1; the
/// loggers take them (each is set to -1; one no logger uses is closed).
void tune_loggers_open(tune_loggers_t *l, const char *trial_id, const char *logdir, int made, int fds[2]);
/// Close a trial's files (it stopped or paused; its CSV columns are kept).
void tune_loggers_close(tune_loggers_t *l, const char *trial_id);
/// Close a trial's files and forget its CSV columns (they are read back
/// from the file if it logs again, e.g. after a resume).
void tune_loggers_forget(tune_loggers_t *l, const char *trial_id);
/// A trial's rows that could not be written: `msg` names the file and the
/// error (and the first result lost).
typedef void (*tune_log_fault_fn)(void *ud, const char *trial_id, const char *msg);
/// Hands each failed row write found so far to `fn`, oldest first, and
/// forgets it; one atomic load when there is none. A failure of a trial
/// whose files have closed since (a later attempt: paused, or stopped and
/// restarted from its checkpoint, after which its rows go on without a
/// hole) is only warned about, as the writer did: rows fail in a close's
/// flush only when nothing synced them before it (a pause's save does).
void tune_loggers_take_faults(tune_loggers_t *l, tune_log_fault_fn fn, void *ud);
/// The trial's logging since its files last opened (a number that changes
/// whenever they close), or 0 when it logs nothing.
unsigned tune_loggers_attempt(tune_loggers_t *l, const char *trial_id);
/// True (and why in `msg`) when rows the trial handed over in `attempt`
/// or later could not be written: what the writer has done so far (drain
/// first for an answer about everything handed over).
int tune_loggers_failed(tune_loggers_t *l, const char *trial_id, unsigned attempt, char *msg, size_t len);
/// Appends `s` to `out` quoted as a CSV field when it needs quoting.
void tune_csv_field(tune_buf_t *out, const char *s, size_t len);

#endif
