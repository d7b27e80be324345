/// The driver's side of worker processes (worker.h): spawning, requests,
/// and the input callbacks queue, handled later in tune_workers_dispatch().
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "trial.h"

void tune_workers_init(tune_workers_t *s, tune_backend_t *b, const tune_worker_hooks_t *hooks, void *ud,
                       size_t max_message_bytes, const int console_fd[2]) {
  memset(s, 0, sizeof *s);
  s->backend = b;
  s->hooks = *hooks;
  s->ud = ud;
  s->max_message_bytes = max_message_bytes;
  s->console_fd[0] = console_fd[0];
  s->console_fd[1] = console_fd[1];
}

void tune_workers_free(tune_workers_t *s) { tune_buf_free(&s->line); }

/* ------------------------------------------------------------------------ */
/* Backend callbacks: queue and return                                      */
/* ------------------------------------------------------------------------ */

static void enqueue(tune_worker_t *w) {
  if (w->queued) return;
  tune_workers_t *s = w->set;
  w->queued = 1;
  w->ready_next = NULL;
  if (s->ready_tail) s->ready_tail->ready_next = w;
  else s->ready_head = w;
  s->ready_tail = w;
}

static void on_data(void *ud, int stream, const char *data, size_t len) {
  tune_worker_t *w = ud;
  if (len == 0) w->eof[stream] = 1;
  else tune_buf_append(&w->in[stream], data, len);
  enqueue(w);
}

static void on_exit_cb(void *ud, const tune_exit_t *e) {
  tune_worker_t *w = ud;
  w->proc = NULL;
  w->exited = 1;
  w->exit.status = e->status;
  w->exit.signal = e->signal;
  w->exit.lost_node = e->lost_node ? tune_xstrdup(e->lost_node) : NULL;
  w->exit.reason = e->reason ? tune_xstrdup(e->reason) : NULL;
  enqueue(w);
}

static void kill_timer_cb(void *ud) {
  tune_worker_t *w = ud;
  w->kill_due = 1;
  enqueue(w);
}

static void on_message(void *ud, cJSON *msg) {
  tune_worker_t *w = ud;
  if (!w->inbox) w->inbox = cJSON_CreateArray();
  cJSON_AddItemToArray(w->inbox, msg);
  enqueue(w);
}

static const tune_proc_cb_t proc_cb = {on_data, on_exit_cb, on_message};

/* ------------------------------------------------------------------------ */
/* Spawning and requests                                                    */
/* ------------------------------------------------------------------------ */

tune_worker_t *tune_worker_spawn(tune_workers_t *s, const tune_worker_spawn_t *o, char *err, size_t errlen) {
  tune_worker_t *w = tune_xcalloc(1, sizeof *w);
  w->set = s;
  w->seq = ++s->next_seq;
  w->standby = o->placement == NULL;
  w->loader_key = tune_xstrdup(o->loader_key ? o->loader_key : "");
  tune_lines_init(&w->lines, s->max_message_bytes);
  tune_spawn_t so = {o->file, o->argv, o->env, o->cwd, 0, o->placement, o->pgf, o->fork_server};
  tune_backend_t *b = s->backend;
  int rc = b->ops->spawn(b, &so, &proc_cb, w, &w->proc);
  if (rc < 0) {
    snprintf(err, errlen, "could not start worker %s: %s", o->file, strerror(-rc));
    tune_lines_free(&w->lines);
    free(w->loader_key);
    free(w);
    return NULL;
  }
  s->nspawned++;
  s->nlive++;
  w->pid = b->ops->pid(w->proc);
  w->next = s->all;
  if (s->all) s->all->prev = w;
  s->all = w;
  return w;
}

static void end_partial_lines(tune_worker_t *w);

void tune_worker_attach(tune_worker_t *w, tune_trial_t *t) {
  if (w->trial == t) return;
  /* An unterminated last line belongs to the trial that printed it. */
  end_partial_lines(w);
  if (w->trial) {
    w->trial->worker = NULL;
    tune_trial_unref(w->trial);
  }
  w->trial = t ? tune_trial_ref(t) : NULL;
  if (t) {
    t->worker = w;
    free(w->loader_key);
    w->loader_key = tune_xstrdup(t->loader_key);
  }
}

