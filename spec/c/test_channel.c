/// C unit tests of engine/channel.c, the workers' TCP channels: a worker
/// with the right token gets its bytes through in both directions (what
/// the driver sent before it connected first), the end of its connection
/// is reported once, and a connection with a wrong or overlong token is
/// closed without reaching any channel. The "worker" is a blocking socket
/// in this process; the loop runs until the expected event.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "channel.h"

static int failures;

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
      failures++;                                                        \
      return;                                                            \
    }                                                                    \
  } while (0)

typedef struct {
  tune_buf_t got;
  int ends;
} sink_t;

static int touches;
static void touch(void *ud) {
  (void)ud;
  touches++;
}

static void on_data(void *ud, const char *data, size_t len) {
  sink_t *s = ud;
  if (!len) s->ends++;
  else tune_buf_append(&s->got, data, len);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/// Runs the loop until `*flag` becomes true (or 2,000 turns pass).
static void run_until(uv_loop_t *loop, int (*done)(void *), void *arg) {
  for (int i = 0; i < 2000 && !done(arg); i++) uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
}

static int has_bytes(void *arg) { return ((sink_t *)arg)->got.len >= 11; }
static int has_end(void *arg) { return ((sink_t *)arg)->ends > 0; }

/// Reads until `n` bytes or EOF; how many.
static size_t read_n(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static void test_channel(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[256];
  tune_chan_server_t *s = tune_chan_server_new(&loop, touch, NULL, err, sizeof err);
  CHECK(s != NULL);
  int port = tune_chan_server_port(s);
  CHECK(port > 0);

  sink_t a = {TUNE_BUF_INIT, 0}, b = {TUNE_BUF_INIT, 0};
  char ta[33], tb[33];
  tune_chan_t *ca = tune_chan_expect(s, on_data, &a, ta);
  tune_chan_t *cb = tune_chan_expect(s, on_data, &b, tb);
  CHECK(strlen(ta) == 32 && strcmp(ta, tb) != 0);
  CHECK(tune_chan_state(ca) == TUNE_CHAN_WAITING);
  /* Sent before the worker connected: held, then delivered first. */
  CHECK(tune_chan_send(ca, "early\n", 6) == 0);

  /* A stranger with a wrong token is closed; one that never sends a
     newline is closed after a token's length. */
  int bad = dial(port), long_one = dial(port);
  CHECK(bad >= 0 && long_one >= 0);
  CHECK(write(bad, "0123456789abcdef0123456789abcdef\n", 33) == 33);
  char junk[40];
  memset(junk, 'x', sizeof junk);
  CHECK(write(long_one, junk, sizeof junk) == (ssize_t)sizeof junk);

  /* The worker: its token, then protocol bytes in the same write. */
  int w = dial(port);
  CHECK(w >= 0);
  char first[64];
  int n = snprintf(first, sizeof first, "%s\nhello\nworld", ta);
  CHECK(write(w, first, (size_t)n) == n);
  run_until(&loop, has_bytes, &a);
  CHECK(a.got.len == 11 && !memcmp(a.got.data, "hello\nworld", 11));
  CHECK(tune_chan_state(ca) == TUNE_CHAN_OPEN);
  CHECK(touches > 0);
  CHECK(b.got.len == 0 && b.ends == 0); /* the strangers reached nobody */

  char buf[64];
  CHECK(read_n(w, buf, 6) == 6 && !memcmp(buf, "early\n", 6));
  CHECK(tune_chan_send(ca, "more\n", 5) == 0);
  CHECK(read_n(w, buf, 5) == 5 && !memcmp(buf, "more\n", 5));
  CHECK(read_n(bad, buf, 1) == 0);      /* closed by the server */
  CHECK(read_n(long_one, buf, 1) == 0);

  /* The worker goes: the end is reported once; sending then fails. */
  close(w);
  run_until(&loop, has_end, &a);
  CHECK(a.ends == 1);
  CHECK(tune_chan_state(ca) == TUNE_CHAN_ENDED);
  CHECK(tune_chan_send(ca, "late\n", 5) == -EPIPE);

  /* A channel freed while its worker is connected: no callback, and the
     worker sees its connection end. */
  int w2 = dial(port);
  CHECK(w2 >= 0);
  n = snprintf(first, sizeof first, "%s\nx", tb);
  CHECK(write(w2, first, (size_t)n) == n);
  for (int i = 0; i < 2000 && tune_chan_state(cb) != TUNE_CHAN_OPEN; i++) uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
  CHECK(tune_chan_state(cb) == TUNE_CHAN_OPEN);
  tune_chan_free(cb);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(read_n(w2, buf, 1) == 0);
  CHECK(b.ends == 0);

  tune_chan_free(ca);
  tune_chan_server_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0); /* every handle closed */
  close(w2);
  close(bad);
  close(long_one);
  tune_buf_free(&a.got);
  tune_buf_free(&b.got);
}

int main(void) {
  test_channel();
  printf("%s channel\n", failures ? "FAIL" : "ok  ");
  return failures ? 1 : 0;
}
