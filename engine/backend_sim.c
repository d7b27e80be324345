/// The simulator backend: the executor's real code on a virtual clock, with
/// in-process "workers" that speak the worker protocol and whose metrics
/// come from the host (tune_sim_host_t: the Lua curve, or a recorded
/// experiment). now(), timers and wait() advance virtual time at once, so
/// a thousand-trial experiment runs in seconds and runs the same every
/// time: everything scheduled happens in (time, order of scheduling).
///
/// A train request computes its results when it is sent (the host is
/// asked then, from the caller's context, never from inside wait()) and
/// delivers the reply `time_per_iteration` virtual seconds per result
/// later. Checkpoints are real directories holding the iteration count.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "backends.h"
#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "proto.h"

typedef enum { ITEM_DELIVER, ITEM_EXIT, ITEM_TIMER, ITEM_RESERVED } item_kind_t;

typedef struct {
  double t;
  uint64_t seq;
  item_kind_t kind;
  void *target;       ///< proc, timer or reservation
  uint64_t gen;       ///< timer generation (a stopped timer's items are stale)
  cJSON *msg;         ///< DELIVER: the message (owned)
} item_t;

typedef struct sim_backend {
  tune_backend_t base;
  tune_sim_host_t host;
  double clock;
  double tpi;              ///< virtual seconds per iteration
  double reserve_delay;    ///< > 0: reservations complete later (tests the engine's path)
  char *reserve_error;     ///< reservations that complete later fail with this
  item_t *heap;
  size_t n, cap;
  uint64_t seq;
  int64_t next_pid;
  size_t nprocs, ntimers;  ///< live, for destroy's leak check
  int in_host;             ///< > 0 while the host computes metrics (inside a request)
  tune_buf_t scratch;
} sim_backend_t;

struct tune_proc {
  sim_backend_t *b;
  tune_proc_cb_t cb;
  void *ud;
  int64_t pid;
  char *trial_id;
  int64_t iteration;
  double busy_until;       ///< replies go out in order: not before this
  int exiting;             ///< exit scheduled (stop or kill): no more replies
  int exited;
  size_t pending;          ///< heap items that point here
  char *failure;           ///< the host failed after a batch's first results: the next request's reply
};

struct tune_timer {
  sim_backend_t *b;
  void (*cb)(void *ud);
  void *ud;
  uint64_t gen;
  int freed;
  size_t pending;
};

/* ------------------------------------------------------------------------ */
/* The schedule: a binary heap on (time, sequence)                          */
/* ------------------------------------------------------------------------ */

static int before(const item_t *a, const item_t *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void schedule(sim_backend_t *b, item_t it) {
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->heap = tune_xrealloc(b->heap, b->cap * sizeof *b->heap);
  }
  it.seq = ++b->seq;
  size_t i = b->n++;
  while (i > 0 && before(&it, &b->heap[(i - 1) / 2])) {
    b->heap[i] = b->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  b->heap[i] = it;
}

static item_t pop(sim_backend_t *b) {
  item_t top = b->heap[0];
  item_t last = b->heap[--b->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= b->n) break;
    if (c + 1 < b->n && before(&b->heap[c + 1], &b->heap[c])) c++;
    if (!before(&b->heap[c], &last)) break;
    b->heap[i] = b->heap[c];
    i = c;
  }
  if (b->n) b->heap[i] = last;
  return top;
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

static void proc_maybe_free(tune_proc_t *p) {
  if (!p->exited || p->pending) return;
  p->b->nprocs--;
  free(p->trial_id);
  free(p->failure);
  free(p);
}

/// Queues one reply `delay` virtual seconds after the previous one (the
/// proc owns msg now).
static void reply_msg(tune_proc_t *p, double delay, cJSON *msg) {
  sim_backend_t *b = p->b;
  double t = (p->busy_until > b->clock ? p->busy_until : b->clock) + delay;
  p->busy_until = t;
  item_t it = {t, 0, ITEM_DELIVER, p, 0, msg};
  p->pending++;
  schedule(b, it);
}

/// A message of `type`, for the caller to complete and send (reply_msg).
static cJSON *message(const char *type) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddItemToObjectCS(m, "type", cJSON_CreateStringReference(type));
  return m;
}

/// A reply of `type` to request `re`.
static cJSON *answer(const char *type, uint64_t re) {
  cJSON *m = message(type);
  cJSON_AddItemToObjectCS(m, "re", tune_json_new_int((int64_t)re));
  return m;
}

