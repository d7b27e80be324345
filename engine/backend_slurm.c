/// The Slurm backend: trials are Slurm job steps, placement groups are
/// placements on Slurm nodes, and Slurm enforces CPUs, GPUs and licenses
/// (docs/guide/slurm.md). Processes are the local backend's (posix_spawn of
/// srun or salloc, pipes, pidfd), created with kill_pid_only: kill is
/// SIGKILL to the srun pid, never its group, whose helper then cancels the
/// step.
///
/// Inside an allocation (SLURM_JOB_ID set) the cluster is the allocation's
/// nodes and CPUs (and GPUs); the engine places bundles by its strategies
/// and a worker is `srun --exact -N1 -n1 -c<cpus> -w <node> -u ...`.
/// Bundles take whole CPUs (srun -c), and the driver's own step, when it
/// runs in one, keeps what it holds. A node that fails shrinks the
/// allocation, and Slurm then never gives the CPUs of the steps that ran
/// at that moment to a new step: those are counted gone as the steps end,
/// and when a trial can no longer fit what remains the experiment stops as
/// on SIGUSR1 (saved, for --resume in a new allocation).
/// Outside one, each placement group becomes a job of its own: `salloc`
/// running `sh -c 'echo $SLURM_JOB_ID; exec cat'` with its stdin held by
/// the driver, so the reservation completes when the job starts (the job
/// id arrives on its stdout), and the job ends when the driver closes that
/// pipe or dies. Workers then run as steps of that job (`srun --jobid`).
/// The jobs share a name unique to the run: `scancel --name` at the end
/// takes any still pending, and salloc gets SIGTERM when the driver dies
/// (setpriv --pdeathsig), which withdraws its request.
///
/// The protocol does not go through srun's stdio relay (which holds small
/// lines for up to 40 ms: docs/benchmarks.md): each worker connects back
/// to the driver over TCP (channel.c) with the token of its spawn, and
/// srun's stdout carries only the trainable's own output. `channel =
/// "stdio"` keeps the relay.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "backends.h"
#include "channel.h"
#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "slurm_nodes.h"
#include "slurm_place.h"
#include "slurm_query.h"

typedef struct slurm_alloc slurm_alloc_t;

/// A scancel the driver started: a process of the loop, never waited for
/// in it (a slurmctld that does not answer makes scancel retry for tens of
/// seconds), ended after CANCEL_S.
typedef struct cancel {
  tune_proc_t *p;               ///< NULL once it exited
  char *what;                   ///< its argument: a job id, or --name=...
  int ok;                       ///< it exited 0: Slurm took the request
  tune_timer_t *timer;          ///< ends it after CANCEL_S
  struct cancel *next;
} cancel_t;

/// Seconds a scancel may take: Slurm answers one in well under a second.
#define CANCEL_S 5.0

/// A group with whole CPUs, by its factory's key.
typedef struct whole {
  char *key;
  tune_pgf_t *f;
  struct whole *next;
} whole_t;

/// A reservation refused after the allocation could no longer hold it.
typedef struct refused {
  tune_reservation_t *r;
  char *why;
  struct refused *next;
} refused_t;

typedef struct {
  tune_backend_t base;          ///< its cluster: the allocation's or the partition's nodes
  tune_backend_t *local;        ///< owned: the processes
  int in_allocation;
  char *job_id;                 ///< the allocation (inside one)
  char *partition, *account, *time_limit, *qos;
  char **srun_args;             ///< extra arguments for every srun and salloc
  size_t nsrun_args;
  tune_res_t licenses;          ///< cluster-wide counts (custom resources)
  tune_res_t licenses_free;
  int *lost;                    ///< per node: lost (down), nothing goes there
  char *lost_names;             ///< those nodes, comma-separated (salloc --exclude)
  int shrunk;                   ///< inside an allocation: a node of it was lost
  tune_res_t *gone;             ///< per node: what Slurm keeps from new steps since the shrink
  tune_res_t *debt;             ///< per node: the part of `gone` not yet taken from `avail`
  int gave_up;                  ///< the allocation can no longer run a waiting trial
  refused_t *refused;           ///< reservations to fail in the next wait
  tune_proc_t *procs;           ///< live workers (steps)
  tune_proc_t **resolve;        ///< ended workers whose job met a node failure: which node, after the wait
  size_t nresolve;
  whole_t *whole;               ///< groups with whole CPUs
  slurm_alloc_t *allocs;        ///< outside an allocation: one per reserving or reserved group
  int work;                     ///< a salloc reported: handle it after the wait
  char *job_name;               ///< outside an allocation: the name of every job of this run
  int submitted;                ///< a salloc was started (scancel --name at the end)
  cancel_t *cancels;            ///< the scancels started
  double step_start_s;          ///< warn about a step not started after this long
  char *hide_probe_from;        ///< test-only: one node must not see the probe
  char *srun, *salloc, *scancel; ///< their paths (posix_spawn does not search PATH)
  char *setpriv;                ///< its path, or NULL (a driver killed with -9 then leaves a queued job)
  tune_chan_server_t *chans;    ///< workers' protocol channels; NULL with channel = "stdio"
  char *driver_host;            ///< the address workers connect to; NULL: srun's launch address
} slurm_backend_t;

struct slurm_alloc {
  slurm_backend_t *b;
  tune_reservation_t *r;        ///< the request; NULL once given back
  const tune_pgf_t *f;
  tune_proc_t *salloc;          ///< NULL once it exited
  char *job_id;
  tune_buf_t out;               ///< salloc's stdout (the job id line)
  tune_buf_t err;               ///< its stderr: the current line
  char *error;                  ///< its first "error:" line, or else its last line
  char *lost_node;              ///< the node whose failure ended the job ("Node failure on n3")
  int granted, exited, reported, released;
  slurm_alloc_t *next;
};

/// A worker (srun) or a salloc, over the local backend's process.
struct tune_proc {
  slurm_backend_t *b;
  tune_proc_t *lp;
  tune_proc_cb_t cb;
  void *ud;
  slurm_alloc_t *alloc;         ///< a salloc of this allocation, else NULL
  int is_cancel;                ///< a scancel
  cancel_t *cancel;             ///< its record, while there is one
  tune_buf_t err_line;          ///< srun's stderr, the current line
  char *lost_node;
  char *job_id;                 ///< outside an allocation: its job
  char *job_nodes;              ///< and that job's nodes, comma-separated
  int resolving;                ///< its job met a node failure: 1 queued (which node is asked after the wait), 2 asked
  char *reason;                 ///< srun's last "srun: error:" line
  char *stepd;                  ///< slurmstepd's last "*** ... ***" line (a cancel, a time limit)
  char *last_err;               ///< the step's own last stderr line before its channel opened
  char *why;                    ///< the backend's own account, first of all
  tune_proc_t *prev, *next;     ///< the live workers
  size_t node;                  ///< where its step runs
  int64_t cpu, memory;          ///< what its step holds there (fixed point)
  int held;                     ///< it ran when the allocation shrank: its CPUs are gone when it ends
  int started;                  ///< anything came from the step
  int abandoned;                ///< its step will never start: nothing more is sent
  tune_timer_t *start_timer;    ///< warns when the step does not start
  tune_chan_t *chan;            ///< the protocol, when it comes over TCP
  int srun_exited;              ///< srun ended; the channel still open
  tune_exit_t exit;             ///< how (status and signal)
  tune_timer_t *linger;         ///< bounds the wait for the channel's end
};

/// Seconds a channel may stay open after its srun ended.
#define CHANNEL_LINGER_S 2.0

/* ------------------------------------------------------------------------ */
/* Nodes and licenses                                                       */
/* ------------------------------------------------------------------------ */

static ssize_t node_index(const tune_cluster_t *c, const char *name) {
  for (size_t i = 0; i < c->nnodes; i++)
    if (!strcmp(c->nodes[i].name, name)) return (ssize_t)i;
  return -1;
}

