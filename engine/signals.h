/// SIGINT and SIGUSR1 for tune.run (Ray's signal handling): the first one
/// asks the runner to save the experiment and stop; a second SIGINT ends
/// the process at once. Handlers only record the signal and wake the loop
/// (a function the backend gives, which must be async-signal-safe).
#ifndef TUNE_SIGNALS_H
#define TUNE_SIGNALS_H

/// Installs handlers for SIGINT (unless `sigint` is 0) and SIGUSR1.
void tune_signals_install(int sigint, void (*wake)(void *), void *wake_ud);
/// Restores the previous handlers.
void tune_signals_uninstall(void);
/// The first signal received since install (SIGINT, SIGUSR1), or 0.
int tune_signals_pending(void);

#endif
