/// The fork server ("zygote"): a `tunelua --zygote` process that has loaded
/// Lua and the worker's modules once and forks a fresh worker for each
/// spawn request, instead of an exec of the binary per worker
/// (docs/architecture.md, "Start-up"). Each worker is still a new process
/// with its own copy of that state, in its own session, with the
/// environment, working directory and pipes of its request; it is made with
/// clone(CLONE_PARENT), so the driver is its parent and watches, kills and
/// reaps it as any child of posix_spawn.
#ifndef TUNE_ZYGOTE_H
#define TUNE_ZYGOTE_H

#include <sys/types.h>

typedef struct tune_zygote tune_zygote_t;

/// The driver's side. Starts `file --zygote` with environment `env` (the
/// first worker's): NULL when it cannot be started.
tune_zygote_t *tune_zygote_start(const char *file, char *const env[]);

/// Forks a worker: `argv` must be {any, "--worker"}, `env` equal to the
/// zygote's but for the per-worker variables (TUNE_WORKER_ID,
/// OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES); `fds` become its 0, 1, 2, 3.
/// 0 and *pid; -ENOTSUP: this request is not one the zygote can serve (the
/// caller spawns it itself); -EAGAIN: it has not finished loading (never
/// waited for); another -errno: the zygote failed (it is then gone:
/// tune_zygote_alive() is 0), or, with the zygote alive, this request did
/// (its directory is missing).
int tune_zygote_spawn(tune_zygote_t *z, const char *file, char *const argv[], char *const env[], const char *cwd,
                      const int fds[4], pid_t *pid);

int tune_zygote_alive(const tune_zygote_t *z);

/// Ends the zygote (its socket closed, then SIGKILL), reaps it and frees `z`.
void tune_zygote_free(tune_zygote_t *z);

/// The zygote's side: serves requests on `sock` until EOF (then exits the
/// process). Returns only in a new worker, with its argv (NULL-terminated;
/// `*argc` set): fds 0-3, environment, session and working directory are
/// already those of the request.
char **tune_zygote_serve(int sock, int *argc);

#endif