/// A reply that is only its type and the request it answers.
static void reply_to(tune_proc_t *p, const char *type, uint64_t re) { reply_msg(p, 0, answer(type, re)); }

static void schedule_exit(tune_proc_t *p, int signal) {
  if (p->exiting) return;
  p->exiting = 1;
  sim_backend_t *b = p->b;
  item_t it = {signal ? b->clock : (p->busy_until > b->clock ? p->busy_until : b->clock), 0, ITEM_EXIT, p,
               (uint64_t)signal, NULL};
  p->pending++;
  schedule(b, it);
}

static void reply_error(tune_proc_t *p, uint64_t id, const char *msg) {
  cJSON *m = answer("error", id);
  cJSON_AddItemToObjectCS(m, "message", cJSON_CreateString(msg));
  reply_msg(p, 0, m);
}

static double wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/// How long the iteration of metrics `m` takes on the virtual clock: its
/// own time_this_iter_s when it reports one (a replayed recording, a curve
/// that models time), else time_per_iteration. -1 when the one it reports
/// is no such time (the result's time fields would disagree with the
/// clock): the trial fails, naming it.
static double step_of(const sim_backend_t *b, const cJSON *m) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "time_this_iter_s");
  if (!t) return b->tpi;
  if (cJSON_IsNumber(t) && isfinite(t->valuedouble) && t->valuedouble >= 0 && t->valuedouble <= 1e9)
    return t->valuedouble;
  return -1;
}

/// A train request: up to n results from the host, each one iteration's
/// time after the one before (step_of), in one reply.
static void train(tune_proc_t *p, uint64_t id, long n) {
  sim_backend_t *b = p->b;
  if (p->failure) {
    /* The host failed after the results of the last batch: as a worker's
       trainable raising after them, its error answers this request. */
    reply_error(p, id, p->failure);
    free(p->failure);
    p->failure = NULL;
    return;
  }
  /* The reply is the message a worker would send, made as a tree: the
     host's metrics are never written as text and parsed again. */
  cJSON *msg = answer("result", id);
  cJSON *results = cJSON_CreateArray();
  cJSON_AddItemToObjectCS(msg, "results", results);
  long made = 0;
  int finished = 0;
  double busy = 0;
  for (; made < (n < 1 ? 1 : n); made++) {
    cJSON *m = NULL;
    tune_buf_reset(&b->scratch);
    b->in_host++;
    int rc = b->host.metrics(b->host.ud, p->trial_id ? p->trial_id : "", p->iteration + 1, &m, &b->scratch);
    b->in_host--;
    if (rc > 0 && !cJSON_IsObject(m)) {
      /* A Lua list (or a table the converter made an array) is no
         result: say so as for any other wrong return, before the
         executor would call it a malformed message. */
      cJSON_Delete(m);
      tune_buf_reset(&b->scratch);
      tune_buf_printf(&b->scratch, "the simulator's curve returned a list, not a table of metrics or nil");
      rc = -1;
    }
    if (rc < 0) {
      tune_buf_putc(&b->scratch, '\0');
      if (made > 0) { /* the batch's results first, the failure next */
        p->failure = tune_xstrdup(b->scratch.data);
        break;
      }
      reply_error(p, id, b->scratch.data);
      cJSON_Delete(msg);
      return;
    }
    if (rc == 0) {
      finished = 1;
      break;
    }
    double step = step_of(b, m);
    if (step < 0) {
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "time_this_iter_s");
      tune_buf_reset(&b->scratch);
      if (cJSON_IsNumber(t)) tune_buf_printf(&b->scratch, isnan(t->valuedouble) ? "NaN" : "%g", t->valuedouble);
      else tune_buf_printf(&b->scratch, "%s", cJSON_IsString(t) ? "a string" : cJSON_IsBool(t) ? "a boolean"
                           : cJSON_IsNull(t) ? "null" : "a table");
      tune_buf_putc(&b->scratch, '\0');
      char why[200];
      snprintf(why, sizeof why, "the simulated trial reported time_this_iter_s = %.60s: an iteration's virtual "
               "seconds must be a number in [0, 1e9]", b->scratch.data);
      cJSON_Delete(m);
      if (made > 0) { /* the batch's results first, the failure next */
        p->failure = tune_xstrdup(why);
        break;
      }
      reply_error(p, id, why);
      cJSON_Delete(msg);
      return;
    }
    p->iteration++;
    cJSON *item = cJSON_CreateObject();
    busy += step;
    cJSON_AddItemToObjectCS(item, "m", m);
    cJSON_AddItemToObjectCS(item, "dt", tune_json_new_int(llround(step * 1e9)));
    cJSON_AddItemToObjectCS(item, "ts", tune_json_new_int(llround(wall_ms())));
    cJSON_AddItemToArray(results, item);
  }
  cJSON_AddItemToObjectCS(msg, "finished", cJSON_CreateBool(finished));
  reply_msg(p, busy, msg);
}