/// A lost node takes nothing more: what is free on it is taken for good.
static void zero_lost(slurm_backend_t *b) {
  tune_cluster_t *c = &b->base.cluster;
  for (size_t i = 0; i < c->nnodes; i++) {
    if (!b->lost[i]) continue;
    tune_res_free(&c->nodes[i].avail);
    tune_res_init(&c->nodes[i].avail);
    for (size_t g = 0; g < c->nodes[i].ngpus; g++) c->nodes[i].gpu_free[g] = 0;
  }
}

/// Takes what is gone from node i out of what is free there, as far as it
/// is free now; the rest when it comes back (a release).
static void pay_debt(slurm_backend_t *b, size_t i) {
  tune_res_t *avail = &b->base.cluster.nodes[i].avail, *debt = &b->debt[i];
  int64_t t = debt->cpu < avail->cpu ? debt->cpu : avail->cpu;
  avail->cpu -= t, debt->cpu -= t;
  t = debt->memory < avail->memory ? debt->memory : avail->memory;
  avail->memory -= t, debt->memory -= t;
}

/// A step that ran on node i when the allocation shrank ended: Slurm will
/// not give its CPUs (and memory) to a new step.
static void take_gone(slurm_backend_t *b, size_t i, int64_t cpu, int64_t memory) {
  b->gone[i].cpu += cpu, b->debt[i].cpu += cpu;
  b->gone[i].memory += memory, b->debt[i].memory += memory;
  pay_debt(b, i);
}

static void mark_lost(slurm_backend_t *b, const char *node) {
  ssize_t i = node_index(&b->base.cluster, node);
  if (i < 0 || b->lost[i]) return;
  b->lost[i] = 1;
  char *names = b->lost_names ? tune_xasprintf("%s,%s", b->lost_names, node) : tune_xstrdup(node);
  free(b->lost_names);
  b->lost_names = names;
  if (b->in_allocation) {
    /* Slurm shrinks the job: a step running now gives its CPUs back to no
       one when it ends ("unable to update job's core use information due
       to job resizing"). */
    b->shrunk = 1;
    for (tune_proc_t *p = b->procs; p; p = p->next)
      if (p->node != (size_t)i) p->held = 1;
    TUNE_WARN("slurm: node %s failed: no more trials go there, and allocation %s shrank: Slurm will not start a new "
              "step on the CPUs its steps hold now once they end (a reused worker keeps its step)", node, b->job_id);
  } else {
    TUNE_WARN("slurm: node %s failed: no more trials go there (later jobs exclude it)", node);
  }
  zero_lost(b);
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

static const tune_backend_ops_t *local_ops;

static void proc_free(tune_proc_t *p) {
  if (p->linger) local_ops->timer_free(p->linger);
  if (p->start_timer) local_ops->timer_free(p->start_timer);
  tune_chan_free(p->chan);
  tune_buf_free(&p->err_line);
  free(p->lost_node);
  free(p->job_id);
  free(p->job_nodes);
  free(p->reason);
  free(p->stepd);
  free(p->last_err);
  free(p->why);
  free(p);
}

static void set_str(char **dst, const char *s) {
  free(*dst);
  *dst = tune_xstrdup(s);
}

/// srun's own messages on the worker's stderr: a node failure, its last
/// error (or an argument it refused), slurmstepd's "*** STEP ... CANCELLED
/// ... ***"; and the step's own last line (before its channel opens, the worker's stderr comes this way
/// too: "cannot connect to the driver ..."). The bytes pass on unchanged.
static void scan_stderr(tune_proc_t *p, const char *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') {
      if (p->err_line.len < 4096) tune_buf_putc(&p->err_line, data[i]);
      continue;
    }
    tune_buf_putc(&p->err_line, '\0');
    char *line = p->err_line.data;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
    const char *f = strstr(line, "Node failure on ");
    if (f && !p->lost_node) {
      f += strlen("Node failure on ");
      p->lost_node = tune_xstrndup(f, strcspn(f, " \t\r:,"));
    }
    /* srun's own errors, its refusal of an argument among them ("srun:
       unrecognized option '--x'", then a line that only points at --help). */
    int refused = !strncmp(line, "srun: ", 6) && (strstr(line, "unrecognized option") ||
                                                  strstr(line, "invalid option") || strstr(line, "requires an argument"));
    if (!strncmp(line, "srun: error:", 12) || refused)
      set_str(&p->reason, line);
    else if (strstr(line, "slurmstepd") && strstr(line, "***")) set_str(&p->stepd, line);
    else if (n && strncmp(line, "srun: ", 6) && line[0] != '\t' && line[0] != ' ' &&
             strcmp(line, "stack traceback:") && strncmp(line, "Try \"srun --help\"", 17))
      set_str(&p->last_err, line); /* not a traceback's lines */
    tune_buf_reset(&p->err_line);
  }
}

/// salloc's stderr, a line at a time: its job id while it waits ("Pending
/// job allocation 12"), and its first error.
static void alloc_err_line(slurm_alloc_t *a, const char *line) {
  const char *id = strstr(line, "Pending job allocation ");
  if (!id) id = strstr(line, "Granted job allocation ");
  if (id && !a->job_id) {
    id += strlen("Pending job allocation ");
    size_t n = strspn(id, "0123456789");
    if (n) a->job_id = tune_xstrndup(id, n);
  }
  const char *f = strstr(line, "Node failure on ");
  if (f && !a->lost_node) {
    f += strlen("Node failure on ");
    a->lost_node = tune_xstrndup(f, strcspn(f, " \t\r:"));
  }
  if (!*line) return;
  if (strstr(line, "error:")) {
    if (!a->error || !strstr(a->error, "error:")) set_str(&a->error, line);
  } else if (!a->error || !strstr(a->error, "error:")) {
    set_str(&a->error, line);
  }
}

static void alloc_data(tune_proc_t *p, int stream, const char *data, size_t len) {
  slurm_alloc_t *a = p->alloc;
  if (!len) return;
  if (stream == TUNE_STREAM_PROTOCOL) {
    tune_buf_append(&a->out, data, len);
    if (!a->granted && memchr(a->out.data, '\n', a->out.len)) {
      free(a->job_id);
      a->job_id = tune_xstrndup(a->out.data, strcspn(a->out.data, "\r\n"));
      a->granted = 1;
      p->b->work = 1;
    }
  } else if (stream == TUNE_STREAM_STDERR) {
    for (size_t i = 0; i < len; i++) {
      if (data[i] != '\n') {
        if (a->err.len < 4096) tune_buf_putc(&a->err, data[i]);
        continue;
      }
      alloc_err_line(a, a->err.data ? a->err.data : "");
      tune_buf_reset(&a->err);
    }
  }
}

static void on_data(void *ud, int stream, const char *data, size_t len) {
  tune_proc_t *p = ud;
  if (p->is_cancel) return; /* its status says it all */
  if (p->alloc) {
    alloc_data(p, stream, data, len);
    return;
  }
  if (len) p->started = 1;
  if (stream == TUNE_STREAM_STDERR && len) scan_stderr(p, data, len);
  if (p->chan) {
    /* srun's stdout is the trainable's; nothing writes the fourth fd. */
    if (stream == TUNE_STREAM_STDOUT) return;
    if (stream == TUNE_STREAM_PROTOCOL) stream = TUNE_STREAM_STDOUT;
  }
  p->cb.on_data(p->ud, stream, data, len);
}

/// The line that says best why a worker ended: the backend's own account,
/// a node failure's, slurmstepd's (a cancel, a time limit), the worker's
/// own last words, srun's last error.
static const char *exit_reason(const tune_proc_t *p) {
  if (p->why) return p->why;
  if (p->lost_node && p->stepd && strstr(p->stepd, "NODE FAILURE")) return p->stepd;
  if (p->lost_node && p->reason) return p->reason;
  if (p->stepd) return p->stepd;
  if (p->last_err) return p->last_err;
  return p->reason;
}

/// Whether slurmstepd said that a node failure ended the step or its job
/// (a multi-node job ends with any of its nodes: srun on another node then
/// names no node).
static int met_node_failure(const tune_proc_t *p) {
  return !p->lost_node && p->job_nodes && p->stepd && strstr(p->stepd, "DUE TO NODE FAILURE");
}

