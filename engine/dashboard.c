/// The live dashboard's HTTP server: dashboard.h.
#include "dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TUNE_HAVE_MHD
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include "common.h"
#include "mhd_loader.h"
#include <netinet/in.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/// At most this many bytes of a result.json per response; the page asks
/// again from where the answer ended.
#define TAIL_MAX (4u << 20)
/// Bytes read around each line a thinned answer takes (longer lines are
/// skipped there).
#define SAMPLE_WINDOW 4096
/// The most lines a thinned answer asks for (bounds its buffer).
#define MAX_LINES 10000

/// libmicrohttpd's functions (tune_mhd loads them once), set by
/// tune_dashboard_start before any callback can run.
static const tune_mhd_t *M;

struct tune_dashboard {
  struct MHD_Daemon *mhd;
  char *root;
  char *token;
  char *page;
  size_t page_len;
  pthread_mutex_t mu;   ///< guards state, state_len, wanted, requests, events
  pthread_cond_t changed; ///< broadcast when events grows
  char *state;
  size_t state_len;
  int wanted;
  unsigned long requests;
  unsigned long events;  ///< requests plus state reads: what tune_dashboard_wait sees
  int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
                             size_t len, const char *next, const char *lines) {
  struct MHD_Response *r = M->create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  M->add_response_header(r, "Content-Type", type);
  M->add_response_header(r, "Cache-Control", "no-store");
  M->add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (next) M->add_response_header(r, "X-Tune-Next", next);
  if (lines) M->add_response_header(r, "X-Tune-Lines", lines);
  enum MHD_Result ok = M->queue_response(c, code, r);
  M->destroy_response(r);
  return ok;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned code, const char *msg) {
  return reply(c, code, "text/plain; charset=utf-8", msg, strlen(msg), NULL, NULL);
}

/// A trial directory's name: one path component, not . or ..
static int valid_name(const char *s) {
  if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
  return strchr(s, '/') == NULL;
}

static int token_ok(const tune_dashboard_t *d, const char *given) {
  if (!d->token) return 1;
  if (!given) return 0;
  size_t n = strlen(d->token);
  if (strlen(given) != n) return 0;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(d->token[i] ^ given[i]);
  return diff == 0;
}

/// The complete line of `fd` that starts at or after `at` (the first one
/// after a newline, unless `at` starts a line), within SAMPLE_WINDOW bytes:
/// appended to `out`; its end offset, or -1 when none fits.
static long long line_at(int fd, long long at, int at_line_start, char *win, char *out, size_t *out_len) {
  ssize_t k;
  do k = pread(fd, win, SAMPLE_WINDOW, (off_t)at);
  while (k < 0 && errno == EINTR);
  if (k <= 0) return -1;
  char *p = win, *stop = win + k;
  if (!at_line_start) {
    p = memchr(win, '\n', (size_t)k);
    if (!p) return -1;
    p++;
  }
  char *nl = p < stop ? memchr(p, '\n', (size_t)(stop - p)) : NULL;
  if (!nl) return -1;
  size_t n = (size_t)(nl + 1 - p);
  memcpy(out + *out_len, p, n);
  *out_len += n;
  return at + (long long)(nl + 1 - win);
}

/// A big backlog thinned without reading it: `max` lines taken at even
/// byte offsets over [from, size), the last complete line always among
/// them; X-Tune-Lines then estimates how many lines the range holds.
static enum MHD_Result sampled(struct MHD_Connection *c, int fd, long long from, long long size, size_t max) {
  char *win = malloc(SAMPLE_WINDOW), *out = malloc(max * SAMPLE_WINDOW);
  if (!win || !out) {
    free(win);
    free(out);
    return MHD_NO;
  }
  /* The end of the last complete line. */
  long long tail = size - SAMPLE_WINDOW > from ? size - SAMPLE_WINDOW : from;
  ssize_t k;
  do k = pread(fd, win, SAMPLE_WINDOW, (off_t)tail);
  while (k < 0 && errno == EINTR);
  long long end = -1;
  for (ssize_t i = k - 1; i >= 0; i--) {
    if (win[i] == '\n') {
      end = tail + i + 1;
      break;
    }
  }
  size_t out_len = 0, kept = 0;
  long long last_end = from;
  if (end > from) {
    for (size_t i = 0; i + 1 < max; i++) {
      long long at = from + (long long)((double)(end - from) * (double)i / (double)(max - 1));
      if (at < last_end) at = last_end;
      if (at >= end) break;
      long long e = line_at(fd, at, at == last_end, win, out, &out_len);
      if (e < 0 || e > end) continue;
      last_end = e;
      kept++;
    }
    /* The last line: the one that ends at `end`. */
    long long lstart = end - 1 > from ? end - 1 : from;
    while (lstart > from) {
      long long back = lstart - SAMPLE_WINDOW > from ? lstart - SAMPLE_WINDOW : from;
      do k = pread(fd, win, (size_t)(lstart - back), (off_t)back);
      while (k < 0 && errno == EINTR);
      if (k <= 0) break;
      char *nl = NULL;
      for (ssize_t i = k - 1; i >= 0; i--) {
        if (win[i] == '\n') {
          nl = win + i;
          break;
        }
      }
      if (nl) {
        lstart = back + (nl - win) + 1;
        break;
      }
      if (back == from) {
        lstart = from;
        break;
      }
      lstart = back;
    }
    if (lstart >= last_end && end - lstart <= SAMPLE_WINDOW) {
      line_at(fd, lstart, 1, win, out, &out_len);
      kept++;
    }
  } else {
    end = from;
  }
  char next[32], lines[32];
  snprintf(next, sizeof next, "%lld", end);
  /* Estimated from the average length of the lines kept. */
  snprintf(lines, sizeof lines, "%lld", kept ? (end - from) * (long long)kept / (long long)(out_len ? out_len : 1) : 0);
  enum MHD_Result ok = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", out, out_len, next, lines);
  free(win);
  free(out);
  return ok;
}