static void save(tune_proc_t *p, uint64_t id, const char *dir) {
  char *path = tune_fs_join(dir, "sim_state.json");
  char text[64];
  int len = snprintf(text, sizeof text, "{\"iteration\":%lld}\n", (long long)p->iteration);
  int rc = tune_fs_write_replace(path, text, (size_t)len);
  free(path);
  if (rc < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "cannot write the simulated checkpoint: %s", strerror(-rc));
    reply_error(p, id, msg);
    return;
  }
  reply_to(p, "saved", id);
}

static void restore(tune_proc_t *p, uint64_t id, const char *dir) {
  char *path = tune_fs_join(dir, "sim_state.json"), *text = NULL;
  size_t len;
  int rc = tune_fs_read(path, 4096, &text, &len);
  free(path);
  cJSON *s = rc == 0 ? tune_json_parse(text, len, NULL, 0) : NULL;
  free(text);
  if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "iteration"))) {
    cJSON_Delete(s);
    reply_error(p, id, "not a simulated checkpoint (no sim_state.json)");
    return;
  }
  p->iteration = (int64_t)tune_json_get_number(s, "iteration", 0);
  cJSON_Delete(s);
  reply_to(p, "restored", id);
}

/// A start or reset request named the trial `id` (`n` bytes): the worker
/// serves it from iteration 1, and says it is ready.
static void set_trial(tune_proc_t *p, uint64_t req, const char *id, size_t n, int reset) {
  free(p->failure); /* a new start: what the last one failed with is no more */
  p->failure = NULL;
  free(p->trial_id);
  p->trial_id = tune_xstrndup(id, n);
  p->iteration = 0;
  cJSON *m = answer(reset ? "reset" : "ready", req);
  if (reset) cJSON_AddItemToObjectCS(m, "ok", cJSON_CreateTrue());
  reply_msg(p, 0, m);
}

/* The executor writes every request as {"type":"T","id":N, then its body's
   keys in a fixed order (docs/protocol.md, engine/worker.c). The requests
   a simulated worker gets for every result and every trial are read from
   that prefix, without the JSON parser; any line that does not have the
   expected shape is parsed as before. */

/// The text at *p starts with `lit` (n bytes): *p moves past it.
static int skip(const char **p, const char *end, const char *lit, size_t n) {
  if ((size_t)(end - *p) < n || memcmp(*p, lit, n)) return 0;
  *p += n;
  return 1;
}

/// Up to `max` decimal digits at *p into *v (at least one).
static int digits(const char **p, const char *end, int max, uint64_t *v) {
  int k = 0;
  for (*v = 0; *p < end && **p >= '0' && **p <= '9' && k < max; (*p)++, k++) *v = *v * 10 + (uint64_t)(**p - '0');
  return k > 0;
}

#define SKIP(p, end, lit) skip(p, end, lit, sizeof lit - 1)

/// {"type":"train","id":N,"n":M... with whole numbers: 1 with id and n
/// (one such request per simulated result at buffer length 1).
static int scan_train(const char *line, size_t len, uint64_t *id, long *n) {
  const char *p = line, *end = line + len;
  uint64_t m;
  if (!SKIP(&p, end, "{\"type\":\"train\",\"id\":") || !digits(&p, end, 19, id) || !SKIP(&p, end, ",\"n\":") ||
      !digits(&p, end, 9, &m))
    return 0;
  (void)SKIP(&p, end, ".0");
  if (p == end || (*p != ',' && *p != '}')) return 0;
  *n = (long)m;
  return 1;
}