/// The worker is gone and its protocol drained: tell the engine (after
/// the wait, when Slurm must first say which node failed).
static void finish(tune_proc_t *p) {
  slurm_backend_t *b = p->b;
  /* Queued: resolve_lost finishes it (its channel's end and the linger
     timer would otherwise finish and free it under resolve_lost). */
  if (p->resolving == 1) return;
  if (met_node_failure(p) && !p->resolving) {
    p->resolving = 1;
    if (p->linger) local_ops->timer_stop(p->linger);
    b->resolve = tune_xrealloc(b->resolve, (b->nresolve + 1) * sizeof *b->resolve);
    b->resolve[b->nresolve++] = p;
    b->work = 1;
    return;
  }
  if (p->chan && tune_chan_state(p->chan) != TUNE_CHAN_ENDED) p->cb.on_data(p->ud, TUNE_STREAM_PROTOCOL, NULL, 0);
  if (p->prev) p->prev->next = p->next;
  else b->procs = p->next;
  if (p->next) p->next->prev = p->prev;
  if (p->lost_node) {
    for (const char *n = p->lost_node; *n;) { /* one or more, comma-separated */
      size_t len = strcspn(n, ",");
      char *one = tune_xstrndup(n, len);
      mark_lost(b, one);
      free(one);
      n += len + (n[len] == ',');
    }
  } else if (p->held) take_gone(b, p->node, p->cpu, p->memory);
  tune_exit_t x = p->exit;
  if (p->lost_node) x.lost_node = p->lost_node;
  if (!x.reason) x.reason = exit_reason(p);
  p->cb.on_exit(p->ud, &x);
  proc_free(p);
}

static void chan_data(void *ud, const char *data, size_t len) {
  tune_proc_t *p = ud;
  p->started = 1;
  p->cb.on_data(p->ud, TUNE_STREAM_PROTOCOL, data, len);
  if (!len && p->srun_exited) finish(p);
}

static void linger_done(void *ud) {
  tune_proc_t *p = ud;
  TUNE_DEBUG("slurm: a worker's channel stayed open %.0f s after its srun ended: closed", CHANNEL_LINGER_S);
  finish(p);
}

static void on_exit_cb(void *ud, const tune_exit_t *e) {
  tune_proc_t *p = ud;
  if (p->is_cancel) {
    if (p->cancel) {
      p->cancel->ok = e->status == 0 && e->signal == 0;
      p->cancel->p = NULL;
    }
    proc_free(p);
    return;
  }
  if (p->alloc) {
    if (p->alloc->err.len) alloc_err_line(p->alloc, p->alloc->err.data);
    p->alloc->exited = 1;
    p->alloc->salloc = NULL;
    p->b->work = 1;
    proc_free(p);
    return;
  }
  p->exit.status = e->status;
  p->exit.signal = e->signal;
  if (p->start_timer) local_ops->timer_stop(p->start_timer);
  /* The worker's last lines may still be on their way over TCP; a worker
     on a lost node, or one that never connected, has nothing more. */
  if (p->chan && tune_chan_state(p->chan) == TUNE_CHAN_OPEN && !p->lost_node) {
    p->srun_exited = 1;
    p->linger = local_ops->timer_new(p->b->local, linger_done, p);
    local_ops->timer_start(p->linger, CHANNEL_LINGER_S);
    return;
  }
  finish(p);
}

static const tune_proc_cb_t proc_cb = {on_data, on_exit_cb, NULL};

/// The path of `name` on PATH, or NULL. Caller owns it.
static char *find_in_path(const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/bin:/bin";
  char *copy = tune_xstrdup(path), *save = NULL, *found = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
    char *full = tune_xasprintf("%s/%s", *dir ? dir : ".", name);
    if (access(full, X_OK) == 0) found = full;
    else free(full);
  }
  free(copy);
  return found;
}

/// Spawns argv through the local backend, with our callbacks; argv[0] is
/// srun, salloc or setpriv.
static int spawn_argv(slurm_backend_t *b, char **argv, char **env, const char *cwd, tune_proc_t *p) {
  const char *file = !strcmp(argv[0], "srun")      ? b->srun
                     : !strcmp(argv[0], "setpriv") ? b->setpriv
                     : !strcmp(argv[0], "scancel") ? b->scancel
                                                   : b->salloc;
  tune_spawn_t so = {file, argv, env, cwd, 0, NULL, NULL, 0};
  return b->local->ops->spawn(b->local, &so, &proc_cb, p, &p->lp);
}

/// The environment for a step: the driver's, without what only a process
/// the driver starts itself can use (a parent pid check, a fourth fd), and
/// with `extra` (or NULL). A step without GPUs gets TUNE_CUDA_VISIBLE_DEVICES
/// empty: slurmstepd unsets CUDA_VISIBLE_DEVICES in a --gres=none step, and
/// the worker sets it to that value again, empty as on the local backend
/// (docs/guide/resources.md). A step with GPUs keeps what Slurm sets.
static char **step_env(char **env, char *extra, int gpus) {
  static char no_gpus[] = "TUNE_CUDA_VISIBLE_DEVICES=";
  size_t n = 0;
  while (env && env[n]) n++;
  char **out = tune_xcalloc(n + 3, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strncmp(env[i], "TUNE_DRIVER_PID=", 16) || !strncmp(env[i], "TUNE_WORKER_STDOUT_FD=", 22) ||
        !strncmp(env[i], "TUNE_CUDA_VISIBLE_DEVICES=", 26))
      continue; /* (the last one the backend sets itself, for a step without GPUs) */
    out[k++] = env[i];
  }
  if (extra) out[k++] = extra;
  if (!gpus) out[k++] = no_gpus;
  return out;
}

typedef struct {
  char **v;
  size_t n;
} argv_t;

