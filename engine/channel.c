/// Workers' protocol channels over TCP: see channel.h.
///
/// Ownership: the server owns its listener and every connection (a list);
/// the caller owns each channel. A connection is matched to its channel by
/// the token on its first line; until then it is anonymous, and one that
/// sends a wrong token, more than a token's bytes without a newline, or
/// that makes the anonymous list exceed MAX_ANON is closed.
#define _GNU_SOURCE
#include "channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "common.h"
#include "log.h"
#include "uvstream.h"

#define TOKEN_LEN 32
#define MAX_ANON 64
#define READ_CHUNK 65536

typedef struct conn conn_t;

struct tune_chan {
  tune_chan_server_t *s;
  tune_chan_data_cb cb;
  void *ud;
  char token[TOKEN_LEN + 1];
  conn_t *conn;          ///< once matched
  tune_buf_t pending;    ///< sent before the worker connected
  int state;
  tune_chan_t *next;     ///< the server's waiting channels
};

struct conn {
  uv_tcp_t tcp;
  tune_chan_server_t *s;
  tune_chan_t *chan;     ///< NULL while anonymous, or after the channel was freed
  tune_buf_t first;      ///< the token line, while anonymous
  int closing;
  conn_t *prev, *next;   ///< every connection of the server
  char buf[READ_CHUNK];
};

struct tune_chan_server {
  uv_tcp_t listener;
  void (*touch)(void *);
  void *touch_ud;
  int port;
  tune_chan_t *waiting;  ///< channels whose worker has not connected
  conn_t *conns;
  size_t nanon;
};

static int write_now(conn_t *c, const char *data, size_t len) {
  return tune_stream_send((uv_stream_t *)&c->tcp, data, len);
}

static void conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  tune_buf_free(&c->first);
  free(c);
}

static void conn_close(conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  tune_chan_server_t *s = c->s;
  if (!c->chan) s->nanon--;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/// The channel's connection ended (EOF, an error, or closed by us).
static void chan_end(tune_chan_t *ch) {
  if (ch->state == TUNE_CHAN_ENDED) return;
  ch->state = TUNE_CHAN_ENDED;
  if (ch->conn) {
    conn_close(ch->conn); /* a matched connection: not counted as anonymous */
    ch->conn->chan = NULL;
    ch->conn = NULL;
  }
  ch->s->touch(ch->s->touch_ud);
  ch->cb(ch->ud, NULL, 0);
}

static void unlink_waiting(tune_chan_t *ch) {
  for (tune_chan_t **pp = &ch->s->waiting; *pp; pp = &(*pp)->next) {
    if (*pp == ch) {
      *pp = ch->next;
      ch->next = NULL;
      return;
    }
  }
}

/// The token line is complete: find its channel, hand it the rest.
static void match(conn_t *c, size_t line_len) {
  tune_chan_server_t *s = c->s;
  tune_chan_t *ch = NULL;
  if (line_len == TOKEN_LEN)
    for (ch = s->waiting; ch && memcmp(ch->token, c->first.data, TOKEN_LEN); ch = ch->next) {
    }
  if (!ch) {
    TUNE_DEBUG("channel: a connection with an unknown token closed");
    conn_close(c);
    return;
  }
  unlink_waiting(ch);
  s->nanon--;
  c->chan = ch;
  ch->conn = c;
  ch->state = TUNE_CHAN_OPEN;
  uv_tcp_nodelay(&c->tcp, 1);
  if (ch->pending.len && write_now(c, ch->pending.data, ch->pending.len) < 0) {
    tune_buf_free(&ch->pending);
    chan_end(ch);
    return;
  }
  tune_buf_free(&ch->pending);
  size_t rest = c->first.len - line_len - 1;
  if (rest) {
    s->touch(s->touch_ud);
    ch->cb(ch->ud, c->first.data + line_len + 1, rest);
  }
  tune_buf_free(&c->first);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  conn_t *c = h->data;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (c->chan) chan_end(c->chan);
    else conn_close(c);
    return;
  }
  if (c->chan) {
    c->s->touch(c->s->touch_ud);
    c->chan->cb(c->chan->ud, c->buf, (size_t)n);
    return;
  }
  tune_buf_append(&c->first, c->buf, (size_t)n);
  char *nl = memchr(c->first.data, '\n', c->first.len);
  if (nl) match(c, (size_t)(nl - c->first.data));
  else if (c->first.len > TOKEN_LEN) conn_close(c);
}