/// {"type":"start"|"reset","id":N,"v":V,"trial_id":"...", then the config
/// and the trainable, which a simulated worker does not use: 1 with
/// *reset, *id and the trial id (in the line, *idlen bytes); an id with
/// escapes is left to the parser.
static int scan_start(const char *line, size_t len, int *reset, uint64_t *id, const char **trial_id,
                      size_t *idlen) {
  const char *p = line, *end = line + len;
  if (SKIP(&p, end, "{\"type\":\"start\",\"id\":")) *reset = 0;
  else if (SKIP(&p, end, "{\"type\":\"reset\",\"id\":")) *reset = 1;
  else return 0;
  if (!digits(&p, end, 19, id) || !SKIP(&p, end, ",\"v\":")) return 0;
  while (p < end && ((*p >= '0' && *p <= '9') || *p == '.')) p++;
  if (!SKIP(&p, end, ",\"trial_id\":\"")) return 0;
  const char *q = p;
  while (q < end && *q != '"' && *q != '\\') q++;
  if (q == end || *q != '"') return 0;
  *trial_id = p;
  *idlen = (size_t)(q - p);
  return 1;
}

/// One request line from the executor.
static void request(tune_proc_t *p, const char *line, size_t len) {
  uint64_t tid;
  long tn;
  int reset;
  const char *trial_id;
  size_t idlen;
  if (scan_train(line, len, &tid, &tn)) {
    train(p, tid, tn);
    return;
  }
  if (scan_start(line, len, &reset, &tid, &trial_id, &idlen)) {
    set_trial(p, tid, trial_id, idlen, reset);
    return;
  }
  cJSON *msg = tune_json_parse(line, len, NULL, 0);
  const char *type = tune_json_get_string(msg, "type");
  uint64_t id = (uint64_t)tune_json_get_number(msg, "id", 0);
  if (!type) {
    reply_error(p, id, "malformed request");
  } else if (!strcmp(type, "start") || !strcmp(type, "reset")) {
    const char *trial = tune_json_get_string(msg, "trial_id");
    set_trial(p, id, trial ? trial : "", trial ? strlen(trial) : 0, type[0] == 'r');
  } else if (!strcmp(type, "train")) {
    train(p, id, (long)tune_json_get_number(msg, "n", 1));
  } else if (!strcmp(type, "save")) {
    save(p, id, tune_json_get_string(msg, "dir"));
  } else if (!strcmp(type, "restore")) {
    restore(p, id, tune_json_get_string(msg, "dir"));
  } else if (!strcmp(type, "stop")) {
    reply_to(p, "stopped", id);
    schedule_exit(p, 0);
  } else {
    reply_error(p, id, "unknown request type");
  }
  cJSON_Delete(msg);
}

static int sim_spawn(tune_backend_t *base, const tune_spawn_t *o, const tune_proc_cb_t *cb, void *ud,
                     tune_proc_t **out) {
  (void)o;
  /* Replies are handed over as trees only (backend.h). */
  if (!cb->on_message) return -EINVAL;
  sim_backend_t *b = (sim_backend_t *)base;
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->cb = *cb;
  p->ud = ud;
  p->pid = ++b->next_pid;
  b->nprocs++;
  cJSON *hello = message("hello");
  cJSON_AddItemToObjectCS(hello, "v", tune_json_new_int(TUNE_PROTOCOL_VERSION));
  cJSON_AddItemToObjectCS(hello, "pid", tune_json_new_int(p->pid));
  cJSON_AddItemToObjectCS(hello, "hostname", cJSON_CreateStringReference("sim"));
  cJSON_AddItemToObjectCS(hello, "node_ip", cJSON_CreateStringReference("127.0.0.1"));
  reply_msg(p, 0, hello);
  *out = p;
  return 0;
}

static int sim_send(tune_proc_t *p, const char *data, size_t len) {
  if (p->exiting) return -EPIPE;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    if (n) request(p, data, n);
    if (!nl) break;
    data += n + 1;
    len -= n + 1;
  }
  return 0;
}

static int sim_kill(tune_proc_t *p) {
  schedule_exit(p, 9);
  return 0;
}

static int64_t sim_pid(const tune_proc_t *p) { return p->pid; }

/* ------------------------------------------------------------------------ */
/* Clock and timers                                                         */
/* ------------------------------------------------------------------------ */

static double sim_now(tune_backend_t *base) { return ((sim_backend_t *)base)->clock; }