static void arg(argv_t *a, char *s) {
  a->v = tune_xrealloc(a->v, (a->n + 2) * sizeof(char *));
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

static void argv_free(argv_t *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
}

static slurm_alloc_t *alloc_of(slurm_backend_t *b, const tune_placement_t *pl) {
  for (slurm_alloc_t *a = b->allocs; a; a = a->next)
    if (a->r && &a->r->placement == pl) return a;
  return NULL;
}

/// Whether SIGUSR1 saves and stops the run (tune.run installs that).
static int usr1_stops_run(void) {
  struct sigaction sa;
  return sigaction(SIGUSR1, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

/// The allocation shrank and can no longer run `what`: says so once and
/// stops the run as on SIGUSR1 (running trials save a checkpoint, the
/// experiment is saved; --resume in a new allocation goes on). Returns 1
/// when the run stops so; 0 when nothing would catch SIGUSR1 (the engine
/// used without tune.run), and the caller fails the trial instead.
static int give_up(slurm_backend_t *b, const char *what, char *msg, size_t msglen) {
  snprintf(msg, msglen, "node %s failed and allocation %s shrank: Slurm cannot start new steps on the CPUs its "
           "steps held then (it does not give a resized job's CPUs back), and %s. The experiment is saved: continue "
           "it with --resume in a new allocation", b->lost_names ? b->lost_names : "?", b->job_id, what);
  if (!usr1_stops_run()) return 0;
  if (!b->gave_up) {
    b->gave_up = 1;
    tune_log(TUNE_LOG_ERROR, "slurm: %s. Stopping as on SIGUSR1 (running trials save a checkpoint first)", msg);
    raise(SIGUSR1);
  }
  return 1;
}

/// A worker's step has not started after step_start_s: never a silent wait.
static void start_late(void *ud) {
  tune_proc_t *p = ud;
  slurm_backend_t *b = p->b;
  if (p->started) return;
  const char *node = b->base.cluster.nodes[p->node].name;
  long long pid = (long long)local_ops->pid(p->lp);
  if (b->in_allocation && b->shrunk) {
    /* Its CPUs are among those Slurm kept: a step that ended between the
       failure and the driver learning of it. */
    char what[256], msg[1024];
    snprintf(what, sizeof what, "a worker's step on %s (srun pid %lld) has not started after %g s", node, pid,
             b->step_start_s);
    if (!p->held) take_gone(b, p->node, p->cpu, p->memory);
    p->held = 0;
    if (give_up(b, what, msg, sizeof msg)) {
      p->abandoned = 1; /* the stop ends it; its trial restarts on --resume */
    } else {
      set_str(&p->why, msg);
      local_ops->kill(p->lp);
    }
    return;
  }
  TUNE_WARN("slurm: a worker's step on %s (srun pid %lld) has not started after %g s: Slurm has not created it%s%s%s",
            node, pid, b->step_start_s, b->in_allocation ? "; another step of allocation " : "",
            b->in_allocation ? b->job_id : "",
            b->in_allocation ? " may hold its CPUs (tunelua counts its own steps and the driver's)" : "");
}

static int slurm_spawn(tune_backend_t *base, const tune_spawn_t *o, const tune_proc_cb_t *cb, void *ud,
                       tune_proc_t **out) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  if (!o->placement || !o->pgf) return -EINVAL; /* no standby workers here */
  const tune_bundle_place_t *bp = &o->placement->bundles[o->bundle];
  const tune_res_t *res = &o->pgf->bundles[o->bundle];
  long cpus = (long)ceil(tune_res_from_fixed(res->cpu));
  long gpus = (long)ceil(tune_res_from_fixed(res->gpu));
  if (cpus < 1) cpus = 1;
  argv_t a = {NULL, 0};
  arg(&a, tune_xstrdup("srun"));
  if (!b->in_allocation) {
    slurm_alloc_t *al = alloc_of(b, o->placement);
    if (!al || !al->job_id) {
      argv_free(&a);
      return -ESRCH;
    }
    arg(&a, tune_xasprintf("--jobid=%s", al->job_id));
  }
  arg(&a, tune_xstrdup("--exact"));
  arg(&a, tune_xstrdup("-N1"));
  arg(&a, tune_xstrdup("-n1"));
  arg(&a, tune_xasprintf("-c%ld", cpus));
  arg(&a, tune_xasprintf("-w%s", b->base.cluster.nodes[bp->node].name));
  arg(&a, tune_xstrdup("-u"));
  arg(&a, tune_xstrdup("--quiet"));
  /* A step without --gres takes every GPU of its node that the job holds
     (and Slurm then starts no other GPU step there); --gres=none is
     accepted on a cluster without GRES too. */
  arg(&a, gpus > 0 ? tune_xasprintf("--gres=gpu:%ld", gpus) : tune_xstrdup("--gres=none"));
  if (res->memory > 0)
    arg(&a, tune_xasprintf("--mem=%lldM", (long long)ceil(tune_res_from_fixed(res->memory) / (1024.0 * 1024.0))));
  for (size_t i = 0; i < b->nsrun_args; i++) arg(&a, tune_xstrdup(b->srun_args[i]));
  for (char **p = o->argv; p && *p; p++) arg(&a, tune_xstrdup(p == o->argv ? o->file : *p));
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->cb = *cb;
  p->ud = ud;
  p->node = bp->node;
  if (!b->in_allocation) {
    tune_buf_t nodes = TUNE_BUF_INIT;
    for (size_t i = 0; i < o->placement->nbundles; i++) {
      const char *name = b->base.cluster.nodes[o->placement->bundles[i].node].name;
      if (!tune_slurm_list_has(nodes.data, name)) tune_buf_printf(&nodes, "%s%s", nodes.len ? "," : "", name);
    }
    p->job_nodes = tune_xstrdup(nodes.data);
    p->job_id = tune_xstrdup(alloc_of(b, o->placement)->job_id);
    tune_buf_free(&nodes);
  }
  p->cpu = (int64_t)cpus * TUNE_RES_SCALE;
  p->memory = res->memory;
  char *channel = NULL;
  if (b->chans) {
    char token[33];
    p->chan = tune_chan_expect(b->chans, chan_data, p, token);
    channel = tune_xasprintf("TUNE_CHANNEL=%s:%d:%s", b->driver_host ? b->driver_host : "",
                             tune_chan_server_port(b->chans), token);
  }
  char **env = step_env(o->env, channel, gpus > 0);
  int rc = spawn_argv(b, a.v, env, o->cwd, p);
  free(env);
  free(channel);
  argv_free(&a);
  if (rc < 0) {
    proc_free(p);
    return rc;
  }
  p->next = b->procs;
  if (b->procs) b->procs->prev = p;
  b->procs = p;
  if (b->step_start_s > 0) {
    p->start_timer = local_ops->timer_new(b->local, start_late, p);
    local_ops->timer_start(p->start_timer, b->step_start_s);
  }
  *out = p;
  return 0;
}

static int slurm_send(tune_proc_t *p, const char *data, size_t len) {
  if (p->abandoned) return -EPIPE;
  if (p->chan) return tune_chan_send(p->chan, data, len);
  return p->b->local->ops->send(p->lp, data, len);
}
static int slurm_kill(tune_proc_t *p) { return p->b->local->ops->kill(p->lp); }
static int64_t slurm_pid(const tune_proc_t *p) { return p->b->local->ops->pid(p->lp); }
static double slurm_now(tune_backend_t *base) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  return b->local->ops->now(b->local);
}
static tune_timer_t *slurm_timer_new(tune_backend_t *base, void (*cb)(void *), void *ud) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  return b->local->ops->timer_new(b->local, cb, ud);
}
/* Timers are the local backend's: these forward to its ops. */
static void slurm_timer_start(tune_timer_t *t, double s) { local_ops->timer_start(t, s); }
static void slurm_timer_stop(tune_timer_t *t) { local_ops->timer_stop(t); }
static void slurm_timer_free(tune_timer_t *t) { local_ops->timer_free(t); }
static void slurm_wake(tune_backend_t *base) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  b->local->ops->wake(b->local);
}

/* ------------------------------------------------------------------------ */
/* Reservations                                                             */
/* ------------------------------------------------------------------------ */

/// Whether the cluster-wide licenses have room for `f` (sign 0), or take
/// (-1) or give back (+1) its licenses.
static int licenses_fit(slurm_backend_t *b, const tune_pgf_t *f, int sign) {
  for (size_t i = 0; i < f->total.ncustom; i++) {
    const char *name = f->total.custom[i].name;
    double want = tune_res_from_fixed(f->total.custom[i].amount);
    double have = tune_res_get(&b->licenses_free, name);
    if (sign == 0 && want > have + 1e-9) return 0;
    if (sign) tune_res_set(&b->licenses_free, name, have + sign * want);
  }
  return 1;
}

/// `f` with whole CPUs (what srun -c takes), made once per factory.
static const tune_pgf_t *whole_of(slurm_backend_t *b, const tune_pgf_t *f) {
  for (whole_t *w = b->whole; w; w = w->next)
    if (!strcmp(w->key, f->key ? f->key : "")) return w->f;
  whole_t *w = tune_xcalloc(1, sizeof *w);
  w->key = tune_xstrdup(f->key ? f->key : "");
  w->f = tune_slurm_whole_cpus(f);
  w->next = b->whole;
  b->whole = w;
  return w->f;
}

static int reserve_inside(slurm_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  if (b->gave_up) return TUNE_RESERVE_NO_ROOM;
  const tune_pgf_t *w = whole_of(b, f);
  if (!licenses_fit(b, f, 0)) return TUNE_RESERVE_NO_ROOM;
  if (tune_cluster_reserve(&b->base.cluster, w, &r->placement) == 0) {
    licenses_fit(b, f, -1);
    return TUNE_RESERVE_OK;
  }
  if (!b->shrunk || tune_slurm_fits_remaining(&b->base.cluster, b->lost, b->gone, w)) return TUNE_RESERVE_NO_ROOM;
  /* What the allocation has left can never hold it. */
  tune_buf_t what = TUNE_BUF_INIT;
  tune_buf_puts(&what, "a trial that asks for ");
  tune_pgf_format(w, &what);
  tune_buf_puts(&what, " no longer fits what remains");
  char msg[1024];
  int stopping = give_up(b, what.data, msg, sizeof msg);
  tune_buf_free(&what);
  if (stopping) return TUNE_RESERVE_NO_ROOM;
  refused_t *x = tune_xcalloc(1, sizeof *x);
  x->r = r;
  x->why = tune_xstrdup(msg);
  x->next = b->refused;
  b->refused = x;
  b->work = 1;
  return TUNE_RESERVE_LATER;
}