static const char *const req_names[] = {"start", "train", "save", "restore", "reset", "stop"};

/// Sends the request in w->set->line (its header and fields written, not
/// yet closed) and queues its record.
static tune_req_t *send_line(tune_worker_t *w, tune_req_t *r) {
  tune_buf_t *line = &w->set->line;
  tune_buf_puts(line, "}\n");
  if (line->len - 1 > w->set->max_message_bytes) {
    /* The worker would refuse the line (a config of many megabytes). */
    char why[256];
    snprintf(why, sizeof why, "the %s request is %zu bytes, over the protocol's limit of %zu "
             "(TUNE_MAX_MESSAGE_BYTES): the trial's config is too large to send to a worker",
             req_names[r->kind], line->len - 1, w->set->max_message_bytes);
    tune_buf_free(line);
    tune_req_free(r);
    tune_worker_fault(w, why);
    return NULL;
  }
  if (w->corked) {
    tune_buf_append(&w->cork, line->data, line->len);
  } else {
    int rc = w->set->backend->ops->send(w->proc, line->data, line->len);
    if (rc < 0) {
      tune_req_free(r);
      return NULL;
    }
  }
  /* A huge config's line is not kept for the rest of the run. */
  if (line->cap > (1u << 20)) tune_buf_free(line);
  if (w->req_tail) w->req_tail->next = r;
  else w->req_head = r;
  w->req_tail = r;
  return r;
}

/// A new request record, its line's header written to w->set->line.
static tune_req_t *begin(tune_worker_t *w, tune_req_kind_t kind, tune_trial_t *t) {
  tune_req_t *r = tune_xcalloc(1, sizeof *r);
  r->id = ++w->next_req;
  r->kind = kind;
  r->trial = t ? tune_trial_ref(t) : NULL;
  tune_buf_t *line = &w->set->line;
  tune_buf_reset(line);
  tune_buf_puts(line, "{\"type\":\"");
  tune_buf_puts(line, req_names[kind]);
  tune_buf_puts(line, "\",\"id\":");
  tune_json_write_int(line, (int64_t)r->id);
  return r;
}

tune_req_t *tune_worker_request(tune_worker_t *w, tune_req_kind_t kind, tune_trial_t *t, cJSON *body) {
  if (!w->proc || w->fault) {
    cJSON_Delete(body);
    return NULL;
  }
  tune_req_t *r = begin(w, kind, t);
  tune_buf_t *line = &w->set->line;
  for (cJSON *c = body ? body->child : NULL; c; c = c->next) {
    tune_buf_putc(line, ',');
    tune_json_write_string(line, c->string, strlen(c->string));
    tune_buf_putc(line, ':');
    tune_json_write(line, c);
  }
  cJSON_Delete(body);
  return send_line(w, r);
}

tune_req_t *tune_worker_train(tune_worker_t *w, tune_trial_t *t, int64_t n, double window) {
  if (!w->proc || w->fault) return NULL;
  tune_req_t *r = begin(w, TUNE_REQ_TRAIN, t);
  tune_buf_t *line = &w->set->line;
  tune_buf_puts(line, ",\"n\":");
  tune_json_write_int(line, n);
  tune_buf_puts(line, ",\"window\":");
  tune_json_write_double(line, window);
  return send_line(w, r);
}

void tune_worker_cork(tune_worker_t *w) { w->corked = 1; }

int tune_worker_uncork(tune_worker_t *w) {
  if (!w->corked) return 0;
  w->corked = 0;
  if (!w->cork.len) return 0;
  int rc = w->proc && !w->fault ? w->set->backend->ops->send(w->proc, w->cork.data, w->cork.len) : -EPIPE;
  w->cork.len = 0;
  if (rc < 0) {
    char why[160];
    snprintf(why, sizeof why, "cannot write to the worker: %s", strerror(-rc));
    tune_worker_fault(w, why);
    return -1;
  }
  return 0;
}