/// /api/results?dir=NAME&from=N[&max=M]: the complete lines of
/// NAME/result.json from byte N; X-Tune-Next says where the next request
/// starts. With max, at most M lines, evenly spaced and always the last
/// one (a fast trial's backlog thinned for the page); X-Tune-Lines counts
/// the lines the answer covers.
static enum MHD_Result results(tune_dashboard_t *d, struct MHD_Connection *c) {
  const char *dir = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dir");
  const char *from_s = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
  const char *max_s = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "max");
  if (!valid_name(dir)) return text(c, MHD_HTTP_BAD_REQUEST, "dir: expected a trial directory name\n");
  char *end = NULL;
  long long from = from_s ? strtoll(from_s, &end, 10) : 0;
  if (from < 0 || (from_s && (*end || end == from_s))) return text(c, MHD_HTTP_BAD_REQUEST, "from: expected a byte offset\n");
  long long max = max_s ? strtoll(max_s, &end, 10) : 0;
  if (max < 0 || (max_s && (*end || end == max_s))) return text(c, MHD_HTTP_BAD_REQUEST, "max: expected a line count\n");
  if (max > MAX_LINES) max = MAX_LINES;
  size_t plen = strlen(d->root) + strlen(dir) + 16;
  char *path = malloc(plen);
  if (!path) return MHD_NO;
  snprintf(path, plen, "%s/%s/result.json", d->root, dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  char next[32], lines_s[32];
  if (fd < 0) {
    snprintf(next, sizeof next, "%lld", from);
    return reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "", 0, next, "0");
  }
  struct stat st;
  size_t want = 0;
  size_t cap = TAIL_MAX;
  if (fstat(fd, &st) < 0) st.st_size = 0;
  if (max > 1 && st.st_size - from > max * (long long)SAMPLE_WINDOW) {
    enum MHD_Result ok = sampled(c, fd, from, (long long)st.st_size, (size_t)max);
    close(fd);
    return ok;
  }
  if (st.st_size > from) {
    long long avail = (long long)st.st_size - from;
    want = avail > (long long)cap ? cap : (size_t)avail;
  }
  char *buf = want ? malloc(want) : NULL;
  size_t got = 0;
  while (buf && got < want) {
    ssize_t k = pread(fd, buf + got, want - got, (off_t)(from + (long long)got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  while (got > 0 && buf[got - 1] != '\n') got--; /* complete lines only */
  size_t nlines = 0;
  for (char *p = buf; p && p < buf + got; p++) nlines += *p == '\n';
  size_t out_len = got;
  if (max > 0 && nlines > (size_t)max) {
    /* Keep line i when it is the first at or past the next mark of an
     * even spacing over [0, nlines), and the last line. */
    size_t keep_every_num = nlines, w = 0, line = 0, start = 0;
    long long kept = 0;
    for (size_t i = 0; i < got; i++) {
      if (buf[i] != '\n') continue;
      int last = line == nlines - 1;
      int mark = (size_t)((unsigned long long)kept * keep_every_num / (unsigned long long)max) <= line && kept < max - 1;
      if (mark || last) {
        memmove(buf + w, buf + start, i + 1 - start);
        w += i + 1 - start;
        kept++;
      }
      line++;
      start = i + 1;
    }
    out_len = w;
  }
  snprintf(next, sizeof next, "%lld", from + (long long)got);
  snprintf(lines_s, sizeof lines_s, "%zu", nlines);
  enum MHD_Result ok = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", buf ? buf : "", out_len, next, lines_s);
  free(buf);
  return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  tune_dashboard_t *d = cls;
  (void)version;
  (void)upload;
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "read-only\n");
  if (*upload_size) return text(c, MHD_HTTP_BAD_REQUEST, "no body expected\n");
  if (*con_cls == NULL) { /* first call: headers only */
    *con_cls = d;
    return MHD_YES;
  }
  pthread_mutex_lock(&d->mu);
  d->requests++;
  d->events++;
  pthread_cond_broadcast(&d->changed);
  pthread_mutex_unlock(&d->mu);
  if (!token_ok(d, M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token")))
    return text(c, MHD_HTTP_FORBIDDEN, "a token is required: use the URL tunelua printed\n");
  if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
    return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", d->page, d->page_len, NULL, NULL);
  if (!strcmp(url, "/api/state")) {
    pthread_mutex_lock(&d->mu);
    d->wanted = 1;
    d->events++;
    pthread_cond_broadcast(&d->changed);
    struct MHD_Response *r = M->create_response_from_buffer(d->state_len, d->state, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&d->mu);
    if (!r) return MHD_NO;
    M->add_response_header(r, "Content-Type", "application/json");
    M->add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = M->queue_response(c, MHD_HTTP_OK, r);
    M->destroy_response(r);
    return ok;
  }
  if (!strcmp(url, "/api/results")) return results(d, c);
  if (!strcmp(url, "/favicon.ico")) return reply(c, MHD_HTTP_NO_CONTENT, "text/plain", "", 0, NULL, NULL);
  return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void free_dashboard(tune_dashboard_t *d) {
  if (!d) return;
  free(d->root);
  free(d->token);
  free(d->page);
  free(d->state);
  pthread_cond_destroy(&d->changed);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

tune_dashboard_t *tune_dashboard_start(const char *host, int port, const char *token, const char *root,
                                       const char *page, size_t page_len, char *err, size_t errlen) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (port < 0 || port > 65535) {
    snprintf(err, errlen, "dashboard port %d is out of range (0-65535)", port);
    return NULL;
  }
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "dashboard host %s is not an IPv4 address", host);
    return NULL;
  }
  if (!(M = tune_mhd(err, errlen))) return NULL;
  tune_dashboard_t *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&d->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->changed, &ca);
  pthread_condattr_destroy(&ca);
  d->root = strdup(root);
  d->token = token ? strdup(token) : NULL;
  d->page = malloc(page_len ? page_len : 1);
  d->state = strdup("{}");
  d->state_len = 2;
  if (!d->root || (token && !d->token) || !d->page || !d->state) {
    free_dashboard(d);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  memcpy(d->page, page, page_len);
  d->page_len = page_len;
  d->mhd = M->start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, (uint16_t)port, NULL, NULL, handle, d,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (!d->mhd) {
    snprintf(err, errlen, "cannot serve the dashboard on %s:%d (%s)", host, port,
             errno ? strerror(errno) : "libmicrohttpd refused");
    free_dashboard(d);
    return NULL;
  }
  const union MHD_DaemonInfo *info = M->get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  d->port = info ? info->port : port;
  return d;
}

int tune_dashboard_port(const tune_dashboard_t *d) { return d->port; }

int tune_dashboard_publish(tune_dashboard_t *d, const char *json, size_t len) {
  char *copy = malloc(len ? len : 1);
  if (!copy) return -1;
  memcpy(copy, json, len);
  pthread_mutex_lock(&d->mu);
  char *old = d->state;
  d->state = copy;
  d->state_len = len;
  d->wanted = 0;
  pthread_mutex_unlock(&d->mu);
  free(old);
  return 0;
}

int tune_dashboard_wanted(tune_dashboard_t *d) {
  pthread_mutex_lock(&d->mu);
  int w = d->wanted;
  pthread_mutex_unlock(&d->mu);
  return w;
}

unsigned long tune_dashboard_wait(tune_dashboard_t *d, unsigned long seen, double timeout_s) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (timeout_s > TUNE_MAX_WAIT_S) timeout_s = TUNE_MAX_WAIT_S;
  if (timeout_s > 0) {
    double whole = (double)(long)timeout_s;
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&d->mu);
  while (d->events == seen && timeout_s > 0 && pthread_cond_timedwait(&d->changed, &d->mu, &until) == 0) {
  }
  unsigned long now = d->events;
  pthread_mutex_unlock(&d->mu);
  return now;
}

unsigned long tune_dashboard_requests(tune_dashboard_t *d) {
  pthread_mutex_lock(&d->mu);
  unsigned long n = d->requests;
  pthread_mutex_unlock(&d->mu);
  return n;
}

void tune_dashboard_stop(tune_dashboard_t *d) {
  if (!d) return;
  M->stop_daemon(d->mhd);
  free_dashboard(d);
}

#else /* built without libmicrohttpd */

tune_dashboard_t *tune_dashboard_start(const char *host, int port, const char *token, const char *root,
                                       const char *page, size_t page_len, char *err, size_t errlen) {
  (void)host, (void)port, (void)token, (void)root, (void)page, (void)page_len;
  snprintf(err, errlen, "this tunelua was built without libmicrohttpd: no dashboard "
                        "(install libmicrohttpd-dev and build again)");
  return NULL;
}
int tune_dashboard_port(const tune_dashboard_t *d) { return d ? 0 : 0; }
int tune_dashboard_publish(tune_dashboard_t *d, const char *json, size_t len) { return -1; }
int tune_dashboard_wanted(tune_dashboard_t *d) { return 0; }
unsigned long tune_dashboard_requests(tune_dashboard_t *d) { return 0; }
unsigned long tune_dashboard_wait(tune_dashboard_t *d, unsigned long seen, double timeout_s) { return seen; }
void tune_dashboard_stop(tune_dashboard_t *d) { (void)d; }

#endif