/// salloc's arguments for group `f`, as tune_slurm_job_shape makes it a job
/// (PACK and STRICT_PACK one node; SPREAD and STRICT_SPREAD one node per
/// bundle, SPREAD at most as many as the partition has up); licenses for
/// the whole group; the lost nodes excluded. Under setpriv, salloc gets
/// SIGTERM when the driver dies, and withdraws a request still pending.
static void salloc_argv(slurm_backend_t *b, const tune_pgf_t *f, argv_t *a) {
  const tune_pgf_t *w = whole_of(b, f);
  size_t usable = 0;
  for (size_t i = 0; i < b->base.cluster.nnodes; i++) usable += !b->lost[i];
  tune_slurm_job_t job;
  tune_slurm_job_shape(w, usable, &job);
  if (b->setpriv) {
    arg(a, tune_xstrdup("setpriv"));
    arg(a, tune_xstrdup("--pdeathsig"));
    arg(a, tune_xstrdup("TERM"));
  }
  arg(a, tune_xstrdup("salloc"));
  arg(a, tune_xasprintf("--job-name=%s", b->job_name));
  arg(a, tune_xasprintf("-N%zu", job.nnodes));
  arg(a, tune_xstrdup("--ntasks-per-node=1"));
  arg(a, tune_xasprintf("-c%lld", (long long)(job.per_node.cpu / TUNE_RES_SCALE)));
  if (job.per_node.gpu > 0) arg(a, tune_xasprintf("--gres=gpu:%ld", (long)ceil(tune_res_from_fixed(job.per_node.gpu))));
  if (job.per_node.memory > 0)
    arg(a, tune_xasprintf("--mem=%lldM", (long long)ceil(tune_res_from_fixed(job.per_node.memory) / (1024.0 * 1024.0))));
  tune_slurm_job_free(&job);
  if (f->total.ncustom) {
    tune_buf_t lic = TUNE_BUF_INIT;
    for (size_t i = 0; i < f->total.ncustom; i++)
      tune_buf_printf(&lic, "%s%s:%g", i ? "," : "", f->total.custom[i].name,
                      ceil(tune_res_from_fixed(f->total.custom[i].amount)));
    arg(a, tune_xasprintf("-L%s", lic.data));
    tune_buf_free(&lic);
  }
  if (b->lost_names) arg(a, tune_xasprintf("--exclude=%s", b->lost_names));
  if (b->partition) arg(a, tune_xasprintf("--partition=%s", b->partition));
  if (b->account) arg(a, tune_xasprintf("--account=%s", b->account));
  if (b->time_limit) arg(a, tune_xasprintf("--time=%s", b->time_limit));
  if (b->qos) arg(a, tune_xasprintf("--qos=%s", b->qos));
  arg(a, tune_xstrdup("sh"));
  arg(a, tune_xstrdup("-c"));
  arg(a, tune_xstrdup("echo $SLURM_JOB_ID; exec cat >/dev/null"));
}

extern char **environ;

static int reserve_outside(slurm_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_alloc_t *al = tune_xcalloc(1, sizeof *al);
  al->b = b;
  al->r = r;
  al->f = f;
  r->backend_data = al;
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->alloc = al;
  argv_t a = {NULL, 0};
  salloc_argv(b, f, &a);
  int rc = spawn_argv(b, a.v, environ, ".", p);
  argv_free(&a);
  if (rc < 0) {
    proc_free(p);
    free(al);
    r->backend_data = NULL;
    return TUNE_RESERVE_NO_ROOM;
  }
  b->submitted = 1;
  al->salloc = p;
  al->next = b->allocs;
  b->allocs = al;
  return TUNE_RESERVE_LATER;
}

static int slurm_reserve(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  return b->in_allocation ? reserve_inside(b, f, r) : reserve_outside(b, f, r);
}

static void cancel_late(void *ud) {
  cancel_t *c = ud;
  if (c->p) local_ops->kill(c->p->lp);
}

/// Starts `scancel what` (a job id, or --name=...) and goes on: the loop
/// sees it end, and it is ended after CANCEL_S.
static void scancel(slurm_backend_t *b, const char *what) {
  cancel_t *c = tune_xcalloc(1, sizeof *c);
  c->what = tune_xstrdup(what);
  c->next = b->cancels;
  b->cancels = c;
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->is_cancel = 1;
  p->cancel = c;
  char *argv[] = {"scancel", c->what, NULL};
  if (!b->scancel || spawn_argv(b, argv, environ, ".", p) < 0) {
    proc_free(p);
    return; /* not confirmed: said at the end */
  }
  c->p = p;
  c->timer = local_ops->timer_new(b->local, cancel_late, c);
  local_ops->timer_start(c->timer, CANCEL_S);
}

/// Frees the scancels that ended and were confirmed; `all`: every one.
static void prune_cancels(slurm_backend_t *b, int all) {
  for (cancel_t **pp = &b->cancels; *pp;) {
    cancel_t *c = *pp;
    if (!all && (c->p || !c->ok)) {
      pp = &c->next;
      continue;
    }
    *pp = c->next;
    if (c->p) c->p->cancel = NULL; /* (killed, not yet seen to end) */
    if (c->timer) local_ops->timer_free(c->timer);
    free(c->what);
    free(c);
  }
}

/// Ends a job of ours: scancel, and its salloc goes (its pipe closes). A
/// salloc whose job id is not known yet gets SIGTERM: it withdraws its
/// request (SIGKILL would leave the job pending).
static void end_alloc(slurm_alloc_t *al) {
  if (al->released) return;
  al->released = 1;
  if (al->job_id) scancel(al->b, al->job_id);
  if (al->salloc) {
    int64_t pid = al->b->local->ops->pid(al->salloc->lp);
    if (!al->job_id && pid > 0) kill((pid_t)pid, SIGTERM);
    else al->b->local->ops->kill(al->salloc->lp);
  }
  al->r = NULL;
}

static void slurm_cancel(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  (void)f;
  for (refused_t **pp = &b->refused; *pp; pp = &(*pp)->next) {
    if ((*pp)->r != r) continue;
    refused_t *x = *pp;
    *pp = x->next;
    free(x->why);
    free(x);
    return;
  }
  slurm_alloc_t *al = b->in_allocation ? NULL : r->backend_data;
  if (al) end_alloc(al);
}

static void slurm_release(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  if (b->in_allocation) {
    tune_cluster_release(&b->base.cluster, whole_of(b, f), &r->placement);
    licenses_fit(b, f, 1);
    for (size_t i = 0; i < b->base.cluster.nnodes; i++) pay_debt(b, i);
    zero_lost(b);
    return;
  }
  slurm_alloc_t *al = r->backend_data;
  if (al) end_alloc(al);
  tune_placement_free(&r->placement);
}

/// A granted job: its nodes, and each bundle's place on them.
static int place_job(slurm_backend_t *b, slurm_alloc_t *al, char *why, size_t whylen) {
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"squeue", "-h", "-j", al->job_id, "-o", "%N", NULL};
  int rc = tune_slurm_run(argv, &out, NULL);
  tune_buf_putc(&out, '\0');
  size_t n = 0;
  char **names = rc == 0 ? tune_slurm_hostnames(strtok(out.data, " \n"), &n) : NULL;
  tune_buf_free(&out);
  if (!n) {
    snprintf(why, whylen, "job %s was granted but its nodes are unknown", al->job_id);
    return -1;
  }
  const tune_pgf_t *f = al->f;
  tune_placement_t *pl = &al->r->placement;
  pl->nbundles = f->nbundles;
  pl->bundles = tune_xcalloc(f->nbundles, sizeof *pl->bundles);
  for (size_t i = 0; i < f->nbundles; i++) {
    const char *name = names[tune_slurm_job_node(f, n, i)];
    ssize_t k = node_index(&b->base.cluster, name);
    if (k < 0) {
      snprintf(why, whylen, "job %s runs on node %s, which is not in the partition", al->job_id, name);
      tune_slurm_free_strv(names, n);
      tune_placement_free(pl);
      return -1;
    }
    pl->bundles[i].node = (size_t)k;
  }
  tune_slurm_free_strv(names, n);
  return 0;
}