tune_req_t *tune_worker_pop_request(tune_worker_t *w) {
  tune_req_t *r = w->req_head;
  if (!r) return NULL;
  w->req_head = r->next;
  if (!w->req_head) w->req_tail = NULL;
  r->next = NULL;
  return r;
}

void tune_req_free(tune_req_t *r) {
  if (!r) return;
  if (r->trial) tune_trial_unref(r->trial);
  free(r->tmp_dir);
  free(r->dir);
  free(r);
}

void tune_worker_kill(tune_worker_t *w) {
  w->stopping = 1;
  if (w->proc) w->set->backend->ops->kill(w->proc);
}

void tune_worker_fault(tune_worker_t *w, const char *what) {
  if (w->fault) return;
  w->fault = tune_xstrdup(what);
  tune_worker_kill(w);
}

/// Starts the worker's kill (or warning) timer, made on first use.
static void start_kill_timer(tune_worker_t *w, double s) {
  tune_backend_t *b = w->set->backend;
  if (!w->kill_timer) w->kill_timer = b->ops->timer_new(b, kill_timer_cb, w);
  b->ops->timer_start(w->kill_timer, s);
}

void tune_worker_stop(tune_worker_t *w, double force_after_s) {
  if (w->stopping) return;
  w->stopping = 1;
  if (!w->proc) return;
  if (!tune_worker_request(w, TUNE_REQ_STOP, NULL, NULL)) {
    tune_worker_kill(w);
    return;
  }
  /* Without a force-cleanup time the worker may take as long as it likes,
     as in the seed; but never silently: the same timer warns once. */
  tune_backend_t *b = w->set->backend;
  w->warn_only = force_after_s <= 0;
  /* A simulated worker stops once the iteration it computes ends, on the
     virtual clock, however long that is: nothing to warn about. */
  if (w->warn_only && (b->ops->caps & TUNE_BACKEND_VIRTUAL_TIME)) return;
  const char *warn = getenv("TUNE_STOP_WARN_S");
  double warn_s = warn && *warn ? strtod(warn, NULL) : TUNE_STOP_WARN_S;
  w->stop_asked_s = force_after_s > 0 ? force_after_s : (warn_s > 0 ? warn_s : TUNE_STOP_WARN_S);
  start_kill_timer(w, w->stop_asked_s);
}

void tune_worker_force_within(tune_worker_t *w, double force_after_s) {
  if (!w->stopping || !w->proc || !w->warn_only || force_after_s <= 0) return;
  w->warn_only = 0;
  start_kill_timer(w, force_after_s);
}

/* ------------------------------------------------------------------------ */
/* The trainable's own output                                               */
/* ------------------------------------------------------------------------ */

static void remember_stderr(tune_worker_t *w, const char *line, size_t len) {
  free(w->tail[w->tail_next]);
  w->tail[w->tail_next] = tune_xstrndup(line, len > 400 ? 400 : len);
  w->tail_next = (w->tail_next + 1) % TUNE_STDERR_TAIL;
}

char *tune_worker_stderr_tail(const tune_worker_t *w) {
  tune_buf_t b = TUNE_BUF_INIT;
  for (size_t i = 0; i < TUNE_STDERR_TAIL; i++) {
    const char *l = w->tail[(w->tail_next + i) % TUNE_STDERR_TAIL];
    if (!l) continue;
    tune_buf_puts(&b, l);
    tune_buf_putc(&b, '\n');
  }
  return b.len ? tune_buf_steal(&b) : (tune_buf_free(&b), NULL);
}

/// One finished line of output: remembered (stderr) and, without a log
/// file, printed with the "(name pid=N) " prefix.
static void output_line(tune_worker_t *w, int idx, const char *file, tune_buf_t *out, const char *line,
                        size_t len) {
  if (idx == 1) remember_stderr(w, line, len);
  if (file) return;
  tune_buf_printf(out, "(%s pid=%lld) ", w->trial ? w->trial->name : "worker", (long long)w->pid);
  tune_buf_append(out, line, len);
  tune_buf_putc(out, '\n');
}