static tune_timer_t *sim_timer_new(tune_backend_t *base, void (*cb)(void *), void *ud) {
  sim_backend_t *b = (sim_backend_t *)base;
  tune_timer_t *t = tune_xcalloc(1, sizeof *t);
  t->b = b;
  t->cb = cb;
  t->ud = ud;
  b->ntimers++;
  return t;
}

static void sim_timer_start(tune_timer_t *t, double s) {
  sim_backend_t *b = t->b;
  t->gen++;
  item_t it = {b->clock + (s > 0 ? (s < TUNE_MAX_WAIT_S ? s : TUNE_MAX_WAIT_S) : 0), 0, ITEM_TIMER, t, t->gen, NULL};
  t->pending++;
  schedule(b, it);
}

static void sim_timer_stop(tune_timer_t *t) { t->gen++; }

static void timer_maybe_free(tune_timer_t *t) {
  if (!t->freed || t->pending) return;
  t->b->ntimers--;
  free(t);
}

static void sim_timer_free(tune_timer_t *t) {
  if (!t) return;
  t->gen++;
  t->freed = 1;
  timer_maybe_free(t);
}

/* ------------------------------------------------------------------------ */
/* Waiting: time moves to the next scheduled item                           */
/* ------------------------------------------------------------------------ */

static void run_item(sim_backend_t *b, item_t *it) {
  switch (it->kind) {
    case ITEM_DELIVER: {
      tune_proc_t *p = it->target;
      p->pending--;
      if (!p->exited) p->cb.on_message(p->ud, it->msg);
      else cJSON_Delete(it->msg);
      proc_maybe_free(p);
      break;
    }
    case ITEM_EXIT: {
      tune_proc_t *p = it->target;
      p->pending--;
      if (!p->exited) {
        p->exited = 1;
        for (int s = 0; s < 3; s++) p->cb.on_data(p->ud, s, NULL, 0);
        tune_exit_t e = {0, (int)it->gen, NULL, NULL};
        p->cb.on_exit(p->ud, &e);
      }
      proc_maybe_free(p);
      break;
    }
    case ITEM_TIMER: {
      tune_timer_t *t = it->target;
      t->pending--;
      if (!t->freed && it->gen == t->gen) t->cb(t->ud);
      timer_maybe_free(t);
      break;
    }
    case ITEM_RESERVED: {
      tune_reservation_t *r = it->target;
      if (!r) break; /* cancelled */
      if (b->reserve_error) r->done(r, -EINVAL, b->reserve_error);
      else r->done(r, 0, NULL);
      break;
    }
  }
}

/// A reply to a dead worker, or a cancelled reservation, is no event.
static int live(const item_t *it) {
  if (it->kind == ITEM_DELIVER || it->kind == ITEM_EXIT) return !((tune_proc_t *)it->target)->exited;
  if (it->kind == ITEM_TIMER) {
    const tune_timer_t *t = it->target;
    return !t->freed && it->gen == t->gen;
  }
  return it->target != NULL;
}

static int sim_wait(tune_backend_t *base, double timeout) {
  sim_backend_t *b = (sim_backend_t *)base;
  /* As the local backend's (and its timers'): a clock pushed to 1e17 by
     one wait no longer moved by an iteration's second (time budgets
     stopped working). */
  if (timeout > TUNE_MAX_WAIT_S) timeout = TUNE_MAX_WAIT_S;
  /* A host that waits (the Lua binding refuses that: bindings/lexecutor.c)
     would run replies and exits under the request that asked it, and
     free the worker it serves: nothing runs then; only the clock moves,
     so that a caller waiting for a deadline ends. */
  if (b->in_host) {
    if (timeout > 0) b->clock += timeout;
    return 0;
  }
  double until = b->clock + (timeout > 0 ? timeout : 0);
  /* Nothing due within the timeout but something later: a real wait would
     time out, and the next, until that time; the clock goes there at once
     (one wait, not one per timeout: a trial's iteration of an hour would
     otherwise be 3,600 runner steps of nothing). */
  if (timeout > 0 && b->n && b->heap[0].t > until) until = b->heap[0].t;
  int ran = 0;
  /* Everything due at the earliest scheduled time, if it is within the
     timeout; the clock moves there (or to the timeout) at once. */
  while (b->n && b->heap[0].t <= until) {
    if (ran && b->heap[0].t > b->clock) break;
    item_t it = pop(b);
    if (it.t > b->clock) b->clock = it.t;
    int was_live = live(&it);
    run_item(b, &it);
    ran |= was_live;
  }
  if (!ran && timeout > 0 && until > b->clock) b->clock = until;
  return ran;
}