/// What sallocs reported during the wait, handled after it.
static int handle_allocs(slurm_backend_t *b) {
  int any = 0;
  b->work = 0;
  while (b->refused) {
    refused_t *x = b->refused;
    b->refused = x->next;
    x->r->done(x->r, -EINVAL, x->why);
    free(x->why);
    free(x);
    any = 1;
  }
  for (slurm_alloc_t **pp = &b->allocs; *pp;) {
    slurm_alloc_t *al = *pp;
    if (al->r && !al->reported && (al->granted || al->exited)) {
      char why[512] = "";
      tune_reservation_t *r = al->r;
      al->reported = 1;
      if (al->granted && place_job(b, al, why, sizeof why) == 0) {
        r->done(r, 0, NULL);
      } else {
        if (!why[0]) snprintf(why, sizeof why, "salloc failed: %s", al->error ? al->error : "no reason given");
        end_alloc(al);
        r->done(r, -EINVAL, why);
      }
      any = 1;
    }
    if ((al->released || al->reported) && al->exited && !al->r) {
      *pp = al->next;
      tune_buf_free(&al->out);
      tune_buf_free(&al->err);
      free(al->error);
      free(al->lost_node);
      free(al->job_id);
      free(al);
      continue;
    }
    pp = &al->next;
  }
  return any;
}

/// Seconds the question "which node failed" may take.
#define NODE_QUERY_S 10.0

/// The salloc of job `id` whose job is still known.
static slurm_alloc_t *alloc_by_id(slurm_backend_t *b, const char *id) {
  for (slurm_alloc_t *a = b->allocs; a; a = a->next)
    if (a->job_id && !strcmp(a->job_id, id)) return a;
  return NULL;
}

/// Workers whose job a node failure ended (slurmstepd on another node of
/// the job names none): the node is the one salloc names ("Node failure on
/// n3", which may come a moment after the worker ended), else those of the
/// job's nodes that sinfo shows down. The engine then hears that the
/// worker was lost with it; when Slurm says neither, the failure as
/// slurmstepd said it.
static int resolve_lost(slurm_backend_t *b) {
  if (!b->nresolve) return 0;
  /* salloc names the node within moments; all the queued jobs' lines are
     waited for together (2 s at most), then one sinfo asks for the rest. */
  double until = local_ops->now(b->local) + 2;
  for (;;) {
    int waiting = 0;
    for (size_t i = 0; i < b->nresolve; i++) {
      slurm_alloc_t *al = alloc_by_id(b, b->resolve[i]->job_id);
      waiting |= al && !al->lost_node && al->salloc;
    }
    if (!waiting || local_ops->now(b->local) >= until) break;
    local_ops->wait(b->local, 0.1);
  }
  tune_buf_t nodes = TUNE_BUF_INIT, out = TUNE_BUF_INIT;
  for (size_t i = 0; i < b->nresolve; i++) {
    tune_proc_t *p = b->resolve[i];
    slurm_alloc_t *al = alloc_by_id(b, p->job_id);
    if (al && al->lost_node) p->lost_node = tune_xstrdup(al->lost_node);
    else tune_buf_printf(&nodes, "%s%s", nodes.len ? "," : "--nodes=", p->job_nodes);
  }
  if (nodes.len) {
    char *argv[] = {"sinfo", "-h", "-N", nodes.data, "-o", "%N %t", NULL};
    if (tune_slurm_run_bounded(argv, &out, NULL, NODE_QUERY_S, 1) == 0) tune_buf_putc(&out, '\0');
    else tune_buf_reset(&out);
  }
  while (b->nresolve) {
    tune_proc_t *p = b->resolve[--b->nresolve];
    p->resolving = 2;
    if (!p->lost_node && out.len) {
      tune_buf_t down = TUNE_BUF_INIT;
      char *copy = tune_xstrdup(out.data), *save = NULL;
      for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[256], state[64];
        if (sscanf(line, "%255s %63s", name, state) != 2) continue;
        if ((strncmp(state, "down", 4) && strncmp(state, "fail", 4)) || !tune_slurm_list_has(p->job_nodes, name) ||
            tune_slurm_list_has(down.data, name))
          continue;
        tune_buf_printf(&down, "%s%s", down.len ? "," : "", name);
      }
      free(copy);
      if (down.len) p->lost_node = tune_xstrdup(down.data);
      tune_buf_free(&down);
    }
    if (!p->lost_node) TUNE_DEBUG("slurm: a node failure ended job of nodes %s, but sinfo shows none of them down", p->job_nodes);
    finish(p);
  }
  tune_buf_free(&nodes);
  tune_buf_free(&out);
  return 1;
}

static int slurm_wait(tune_backend_t *base, double timeout) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  int any = b->local->ops->wait(b->local, b->work ? 0 : timeout);
  if (b->work) any |= resolve_lost(b) | handle_allocs(b);
  prune_cancels(b, 0);
  return any;
}

/// GRES gives a step whole GPUs: a fraction cannot be shared between steps.
/// A bundle takes whole CPUs; outside an allocation the group must fit the
/// job it becomes (a PACK group one node).
static int slurm_feasible(tune_backend_t *base, const tune_pgf_t *f, char *err, size_t errlen) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  for (size_t i = 0; i < f->nbundles; i++) {
    if (f->bundles[i].gpu % TUNE_RES_SCALE) {
      snprintf(err, errlen, "bundle %zu asks for %g GPUs, but on Slurm a GPU is a whole GRES device: "
               "ask for whole GPUs", i + 1, tune_res_from_fixed(f->bundles[i].gpu));
      return -1;
    }
  }
  const tune_pgf_t *w = whole_of(b, f);
  int rc;
  if (b->in_allocation) {
    rc = tune_cluster_feasible(&b->base.cluster, w, err, errlen);
  } else {
    size_t usable = 0;
    for (size_t i = 0; i < b->base.cluster.nnodes; i++) usable += !b->lost[i];
    tune_slurm_job_t job;
    tune_slurm_job_shape(w, usable, &job);
    rc = tune_slurm_job_feasible(&b->base.cluster, b->lost, w, &job, err, errlen);
    tune_slurm_job_free(&job);
  }
  if (rc == 0 && tune_slurm_licenses_missing(&f->total, &b->licenses))
    rc = tune_cluster_feasible(&b->base.cluster, w, err, errlen);
  if (rc < 0 && w->total.cpu != f->total.cpu) tune_slurm_name_asked(f, w, err, errlen);
  if (rc < 0) tune_slurm_note_licenses(&f->total, &b->licenses, b->in_allocation, err, errlen);
  return rc;
}

/// The nodes' CPUs, GPUs and memory; the licenses once (every node carries
/// the cluster-wide count), and those free by the backend's own counter.
static void slurm_resources(tune_backend_t *base, tune_res_t *total, tune_res_t *avail) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  tune_cluster_total(&b->base.cluster, total, 0);
  tune_cluster_total(&b->base.cluster, avail, 1);
  for (size_t i = 0; i < b->licenses.ncustom; i++) {
    const char *name = b->licenses.custom[i].name;
    tune_res_set(total, name, tune_res_from_fixed(b->licenses.custom[i].amount));
    tune_res_set(avail, name, tune_res_get(&b->licenses_free, name));
  }
}

static char *slurm_gpu_ids(tune_backend_t *b, const tune_placement_t *p, size_t bundle) {
  (void)b;
  (void)p;
  (void)bundle;
  return NULL; /* Slurm sets CUDA_VISIBLE_DEVICES from GRES */
}

/* ------------------------------------------------------------------------ */
/* A directory every node sees                                              */
/* ------------------------------------------------------------------------ */

/// Seconds the shared-filesystem probe may take.
#define PROBE_TIMEOUT_S 30.0