/// Trainable output: to its log file as it comes, and split into lines for
/// the stderr tail and the console.
static void route_output(tune_worker_t *w, int stream, const char *data, size_t len, int eof) {
  int idx = stream == TUNE_STREAM_STDOUT ? 0 : 1;
  tune_buf_t *partial = &w->partial[idx];
  const char *file = NULL;
  if (w->trial) file = idx == 0 ? w->trial->stdout_file : w->trial->stderr_file;
  if (file && len) {
    int rc = tune_fs_append(file, data, len, 0);
    if (rc < 0) TUNE_WARN("cannot write trial output to %s: %s", file, strerror(-rc));
  }
  tune_buf_t out = TUNE_BUF_INIT;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t part = nl ? (size_t)(nl - data) : len;
    size_t room = TUNE_CONSOLE_LINE_MAX - partial->len;
    if (part >= room) {
      /* No newline for too long: print what we have as a line. */
      tune_buf_append(partial, data, room);
      output_line(w, idx, file, &out, partial->data, partial->len);
      tune_buf_reset(partial);
      data += room;
      len -= room;
      continue;
    }
    tune_buf_append(partial, data, part);
    if (!nl) break;
    output_line(w, idx, file, &out, partial->data, partial->len);
    tune_buf_reset(partial);
    data += part + 1;
    len -= part + 1;
  }
  if (eof && partial->len) {
    /* End of stream: an unterminated last line still counts. */
    output_line(w, idx, file, &out, partial->data, partial->len);
    tune_buf_reset(partial);
  }
  if (out.len) tune_fs_write_all(w->set->console_fd[idx], out.data, out.len);
  tune_buf_free(&out);
}