static void on_connection(uv_stream_t *l, int status) {
  tune_chan_server_t *s = l->data;
  if (status < 0) return;
  conn_t *c = tune_xcalloc(1, sizeof *c);
  c->s = s;
  tune_buf_init(&c->first);
  uv_tcp_init(l->loop, &c->tcp);
  c->tcp.data = c;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nanon++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
    conn_close(c);
    return;
  }
  /* Too many strangers: the oldest anonymous one goes. */
  if (s->nanon > MAX_ANON) {
    conn_t *old = NULL;
    for (conn_t *k = s->conns; k; k = k->next)
      if (!k->chan) old = k;
    if (old) conn_close(old);
  }
}

/// A listening socket on an ephemeral port of every address: IPv6 with
/// IPv4 mapped where the host has IPv6, else IPv4. The fd, or -errno.
static int listen_any(int *port) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    if (bind(fd, (struct sockaddr *)&a6, sizeof a6) < 0) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&a4, sizeof a4) < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
  }
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (listen(fd, 128) < 0 || getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  *port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&addr)->sin_port);
  return fd;
}

tune_chan_server_t *tune_chan_server_new(struct uv_loop_s *loop, void (*touch)(void *), void *touch_ud,
                                         char *err, size_t errlen) {
  int port = 0, fd = listen_any(&port);
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen for workers on a TCP port: %s", strerror(-fd));
    return NULL;
  }
  tune_chan_server_t *s = tune_xcalloc(1, sizeof *s);
  s->touch = touch;
  s->touch_ud = touch_ud;
  s->port = port;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  int rc = uv_tcp_open(&s->listener, fd);
  if (rc < 0) close(fd);
  else rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
  if (rc < 0) {
    snprintf(err, errlen, "cannot listen for workers on a TCP port: %s", uv_strerror(rc));
    tune_chan_server_free(s);
    return NULL;
  }
  return s;
}

int tune_chan_server_port(const tune_chan_server_t *s) { return s->port; }

static void listener_closed(uv_handle_t *h) { free(h->data); }

void tune_chan_server_free(tune_chan_server_t *s) {
  if (!s) return;
  if (s->waiting) TUNE_WARN("channel server freed with channels still waiting");
  while (s->conns) {
    if (s->conns->chan) chan_end(s->conns->chan);
    else conn_close(s->conns);
  }
  uv_close((uv_handle_t *)&s->listener, listener_closed);
}

tune_chan_t *tune_chan_expect(tune_chan_server_t *s, tune_chan_data_cb cb, void *ud, char token[33]) {
  unsigned char raw[TOKEN_LEN / 2];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno != EINTR) tune_abort(__FILE__, __LINE__, "getrandom failed");
    if (n > 0) got += (size_t)n;
  }
  tune_chan_t *ch = tune_xcalloc(1, sizeof *ch);
  ch->s = s;
  ch->cb = cb;
  ch->ud = ud;
  for (size_t i = 0; i < sizeof raw; i++) snprintf(ch->token + 2 * i, 3, "%02x", raw[i]);
  tune_buf_init(&ch->pending);
  ch->next = s->waiting;
  s->waiting = ch;
  memcpy(token, ch->token, TOKEN_LEN + 1);
  return ch;
}

int tune_chan_send(tune_chan_t *c, const char *data, size_t len) {
  switch (c->state) {
  case TUNE_CHAN_WAITING:
    tune_buf_append(&c->pending, data, len);
    return 0;
  case TUNE_CHAN_OPEN:
    return write_now(c->conn, data, len);
  default:
    return -EPIPE;
  }
}

int tune_chan_state(const tune_chan_t *c) { return c->state; }

void tune_chan_free(tune_chan_t *c) {
  if (!c) return;
  if (c->state == TUNE_CHAN_WAITING) unlink_waiting(c);
  if (c->conn) {
    conn_close(c->conn);
    c->conn->chan = NULL;
  }
  tune_buf_free(&c->pending);
  free(c);
}
