/// Trial directories made ahead, on a thread of their own: a directory,
/// its params.json and the empty result.json and progress.csv the loggers
/// open later. Creating them costs the driver some 0.1 ms of kernel time
/// per trial on ext4, a third of what a short trial costs it; made while
/// the trial waits its turn, on the other core, they cost it nothing
/// (docs/architecture.md, "The experiment loop").
///
/// The same thread also commits snapshots (tune_fsprep_commit): their
/// fsync, rename and the removal of the snapshot they replace take the
/// driver tens of milliseconds once an experiment has thousands of trials.
///
/// And it runs ordered tasks (tune_fsprep_task): the driver's writes made
/// behind it (engine/writebehind.h: result rows, the journal's grouped
/// entries, the closing of a trial's log files), in the order they were
/// queued, while the driver goes on; whoever must see them on disk drains
/// the service first (tune_fsprep_drain).
///
/// One thread per service, jobs in submission order. A job is shared by
/// the submitter and the thread; each lets go of it once (the last frees
/// it). Nothing here touches Lua or the event loop.
#ifndef TUNE_FSPREP_H
#define TUNE_FSPREP_H

#include <stddef.h>

#include "fsutil.h"

/// At most this many log files made ahead are held open at once.
#define TUNE_FSPREP_MAX_KEPT 64
/// Lazy directory jobs queued before a waiting thread is woken for them.
#define TUNE_FSPREP_BATCH 4
/// Tasks queued before a waiting thread is woken for them (nobody waits
/// for a task; a driver about to wait wakes the thread, and a drain does).
#define TUNE_FSPREP_TASK_BATCH 32

typedef struct tune_fsprep tune_fsprep_t;
typedef struct tune_fsprep_job tune_fsprep_job_t;

/// A service, held once; its thread starts with the first job. NULL if out
/// of memory.
tune_fsprep_t *tune_fsprep_new(void);
/// One more holder of the service (each lets go with tune_fsprep_free).
tune_fsprep_t *tune_fsprep_retain(tune_fsprep_t *s);
/// Lets go of the service. The last holder stops the thread after the job
/// it is doing; queued directories are abandoned (their waiters get
/// -ECANCELED), queued commits and tasks are done there and then, in
/// order; the service is freed.
void tune_fsprep_free(tune_fsprep_t *s);

/// An ordered task: `run` does it and frees it (the task is its own).
typedef struct tune_fsprep_task tune_fsprep_task_t;
struct tune_fsprep_task {
  void (*run)(tune_fsprep_task_t *t);
};
/// Queues `t` to be run on the thread after every task and commit queued
/// before it (directory jobs, which keep no order, go first), waking a
/// waiting thread once per TUNE_FSPREP_TASK_BATCH tasks. With no service
/// (NULL) or no thread, `t` is run at once.
void tune_fsprep_task(tune_fsprep_t *s, tune_fsprep_task_t *t);
/// Wakes a waiting thread for what is queued (lazy jobs and tasks
/// included), without waiting for it. s may be NULL.
void tune_fsprep_kick(tune_fsprep_t *s);
/// True when no task or commit is queued or being done (directory jobs
/// aside): a write made now by the caller keeps the order. s may be NULL.
int tune_fsprep_quiet(tune_fsprep_t *s);
/// Returns once every job and task queued before has been done (the
/// thread is woken for them). Nothing to do: one lock, no wait. s may be
/// NULL.
void tune_fsprep_drain(tune_fsprep_t *s);
/// Queues: mkdir(dir) (one level, the parent must exist), then
/// dir/params.json with `params` (O_EXCL), dir/result.json and
/// dir/progress.csv empty (O_EXCL). The last two stay open for the
/// trial's loggers (tune_fsprep_take_fds), as long as the service's jobs
/// hold fewer than tune_fsprep_max_kept() such files; a job let go closes
/// what was not taken. `lazy`: the job is not needed soon, and a waiting
/// thread is woken for it only as the TUNE_FSPREP_BATCH-th such job queued
/// since it waits (or by any job that is not lazy); waited for while still
/// queued, it is done by the waiter. NULL if the thread cannot start.
tune_fsprep_job_t *tune_fsprep_submit(tune_fsprep_t *s, const char *dir, const char *params, size_t len, int lazy);
/// How many log files made ahead may be held open over all jobs:
/// TUNE_FSPREP_MAX_KEPT, or a sixteenth of the limit on open files
/// (RLIMIT_NOFILE) when that is lower, so that a driver under a small
/// `ulimit -n` keeps its descriptors for workers' pipes and the trials'
/// logs; -1 when none are (a limit under 32).
int tune_fsprep_max_kept(void);
/// Queues the commit of an atomic file that is completely written
/// (tune_fs_atomic_commit with sync: flush, fsync, rename, fsync of the
/// directory), then, when it succeeded and `remove` is not NULL, the
/// removal of `remove` (the file it replaces). The job owns `f` from
/// here on; a service freed before its thread reached the job commits it
/// there and then. NULL if the thread cannot start (`f` is then still the
/// caller's).
tune_fsprep_job_t *tune_fsprep_commit(tune_fsprep_t *s, tune_atomic_file_t *f, const char *remove);
/// The job's outcome, once done: 0, or the negative errno of the step that
/// failed (-EEXIST: the directory was there; nothing else was made). A job
/// the thread has not reached is done by the caller at once (a commit only
/// when no task is queued before it); one it is doing is waited for.
int tune_fsprep_wait(tune_fsprep_job_t *j);
/// After a successful wait: moves the open result.json (O_WRONLY|O_APPEND)
/// and progress.csv (O_RDWR|O_APPEND) of a directory job to `fds`, the
/// caller's to close. -1 (fds set to -1) when the job kept none.
int tune_fsprep_take_fds(tune_fsprep_job_t *j, int fds[2]);
/// For tests: whether the thread has started and waits with nothing
/// queued; and in *wakeups (when not NULL) how many times a job woke it.
int tune_fsprep_state(tune_fsprep_t *s, unsigned long *wakeups);
/// The submitter lets go (waited for or not).
void tune_fsprep_release(tune_fsprep_job_t *j);

#endif