/// The unterminated lines of both streams, ended for the trial attached
/// now (in its file already, or printed with its prefix).
static void end_partial_lines(tune_worker_t *w) {
  for (int idx = 0; idx < 2; idx++) {
    tune_buf_t *partial = &w->partial[idx];
    if (!partial->len) continue;
    const char *file = NULL;
    if (w->trial) file = idx == 0 ? w->trial->stdout_file : w->trial->stderr_file;
    tune_buf_t out = TUNE_BUF_INIT;
    output_line(w, idx, file, &out, partial->data, partial->len);
    tune_buf_reset(partial);
    if (out.len) tune_fs_write_all(w->set->console_fd[idx], out.data, out.len);
    tune_buf_free(&out);
  }
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

/// An `output` message (the trainable's output over a channel that also
/// carries the protocol): routed as if it came on its own stream. 1 when
/// `line` was one.
static int output_message(tune_worker_t *w, const char *line, size_t len) {
  static const char prefix[] = "{\"type\":\"output\"";
  if (len < sizeof prefix - 1 || memcmp(line, prefix, sizeof prefix - 1)) return 0;
  cJSON *m = tune_json_parse(line, len, NULL, 0);
  const char *stream = tune_json_get_string(m, "stream");
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(m, "data");
  int known = stream && (!strcmp(stream, "stdout") || !strcmp(stream, "stderr"));
  if (known && cJSON_IsString(data))
    route_output(w, stream[3] == 'o' ? TUNE_STREAM_STDOUT : TUNE_STREAM_STDERR, data->valuestring,
                 strlen(data->valuestring), 0);
  else
    w->set->hooks.on_fault(w->set->ud, w, "malformed output message (stream \"stdout\" or \"stderr\" and "
                                          "string data expected)");
  cJSON_Delete(m);
  return 1;
}

static int on_line(void *ud, const char *line, size_t len) {
  tune_worker_t *w = ud;
  if (w->fault) return 1;
  if (output_message(w, line, len)) return w->fault ? 1 : 0;
  w->set->hooks.on_line(w->set->ud, w, line, len);
  return w->fault ? 1 : 0;
}

static void protocol_input(tune_worker_t *w) {
  tune_workers_t *s = w->set;
  tune_buf_t *in = &w->in[TUNE_STREAM_PROTOCOL];
  if (in->len && !w->fault) {
    int rc = tune_lines_feed(&w->lines, in->data, in->len, on_line, w);
    if (rc == -E2BIG) {
      char what[128];
      snprintf(what, sizeof what, "message longer than the limit of %zu bytes (TUNE_MAX_MESSAGE_BYTES)",
               s->max_message_bytes);
      s->hooks.on_fault(s->ud, w, what);
    }
  }
  tune_buf_reset(in);
  cJSON *msg;
  while (w->inbox && (msg = w->inbox->child)) {
    cJSON_DetachItemViaPointer(w->inbox, msg);
    if (w->fault) cJSON_Delete(msg);
    else s->hooks.on_message(s->ud, w, msg);
  }
  if (w->eof[TUNE_STREAM_PROTOCOL] && !w->eof_done[TUNE_STREAM_PROTOCOL]) {
    w->eof_done[TUNE_STREAM_PROTOCOL] = 1;
    if (tune_lines_pending(&w->lines) && !w->fault)
      s->hooks.on_fault(s->ud, w, "protocol stream ended in the middle of a message");
  }
}

static void worker_free(tune_worker_t *w) {
  tune_workers_t *s = w->set;
  if (w->prev) w->prev->next = w->next;
  else if (s->all == w) s->all = w->next;
  if (w->next) w->next->prev = w->prev;
  s->nlive--;
  tune_req_t *r;
  while ((r = tune_worker_pop_request(w))) tune_req_free(r);
  tune_worker_attach(w, NULL);
  if (w->kill_timer) s->backend->ops->timer_free(w->kill_timer);
  tune_lines_free(&w->lines);
  for (int i = 0; i < 3; i++) tune_buf_free(&w->in[i]);
  cJSON_Delete(w->inbox);
  tune_buf_free(&w->cork);
  tune_buf_free(&w->partial[0]);
  tune_buf_free(&w->partial[1]);
  for (size_t i = 0; i < TUNE_STDERR_TAIL; i++) free(w->tail[i]);
  free((char *)w->exit.lost_node);
  free((char *)w->exit.reason);
  free(w->hostname);
  free(w->node_ip);
  free(w->loader_key);
  free(w->fault);
  free(w);
}

/// Everything queued for one worker, in order: protocol lines, output, and
/// last its exit (the backend reports an exit after the streams drained).
static void handle(tune_worker_t *w) {
  tune_workers_t *s = w->set;
  protocol_input(w);
  for (int stream = TUNE_STREAM_STDOUT; stream <= TUNE_STREAM_STDERR; stream++) {
    tune_buf_t *in = &w->in[stream];
    int eof = w->eof[stream] && !w->eof_done[stream];
    if (in->len || eof) route_output(w, stream, in->data, in->len, eof);
    tune_buf_reset(in);
    if (eof) w->eof_done[stream] = 1;
  }
  if (w->kill_due && w->warn_only) {
    w->kill_due = 0;
    if (w->proc && !w->exited) {
      const char *name = w->trial && w->trial->name ? w->trial->name : "a worker";
      TUNE_WARN("%s (pid %lld) has not stopped %g s after it was asked to: its trainable ignores stop or its "
                "cleanup is slow. Waiting on; TUNE_FORCE_TRIAL_CLEANUP_S=<seconds> kills such a worker, and a "
                "second Ctrl-C ends the experiment now.",
                name, (long long)w->pid, w->stop_asked_s);
    }
  }
  if (w->kill_due) {
    w->kill_due = 0;
    if (w->proc) {
      TUNE_DEBUG("worker %lld did not stop in time: killing it", (long long)w->pid);
      s->backend->ops->kill(w->proc);
    }
  }
  if (w->exited) {
    s->hooks.on_exit(s->ud, w, &w->exit);
    worker_free(w);
  }
}

int tune_workers_dispatch(tune_workers_t *s) {
  int any = 0;
  tune_worker_t *w;
  while ((w = s->ready_head)) {
    s->ready_head = w->ready_next;
    if (!s->ready_head) s->ready_tail = NULL;
    w->queued = 0;
    w->ready_next = NULL;
    handle(w);
    any = 1;
  }
  return any;
}