static int slurm_check_dir(tune_backend_t *base, const char *dir, char *err, size_t errlen) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  if (!b->in_allocation) return 0; /* nodes are known per job: see docs/guide/slurm.md */
  char *probe = tune_xasprintf("%s/.tunelua-probe-%ld", dir, (long)getpid());
  int rc = tune_fs_write_replace(probe, "probe\n", 6);
  if (rc < 0) {
    snprintf(err, errlen, "cannot write %s: %s", probe, strerror(-rc));
    free(probe);
    return -1;
  }
  tune_cluster_t *c = &b->base.cluster;
  tune_buf_t nodes = TUNE_BUF_INIT, out = TUNE_BUF_INIT, e = TUNE_BUF_INIT;
  for (size_t i = 0; i < c->nnodes; i++) tune_buf_printf(&nodes, "%s%s", i ? "," : "", c->nodes[i].name);
  char *nn = tune_xasprintf("-N%zu", c->nnodes), *w = tune_xasprintf("-w%s", nodes.data);
  char *tasks = tune_xasprintf("-n%zu", c->nnodes); /* a driver's step sets SLURM_NTASKS */
  /* --overlap: the probe needs no CPU of its own, and the driver's step may
     hold every CPU of its node. */
  char *argv[] = {"srun", "--overlap", "--exact", nn, tasks, "--ntasks-per-node=1", "-c1", w, "--quiet", "sh", "-c",
                  "if test \"$SLURMD_NODENAME\" != \"$1\" && test -f \"$2\"; then echo \"$SLURMD_NODENAME ok\"; "
                  "else echo \"$SLURMD_NODENAME missing\"; fi",
                  "sh", b->hide_probe_from ? b->hide_probe_from : "", probe, NULL};
  int run = tune_slurm_run_bounded(argv, &out, &e, PROBE_TIMEOUT_S, 0);
  unlink(probe);
  tune_buf_putc(&out, '\0');
  tune_buf_t missing = TUNE_BUF_INIT;
  size_t ok = 0;
  char *save = NULL;
  for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strstr(line, " ok")) ok++;
    else if (strstr(line, " missing")) tune_buf_printf(&missing, "%s%.*s", missing.len ? ", " : "", (int)strcspn(line, " "), line);
  }
  rc = 0;
  if (ok != c->nnodes && missing.len) {
    snprintf(err, errlen, "local_dir %s is not on a filesystem every node sees: %s did not find a file the "
             "driver wrote there (put local_dir on a shared filesystem)", dir, missing.data);
    rc = -1;
  } else if (ok != c->nnodes) {
    /* No node answered: Slurm's trouble, not the filesystem's. */
    char *first = tune_slurm_first_line(&e);
    snprintf(err, errlen, "slurm: cannot check that local_dir %s is on a filesystem every node sees: its probe "
             "(srun --overlap -w%s) %s%s%s", dir, nodes.data,
             run == TUNE_SLURM_TIMEDOUT ? "did not finish within 30 s" : "failed",
             first ? ": " : "", first ? first : "");
    free(first);
    rc = -1;
  }
  tune_buf_free(&missing);
  tune_buf_free(&nodes);
  tune_buf_free(&out);
  tune_buf_free(&e);
  free(nn);
  free(tasks);
  free(w);
  free(probe);
  return rc;
}

/// Whether a scancel or a salloc is still running.
static int ending(const slurm_backend_t *b) {
  for (const slurm_alloc_t *al = b->allocs; al; al = al->next)
    if (al->salloc) return 1;
  for (const cancel_t *c = b->cancels; c; c = c->next)
    if (c->p) return 1;
  return 0;
}

/// The end of a run outside an allocation: when Slurm did not confirm
/// that this run's jobs are cancelled (slurmctld does not answer), one
/// warning names them and the commands that cancel them.
static void warn_unconfirmed(slurm_backend_t *b) {
  tune_buf_t ids = TUNE_BUF_INIT;
  int by_name = 0, failed = 0;
  for (const cancel_t *c = b->cancels; c; c = c->next) {
    if (!strncmp(c->what, "--name=", 7)) by_name |= c->ok;
    else if (!c->ok) tune_buf_printf(&ids, "%s%s", failed++ ? " " : "", c->what);
  }
  if (!by_name && (failed || b->submitted))
    TUNE_WARN("slurm: Slurm did not confirm within %g s that it cancelled this run's jobs%s%s (does slurmctld "
              "answer?); they may stay in squeue until it does: cancel them with `scancel --name=%s`%s%s%s",
              CANCEL_S, failed ? " " : "", failed ? ids.data : "", b->job_name, failed ? " (or `scancel " : "",
              failed ? ids.data : "", failed ? "`)" : "");
  tune_buf_free(&ids);
}

static int slurm_destroy(tune_backend_t *base) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  /* The scancels run together, each bounded: at most CANCEL_S in all. */
  for (slurm_alloc_t *al = b->allocs; al; al = al->next) end_alloc(al);
  /* Any job of this run still pending (a salloc that had not said its id). */
  if (b->submitted) {
    char *name = tune_xasprintf("--name=%s", b->job_name);
    scancel(b, name);
    free(name);
  }
  double end = b->local->ops->now(b->local) + CANCEL_S + 1;
  while (ending(b) && b->local->ops->now(b->local) < end) b->local->ops->wait(b->local, 0.1);
  for (cancel_t *c = b->cancels; c; c = c->next)
    if (c->p) local_ops->kill(c->p->lp);
  for (int i = 0; i < 10 && ending(b); i++) b->local->ops->wait(b->local, 0.1);
  if (!b->in_allocation) warn_unconfirmed(b);
  prune_cancels(b, 1);
  while (b->allocs) {
    slurm_alloc_t *al = b->allocs;
    b->allocs = al->next;
    tune_buf_free(&al->out);
    tune_buf_free(&al->err);
    free(al->error);
    free(al->lost_node);
    free(al->job_id);
    free(al);
  }
  while (b->refused) {
    refused_t *x = b->refused;
    b->refused = x->next;
    free(x->why);
    free(x);
  }
  free(b->resolve);
  while (b->whole) {
    whole_t *w = b->whole;
    b->whole = w->next;
    free(w->key);
    tune_pgf_free(w->f);
    free(w);
  }
  tune_chan_server_free(b->chans);
  int rc = b->local->ops->destroy(b->local);
  for (size_t i = 0; b->gone && i < b->base.cluster.nnodes; i++) {
    tune_res_free(&b->gone[i]);
    tune_res_free(&b->debt[i]);
  }
  free(b->gone);
  free(b->debt);
  tune_cluster_free(&b->base.cluster);
  tune_res_free(&b->licenses);
  tune_res_free(&b->licenses_free);
  for (size_t i = 0; i < b->nsrun_args; i++) free(b->srun_args[i]);
  free(b->srun_args);
  free(b->lost);
  free(b->lost_names);
  free(b->job_id);
  free(b->job_name);
  free(b->partition);
  free(b->account);
  free(b->time_limit);
  free(b->qos);
  free(b->hide_probe_from);
  free(b->driver_host);
  free(b->srun);
  free(b->salloc);
  free(b->scancel);
  free(b->setpriv);
  free(b);
  return rc;
}

static const tune_backend_ops_t slurm_ops = {
    .name = "slurm",
    .caps = 0,
    .spawn = slurm_spawn,
    .send = slurm_send,
    .kill = slurm_kill,
    .pid = slurm_pid,
    .now = slurm_now,
    .timer_new = slurm_timer_new,
    .timer_start = slurm_timer_start,
    .timer_stop = slurm_timer_stop,
    .timer_free = slurm_timer_free,
    .wait = slurm_wait,
    .wake = slurm_wake,
    .reserve = slurm_reserve,
    .cancel = slurm_cancel,
    .release = slurm_release,
    .gpu_ids = slurm_gpu_ids,
    .resources = slurm_resources,
    .feasible = slurm_feasible,
    .check_dir = slurm_check_dir,
    .destroy = slurm_destroy,
};

static char *opt_str(const cJSON *o, const char *key) {
  const char *s = tune_json_get_string(o, key);
  return s && *s ? tune_xstrdup(s) : NULL;
}

