/// The worker's output over its TCP channel (see wpump.h).
///
/// The trainable's stdout and stderr (fds 1 and 2, inherited by whatever it
/// starts) become pipes; a thread forwards what they carry as `output`
/// messages on the channel, and every protocol message is written after
/// what the pipes held when it was sent, under one lock. So a line printed
/// before a result reaches the driver before that result, as on the local
/// backend, where srun's relay would deliver it up to 40 ms later.
#define _GNU_SOURCE
#include "wpump.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "json.h"

#define CHUNK 16384

static struct {
  int sock;
  int rd[2];           ///< read ends of the stdout and stderr pipes; -1 at EOF
  unsigned char hold[2][4];
  size_t nhold[2];     ///< an unfinished UTF-8 sequence, kept for the next read
  pthread_mutex_t mu;
} pump = {-1, {-1, -1}, {{0}}, {0, 0}, PTHREAD_MUTEX_INITIALIZER};

/// How many bytes at the end of `s` begin a UTF-8 sequence that is not
/// complete yet.
static size_t utf8_tail(const unsigned char *s, size_t n) {
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    unsigned char c = s[n - back];
    if ((c & 0xC0) == 0x80) continue; /* a continuation byte */
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/// One output message for bytes of stream `i` (0 stdout, 1 stderr).
static void forward(int i, const unsigned char *data, size_t n) {
  tune_buf_t b = TUNE_BUF_INIT;
  tune_buf_printf(&b, "{\"type\":\"output\",\"stream\":\"%s\",\"data\":", i ? "stderr" : "stdout");
  tune_json_write_string(&b, (const char *)data, n);
  tune_buf_puts(&b, "}\n");
  tune_fs_write_all(pump.sock, b.data, b.len);
  tune_buf_free(&b);
}

/// Forwards what pipe `i` holds now (the lock held). Closes it at EOF.
static void drain(int i) {
  unsigned char buf[CHUNK + 4];
  while (pump.rd[i] >= 0) {
    size_t held = pump.nhold[i];
    memcpy(buf, pump.hold[i], held);
    ssize_t r = read(pump.rd[i], buf + held, CHUNK);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0 || errno != EAGAIN) {
        if (held) forward(i, buf, held);
        pump.nhold[i] = 0;
        close(pump.rd[i]);
        pump.rd[i] = -1;
      }
      return;
    }
    size_t n = held + (size_t)r, keep = utf8_tail(buf, n);
    if (n > keep) forward(i, buf, n - keep);
    memcpy(pump.hold[i], buf + n - keep, keep);
    pump.nhold[i] = keep;
  }
}

static void *pump_main(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd pf[2] = {{pump.rd[0], POLLIN, 0}, {pump.rd[1], POLLIN, 0}};
    if (pf[0].fd < 0 && pf[1].fd < 0) return NULL;
    if (poll(pf, 2, -1) < 0) continue;
    pthread_mutex_lock(&pump.mu);
    for (int i = 0; i < 2; i++)
      if (pf[i].revents) drain(i);
    pthread_mutex_unlock(&pump.mu);
  }
}

/// At exit: what stdio still buffers, and what the pipes hold, go first.
static void pump_at_exit(void) {
  fflush(NULL);
  pthread_mutex_lock(&pump.mu);
  drain(0);
  drain(1);
  pthread_mutex_unlock(&pump.mu);
}

int tune_pump_start(int sock) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) return -errno;
  if (pipe2(err, O_CLOEXEC) < 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    return -e;
  }
  fflush(stdout);
  fflush(stderr);
  dup2(out[1], 1);
  dup2(err[1], 2);
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  pump.sock = sock;
  pump.rd[0] = out[0];
  pump.rd[1] = err[0];
  /* The thread takes no signals: handlers run on the main thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t th;
  int rc = pthread_create(&th, NULL, pump_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) return -rc;
  pthread_detach(th);
  atexit(pump_at_exit);
  return 0;
}

int tune_pump_active(void) { return pump.sock >= 0; }

int tune_pump_send(const char *data, size_t len) {
  fflush(stdout);
  fflush(stderr);
  pthread_mutex_lock(&pump.mu);
  drain(0);
  drain(1);
  int rc = tune_fs_write_all(pump.sock, data, len);
  pthread_mutex_unlock(&pump.mu);
  return rc;
}