static void sim_wake(tune_backend_t *base) { (void)base; }

/* ------------------------------------------------------------------------ */
/* Reservations: the cluster model's arithmetic, optionally late            */
/* ------------------------------------------------------------------------ */

/// With reserve_error, a request fails later and holds nothing meanwhile.
static int sim_reserve(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  sim_backend_t *b = (sim_backend_t *)base;
  if (!b->reserve_error && tune_cluster_reserve(&base->cluster, f, &r->placement) < 0) return TUNE_RESERVE_NO_ROOM;
  if (b->reserve_delay <= 0 && !b->reserve_error) return TUNE_RESERVE_OK;
  item_t it = {b->clock + b->reserve_delay, 0, ITEM_RESERVED, r, 0, NULL};
  schedule(b, it);
  return TUNE_RESERVE_LATER;
}

static void sim_cancel(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  sim_backend_t *b = (sim_backend_t *)base;
  for (size_t i = 0; i < b->n; i++)
    if (b->heap[i].kind == ITEM_RESERVED && b->heap[i].target == r) b->heap[i].target = NULL;
  if (!b->reserve_error) tune_cluster_release(&base->cluster, f, &r->placement);
}

static void sim_release(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  tune_cluster_release(&base->cluster, f, &r->placement);
}

static int sim_destroy(tune_backend_t *base) {
  sim_backend_t *b = (sim_backend_t *)base;
  /* What is still scheduled can no longer happen. */
  while (b->n) {
    item_t it = pop(b);
    if (it.kind == ITEM_DELIVER) cJSON_Delete(it.msg);
    if (it.kind == ITEM_DELIVER || it.kind == ITEM_EXIT) {
      tune_proc_t *p = it.target;
      p->pending--;
      proc_maybe_free(p);
    } else if (it.kind == ITEM_TIMER) {
      tune_timer_t *t = it.target;
      t->pending--;
      timer_maybe_free(t);
    }
  }
  int leaked = b->nprocs || b->ntimers;
  free(b->heap);
  free(b->reserve_error);
  tune_buf_free(&b->scratch);
  tune_cluster_free(&b->base.cluster);
  free(b);
  return leaked ? -EBUSY : 0;
}

static const tune_backend_ops_t sim_ops = {
    .name = "sim",
    .caps = TUNE_BACKEND_VIRTUAL_TIME | TUNE_BACKEND_IN_PROCESS,
    .spawn = sim_spawn,
    .send = sim_send,
    .kill = sim_kill,
    .pid = sim_pid,
    .now = sim_now,
    .timer_new = sim_timer_new,
    .timer_start = sim_timer_start,
    .timer_stop = sim_timer_stop,
    .timer_free = sim_timer_free,
    .wait = sim_wait,
    .wake = sim_wake,
    .reserve = sim_reserve,
    .cancel = sim_cancel,
    .release = sim_release,
    .destroy = sim_destroy,
};

tune_backend_t *tune_backend_sim_new(const tune_backend_opts_t *o, char *err, size_t errlen) {
  if (!o->sim_host || !o->sim_host->metrics) {
    snprintf(err, errlen, "the sim backend needs a host for the metrics (a curve or a recorded experiment)");
    return NULL;
  }
  double tpi = tune_json_get_number(o->options, "time_per_iteration", 1);
  double delay = tune_json_get_number(o->options, "reserve_delay", 0);
  if (!(tpi >= 0 && tpi <= TUNE_MAX_WAIT_S) || !(delay >= 0 && delay <= TUNE_MAX_WAIT_S)) {
    snprintf(err, errlen, "the sim backend's time_per_iteration and reserve_delay must be in [0, 1e9] s");
    return NULL;
  }
  sim_backend_t *b = tune_xcalloc(1, sizeof *b);
  b->base.ops = &sim_ops;
  b->host = *o->sim_host;
  b->tpi = tpi;
  b->reserve_delay = delay;
  const char *rerr = tune_json_get_string(o->options, "reserve_error");
  b->reserve_error = rerr ? tune_xstrdup(rerr) : NULL;
  b->next_pid = 1000000;
  tune_cluster_init(&b->base.cluster);
  tune_cluster_add_node(&b->base.cluster, "sim", o->resources, o->gpu_ids, o->ngpu_ids);
  return &b->base;
}