/// The options' names and types: one clear error for a wrong one.
static int check_options(const cJSON *opts, char *err, size_t errlen) {
  static const struct {
    const char *name;
    int type;
  } known[] = {{"partition", cJSON_String}, {"account", cJSON_String}, {"time", cJSON_String},
               {"qos", cJSON_String},       {"srun_args", cJSON_Array}, {"allocation", cJSON_True | cJSON_False},
               {"channel", cJSON_String},   {"driver_host", cJSON_String}};
  if (!opts) return 0;
  int list = cJSON_IsArray(opts); /* Lua's {"x"}: its keys are 1, 2, ... */
  if (!cJSON_IsObject(opts) && !list) {
    snprintf(err, errlen, "slurm options must be a table of name = value");
    return -1;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, opts) {
    size_t i = 0, n = sizeof known / sizeof known[0];
    while (!list && i < n && strcmp(known[i].name, it->string)) i++;
    if (i == n || list) {
      tune_buf_t names = TUNE_BUF_INIT;
      for (size_t j = 0; j < n; j++) tune_buf_printf(&names, "%s%s", j ? ", " : "", known[j].name);
      snprintf(err, errlen, "unknown slurm option '%s'%s (known: %s)", list ? "1" : it->string,
               list ? ": slurm options are a table of name = value, not a list" : "", names.data);
      tune_buf_free(&names);
      return -1;
    }
    int empty_table = cJSON_IsObject(it) && !it->child; /* Lua's {} */
    if (!(it->type & known[i].type) && !(known[i].type == cJSON_Array && empty_table)) {
      snprintf(err, errlen, "slurm option '%s' must be %s", it->string,
               known[i].type == cJSON_String ? "a string" : known[i].type == cJSON_Array ? "a list of strings" : "a boolean");
      return -1;
    }
  }
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(opts, "srun_args");
  cJSON_ArrayForEach(it, extra) {
    if (!cJSON_IsString(it)) {
      snprintf(err, errlen, "slurm option 'srun_args' must be a list of strings");
      return -1;
    }
  }
  const char *ch = tune_json_get_string(opts, "channel");
  if (ch && strcmp(ch, "tcp") && strcmp(ch, "stdio")) {
    snprintf(err, errlen, "slurm option 'channel' must be \"tcp\" or \"stdio\", got \"%s\"", ch);
    return -1;
  }
  return 0;
}

static void touch_local(void *ud) { tune_backend_local_touch(ud); }

/// A job name no other run shares: scancel --name takes only this run's jobs.
static char *unique_job_name(void) {
  unsigned char raw[4] = {0};
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno != EINTR) break;
    if (n > 0) got += (size_t)n;
  }
  return tune_xasprintf("tunelua-%ld-%02x%02x%02x%02x", (long)getpid(), raw[0], raw[1], raw[2], raw[3]);
}

/// Whether Slurm's commands work here: `srun --version` reads slurm.conf
/// like every command, and a wrong SLURM_CONF makes it retry for 60 s
/// ("cannot stat file ..., retrying"): that ends it at once, and its first
/// line is the message.
static int slurm_works(char *err, size_t errlen) {
  tune_buf_t e = TUNE_BUF_INIT;
  char *argv[] = {"srun", "--version", NULL};
  int rc = tune_slurm_run_bounded(argv, NULL, &e, 30, 1);
  if (rc != 0) {
    char *first = tune_slurm_first_line(&e);
    const char *conf = getenv("SLURM_CONF");
    char what[64];
    if (first) snprintf(what, sizeof what, "said: ");
    else if (rc == TUNE_SLURM_TIMEDOUT) snprintf(what, sizeof what, "did not answer within 30 s");
    else if (rc < 0) snprintf(what, sizeof what, "could not start: %s", strerror(-rc));
    else snprintf(what, sizeof what, "exited with status %d", rc);
    snprintf(err, errlen, "slurm: Slurm's commands do not work here: srun --version %s%s%s%s%s", what,
             first ? first : "", conf ? " (SLURM_CONF=" : "", conf ? conf : "", conf ? ")" : "");
    free(first);
  }
  tune_buf_free(&e);
  return rc == 0 ? 0 : -1;
}

/// TUNE_SLURM_STEP_START_S: seconds, 10 when unset; -1 with why in `err`
/// for what is not a number of seconds (0 or more, finite).
static double step_start_s_env(char *err, size_t errlen) {
  const char *v = getenv("TUNE_SLURM_STEP_START_S");
  if (!v || !*v) return 10;
  char *end;
  double s = strtod(v, &end);
  if (end == v || *end != '\0' || isnan(s)) {
    snprintf(err, errlen, "environment variable TUNE_SLURM_STEP_START_S=\"%s\" is not a number", v);
    return -1;
  }
  if (s < 0 || isinf(s)) {
    snprintf(err, errlen, "environment variable TUNE_SLURM_STEP_START_S=\"%s\" must be a finite number of "
             "seconds, 0 or more", v);
    return -1;
  }
  return s;
}

tune_backend_t *tune_backend_slurm_new(const tune_backend_opts_t *o, char *err, size_t errlen) {
  if (check_options(o->options, err, errlen) < 0) return NULL;
  double step_start_s = step_start_s_env(err, errlen);
  if (step_start_s < 0) return NULL;
  char *srun = find_in_path("srun"), *salloc = find_in_path("salloc");
  if (!srun || !salloc) {
    snprintf(err, errlen, "the slurm backend needs Slurm's commands (srun, salloc, scontrol, squeue) on PATH");
    free(srun);
    free(salloc);
    return NULL;
  }
  if (slurm_works(err, errlen) < 0) {
    free(srun);
    free(salloc);
    return NULL;
  }
  slurm_backend_t *b = tune_xcalloc(1, sizeof *b);
  b->srun = srun;
  b->salloc = salloc;
  b->setpriv = find_in_path("setpriv");
  b->scancel = find_in_path("scancel");
  b->job_name = unique_job_name();
  b->step_start_s = step_start_s;
  b->base.ops = &slurm_ops;
  tune_cluster_init(&b->base.cluster);
  tune_res_init(&b->licenses);
  tune_res_init(&b->licenses_free);
  tune_local_opts_t lo = {NULL, NULL, 0, 1};
  b->local = tune_backend_local_new(&lo);
  local_ops = b->local->ops;
  const cJSON *opts = o->options;
  b->partition = opt_str(opts, "partition");
  b->account = opt_str(opts, "account");
  b->time_limit = opt_str(opts, "time");
  b->qos = opt_str(opts, "qos");
  const char *hide = getenv("TUNE_TEST_SLURM_HIDE_PROBE_FROM");
  b->hide_probe_from = hide && *hide ? tune_xstrdup(hide) : NULL;
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(opts, "srun_args");
  const cJSON *it;
  cJSON_ArrayForEach(it, extra) { /* strings: check_options saw to it */
    b->srun_args = tune_xrealloc(b->srun_args, (b->nsrun_args + 1) * sizeof(char *));
    b->srun_args[b->nsrun_args++] = tune_xstrdup(it->valuestring);
  }
  const char *job = getenv("SLURM_JOB_ID");
  const cJSON *inside = cJSON_GetObjectItemCaseSensitive(opts, "allocation");
  b->in_allocation = job && *job && !cJSON_IsFalse(inside);
  int rc;
  if (b->in_allocation) {
    b->job_id = tune_xstrdup(job);
    rc = tune_slurm_allocation_nodes(b->job_id, &b->base.cluster, &b->licenses, err, errlen);
  } else {
    rc = tune_slurm_partition_nodes(b->partition, &b->base.cluster, &b->licenses, err, errlen);
  }
  tune_res_copy(&b->licenses_free, &b->licenses);
  if (rc < 0) {
    slurm_destroy(&b->base);
    return NULL;
  }
  size_t n = b->base.cluster.nnodes;
  b->lost = tune_xcalloc(n, sizeof *b->lost);
  b->gone = tune_xcalloc(n, sizeof *b->gone);
  b->debt = tune_xcalloc(n, sizeof *b->debt);
  const char *ch = tune_json_get_string(opts, "channel");
  if (!ch || strcmp(ch, "stdio")) {
    b->chans = tune_chan_server_new(tune_backend_local_loop(b->local), touch_local, b->local, err, errlen);
    if (!b->chans) {
      slurm_destroy(&b->base);
      return NULL;
    }
  }
  b->driver_host = opt_str(opts, "driver_host");
  return &b->base;
}
