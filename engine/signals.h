/// SIGINT and SIGUSR1 for tune.run (Ray's signal handling): the first one
/// asks the runner to save the experiment and stop; a second SIGINT ends
/// the process at once. Handlers only record the signal and wake the loop
/// (a function the backend gives, which must be async-signal-safe).
#ifndef TUNE_SIGNALS_H
#define TUNE_SIGNALS_H

#include <spawn.h>

/// Installs handlers for SIGINT (unless `sigint` is 0), SIGUSR1 and
/// SIGTERM, over those of a run still going (a tune.run from its callback).
void tune_signals_install(int sigint, void (*wake)(void *), void *wake_ud);
/// Restores the handlers and wake function that the install with this
/// `wake_ud` replaced (and any installed after it); none: nothing.
void tune_signals_uninstall(void *wake_ud);
/// The first signal received since install (SIGINT, SIGUSR1), or 0.
int tune_signals_pending(void);

/// Opens /dev/null on whichever of fds 0, 1 and 2 is closed (`tunelua exp.lua
/// >&-`): the next pipe or file would take that number, the status table
/// would be printed into it, and libuv aborts on closing it.
void tune_std_fds_ensure(void);

/// Ignores SIGPIPE and SIGXFSZ for the driver, whichever backend it runs:
/// a write to a dead worker or a reader that went away (--events | head)
/// is EPIPE, and a file-size limit (ulimit -f) EFBIG, errors the writer
/// reports, not signals that kill the driver (Python ignores both too).
void tune_signals_ignore_write_errors(void);

/// posix_spawn (posix_spawnp with `search_path`) with every signal at its
/// default and none blocked, in a session of its own with `new_session`:
/// how every process the engine starts begins. Destroys `fa`. 0 or -errno.
int tune_spawn_clean(pid_t *pid, const char *file, posix_spawn_file_actions_t *fa, char *const argv[],
                     char *const env[], int new_session, int search_path);

#endif
