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
#include "dashboard_lines.h"
#include "mhd_loader.h"
#include <netinet/in.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
  double last_at;        ///< CLOCK_MONOTONIC seconds of the last request
  double poll_s;         ///< the longest gap between polls a page announced (0: none)
  int port;
};

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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
  size_t plen = strlen(d->root) + strlen(dir) + 16;
  char *path = malloc(plen);
  if (!path) return MHD_NO;
  snprintf(path, plen, "%s/%s/result.json", d->root, dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) < 0) st.st_size = 0;
  tune_dash_lines_t a = {.next = from};
  if (fd >= 0) {
    int r = tune_dash_read_lines(fd, from, (long long)st.st_size, max, &a);
    close(fd);
    if (r < 0) return MHD_NO;
  }
  char next[32], lines[32];
  snprintf(next, sizeof next, "%lld", a.next);
  snprintf(lines, sizeof lines, "%lld", a.lines);
  enum MHD_Result ok = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", a.body ? a.body : "", a.len, next, lines);
  free(a.body);
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
  d->last_at = mono_s();
  pthread_cond_broadcast(&d->changed);
  pthread_mutex_unlock(&d->mu);
  if (!token_ok(d, M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token")))
    return text(c, MHD_HTTP_FORBIDDEN, "a token is required: use the URL tunelua printed\n");
  if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
    return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", d->page, d->page_len, NULL, NULL);
  if (!strcmp(url, "/api/state")) {
    const char *poll_arg = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "poll");
    double poll = poll_arg ? strtod(poll_arg, NULL) : 0;
    pthread_mutex_lock(&d->mu);
    if (poll > 0 && poll < 1e9) d->poll_s = poll;
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
  /* MHD_USE_ITC: stop wakes the server thread through a pipe; at the
   * connection limit it no longer polls the listen socket, whose shutdown
   * was all that woke it (64 stalled clients held the run's end 30 s). */
  d->mhd = M->start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, (uint16_t)port, NULL, NULL, handle, d,
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

double tune_dashboard_idle(tune_dashboard_t *d, double *poll_s) {
  pthread_mutex_lock(&d->mu);
  double idle = d->requests ? mono_s() - d->last_at : -1;
  *poll_s = d->poll_s;
  pthread_mutex_unlock(&d->mu);
  return idle;
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
double tune_dashboard_idle(tune_dashboard_t *d, double *poll_s) { return *poll_s = 0, -1; }
void tune_dashboard_stop(tune_dashboard_t *d) { (void)d; }

#endif
