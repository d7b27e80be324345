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
/// Outside one, each placement group becomes a job of its own: `salloc`
/// running `sh -c 'echo $SLURM_JOB_ID; exec cat'` with its stdin held by
/// the driver, so the reservation completes when the job starts (the job
/// id arrives on its stdout), and the job ends when the driver closes that
/// pipe or dies. Workers then run as steps of that job (`srun --jobid`).
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
#include <unistd.h>

#include "backends.h"
#include "channel.h"
#include "common.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "slurm_query.h"

typedef struct slurm_alloc slurm_alloc_t;

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
  slurm_alloc_t *allocs;        ///< outside an allocation: one per reserving or reserved group
  int work;                     ///< a salloc reported: handle it after the wait
  char *hide_probe_from;        ///< test-only: one node must not see the probe
  char *srun, *salloc;          ///< their paths (posix_spawn does not search PATH)
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
  tune_buf_t err;               ///< its stderr (errors)
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
  tune_buf_t err_line;          ///< srun's stderr, the current line
  char *lost_node;
  char *reason;                 ///< srun's last "srun: error:" line
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

/// Cluster-wide licenses, copied onto every node as well so that the
/// engine's placement sees them; the global count is kept here.
static void add_licenses(slurm_backend_t *b, tune_res_t *node) {
  for (size_t i = 0; i < b->licenses.ncustom; i++)
    tune_res_set(node, b->licenses.custom[i].name, tune_res_from_fixed(b->licenses.custom[i].amount));
}

static void parse_licenses(slurm_backend_t *b, const char *spec) {
  /* "custom:4,other:2" (a job's) */
  if (!spec || !strcmp(spec, "(null)")) return;
  char *copy = tune_xstrdup(spec), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(tok, ':');
    double n = colon ? strtod(colon + 1, NULL) : 1;
    if (colon) *colon = '\0';
    tune_res_set(&b->licenses, tok, n);
  }
  free(copy);
}

static void cluster_licenses(slurm_backend_t *b) {
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "licenses", "-o", NULL};
  if (tune_slurm_run(argv, &out, NULL) == 0 && out.len) {
    tune_buf_putc(&out, '\0');
    char *save = NULL;
    for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      char *name = tune_slurm_field(line, "LicenseName"), *total = tune_slurm_field(line, "Total");
      if (name && total) tune_res_set(&b->licenses, name, strtod(total, NULL));
      free(name);
      free(total);
    }
  }
  tune_buf_free(&out);
}

static void add_node(slurm_backend_t *b, const char *name, long cpus, double mem_mb, long gpus) {
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", (double)cpus);
  tune_res_set(&r, "GPU", (double)gpus);
  if (mem_mb > 0) tune_res_set(&r, "memory", mem_mb * 1024 * 1024);
  add_licenses(b, &r);
  tune_cluster_add_node(&b->base.cluster, name, &r, NULL, 0);
  tune_res_free(&r);
}

/// Inside an allocation: its nodes, with the CPUs and GPUs it holds there.
static int allocation_nodes(slurm_backend_t *b, char *err, size_t errlen) {
  tune_buf_t out = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "job", "-d", b->job_id, NULL};
  int rc = tune_slurm_run(argv, &out, NULL);
  if (rc != 0 || !out.len) {
    snprintf(err, errlen, "slurm: cannot read allocation %s (scontrol show job -d: %d)", b->job_id, rc);
    tune_buf_free(&out);
    return -1;
  }
  tune_buf_putc(&out, '\0');
  char *lic = tune_slurm_field(out.data, "Licenses");
  parse_licenses(b, lic);
  free(lic);
  tune_res_copy(&b->licenses_free, &b->licenses);
  char *mem = getenv("SLURM_MEM_PER_NODE");
  double mem_mb = mem ? strtod(mem, NULL) : 0;
  /* "     Nodes=n[1-2] CPU_IDs=0-3 Mem=1000 GRES=gpu:2(IDX:0-1)" */
  char *save = NULL;
  for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *nodes = tune_slurm_field(line, "Nodes"), *ids = tune_slurm_field(line, "CPU_IDs");
    if (nodes && ids) {
      char *gres = tune_slurm_field(line, "GRES");
      size_t n;
      char **names = tune_slurm_hostnames(nodes, &n);
      for (size_t i = 0; i < n; i++)
        add_node(b, names[i], tune_slurm_count_ids(ids), mem_mb, tune_slurm_gres_gpus(gres));
      tune_slurm_free_strv(names, n);
      free(gres);
    }
    free(nodes);
    free(ids);
  }
  tune_buf_free(&out);
  if (!b->base.cluster.nnodes) {
    snprintf(err, errlen, "slurm: allocation %s has no nodes", b->job_id);
    return -1;
  }
  return 0;
}

/// Outside an allocation: the partition's nodes that are up.
static int partition_nodes(slurm_backend_t *b, char *err, size_t errlen) {
  cluster_licenses(b);
  tune_res_copy(&b->licenses_free, &b->licenses);
  tune_buf_t out = TUNE_BUF_INIT, e = TUNE_BUF_INIT;
  char *argv[] = {"scontrol", "show", "nodes", "-o", NULL};
  int rc = tune_slurm_run(argv, &out, &e);
  if (rc != 0) {
    tune_buf_putc(&e, '\0');
    snprintf(err, errlen, "slurm: cannot list the nodes (scontrol show nodes: %s)",
             rc < 0 ? strerror(-rc) : e.data);
    tune_buf_free(&out);
    tune_buf_free(&e);
    return -1;
  }
  tune_buf_putc(&out, '\0');
  char *save = NULL;
  for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *name = tune_slurm_field(line, "NodeName"), *cpus = tune_slurm_field(line, "CPUTot");
    char *mem = tune_slurm_field(line, "RealMemory"), *gres = tune_slurm_field(line, "Gres");
    char *state = tune_slurm_field(line, "State"), *parts = tune_slurm_field(line, "Partitions");
    int in_part = !b->partition || (parts && strstr(parts, b->partition));
    int up = state && !strstr(state, "DOWN") && !strstr(state, "DRAIN") && !strstr(state, "FAIL");
    if (name && cpus && in_part && up)
      add_node(b, name, strtol(cpus, NULL, 10), mem ? strtod(mem, NULL) : 0, tune_slurm_gres_gpus(gres));
    free(name);
    free(cpus);
    free(mem);
    free(gres);
    free(state);
    free(parts);
  }
  tune_buf_free(&out);
  tune_buf_free(&e);
  if (!b->base.cluster.nnodes) {
    snprintf(err, errlen, "slurm: no node is up%s%s", b->partition ? " in partition " : "",
             b->partition ? b->partition : "");
    return -1;
  }
  return 0;
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

static void mark_lost(slurm_backend_t *b, const char *node) {
  ssize_t i = node_index(&b->base.cluster, node);
  if (i < 0 || b->lost[i]) return;
  b->lost[i] = 1;
  TUNE_WARN("slurm: node %s failed: no more trials go there", node);
  zero_lost(b);
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

static const tune_backend_ops_t *local_ops;

static void proc_free(tune_proc_t *p) {
  if (p->linger) local_ops->timer_free(p->linger);
  tune_chan_free(p->chan);
  tune_buf_free(&p->err_line);
  free(p->lost_node);
  free(p->reason);
  free(p);
}

/// srun's own messages on the worker's stderr: a node failure, or the
/// last error (the trainable's stderr passes through unchanged).
static void scan_stderr(tune_proc_t *p, const char *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') {
      if (p->err_line.len < 4096) tune_buf_putc(&p->err_line, data[i]);
      continue;
    }
    tune_buf_putc(&p->err_line, '\0');
    const char *line = p->err_line.data;
    const char *f = strstr(line, "Node failure on ");
    if (f && !p->lost_node) {
      f += strlen("Node failure on ");
      size_t n = strcspn(f, " \t\r:,");
      p->lost_node = tune_xstrndup(f, n);
    }
    if (!strncmp(line, "srun: error:", 12)) {
      free(p->reason);
      p->reason = tune_xstrdup(line);
    }
    tune_buf_reset(&p->err_line);
  }
}

static void alloc_data(tune_proc_t *p, int stream, const char *data, size_t len) {
  slurm_alloc_t *a = p->alloc;
  if (!len) return;
  if (stream == TUNE_STREAM_PROTOCOL) {
    tune_buf_append(&a->out, data, len);
    if (!a->granted && memchr(a->out.data, '\n', a->out.len)) {
      a->job_id = tune_xstrndup(a->out.data, strcspn(a->out.data, "\r\n"));
      a->granted = 1;
      p->b->work = 1;
    }
  } else if (stream == TUNE_STREAM_STDERR && a->err.len < 4096) {
    tune_buf_append(&a->err, data, len);
  }
}

static void on_data(void *ud, int stream, const char *data, size_t len) {
  tune_proc_t *p = ud;
  if (p->alloc) {
    alloc_data(p, stream, data, len);
    return;
  }
  if (stream == TUNE_STREAM_STDERR && len) scan_stderr(p, data, len);
  if (p->chan) {
    /* srun's stdout is the trainable's; nothing writes the fourth fd. */
    if (stream == TUNE_STREAM_STDOUT) return;
    if (stream == TUNE_STREAM_PROTOCOL) stream = TUNE_STREAM_STDOUT;
  }
  p->cb.on_data(p->ud, stream, data, len);
}

/// The worker is gone and its protocol drained: tell the engine.
static void finish(tune_proc_t *p) {
  if (p->chan && tune_chan_state(p->chan) != TUNE_CHAN_ENDED) p->cb.on_data(p->ud, TUNE_STREAM_PROTOCOL, NULL, 0);
  if (p->lost_node) mark_lost(p->b, p->lost_node);
  tune_exit_t x = p->exit;
  if (p->lost_node) x.lost_node = p->lost_node;
  if (!x.reason && p->reason) x.reason = p->reason;
  p->cb.on_exit(p->ud, &x);
  proc_free(p);
}

static void chan_data(void *ud, const char *data, size_t len) {
  tune_proc_t *p = ud;
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
  if (p->alloc) {
    p->alloc->exited = 1;
    p->alloc->salloc = NULL;
    p->b->work = 1;
    proc_free(p);
    return;
  }
  p->exit.status = e->status;
  p->exit.signal = e->signal;
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
/// srun or salloc.
static int spawn_argv(slurm_backend_t *b, char **argv, char **env, const char *cwd, tune_proc_t *p) {
  const char *file = !strcmp(argv[0], "srun") ? b->srun : b->salloc;
  tune_spawn_t so = {file, argv, env, cwd, 0, NULL, NULL, 0};
  return b->local->ops->spawn(b->local, &so, &proc_cb, p, &p->lp);
}

/// The environment for a step: the driver's, without what only a process
/// the driver starts itself can use (a parent pid check, a fourth fd).
static char **step_env(char **env, char *extra) {
  size_t n = 0;
  while (env && env[n]) n++;
  char **out = tune_xcalloc(n + 2, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strncmp(env[i], "TUNE_DRIVER_PID=", 16) || !strncmp(env[i], "TUNE_WORKER_STDOUT_FD=", 22)) continue;
    out[k++] = env[i];
  }
  if (extra) out[k++] = extra;
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

static int slurm_spawn(tune_backend_t *base, const tune_spawn_t *o, const tune_proc_cb_t *cb, void *ud,
                       tune_proc_t **out) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  if (!o->placement || !o->pgf) return -EINVAL; /* no standby workers here */
  const tune_bundle_place_t *bp = &o->placement->bundles[o->bundle];
  const tune_res_t *res = &o->pgf->bundles[o->bundle];
  long cpus = (long)ceil(tune_res_from_fixed(res->cpu));
  long gpus = (long)ceil(tune_res_from_fixed(res->gpu));
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
  arg(&a, tune_xasprintf("-c%ld", cpus < 1 ? 1 : cpus));
  arg(&a, tune_xasprintf("-w%s", b->base.cluster.nodes[bp->node].name));
  arg(&a, tune_xstrdup("-u"));
  arg(&a, tune_xstrdup("--quiet"));
  if (gpus > 0) arg(&a, tune_xasprintf("--gres=gpu:%ld", gpus));
  if (res->memory > 0)
    arg(&a, tune_xasprintf("--mem=%lldM", (long long)ceil(tune_res_from_fixed(res->memory) / (1024.0 * 1024.0))));
  for (size_t i = 0; i < b->nsrun_args; i++) arg(&a, tune_xstrdup(b->srun_args[i]));
  for (char **p = o->argv; p && *p; p++) arg(&a, tune_xstrdup(p == o->argv ? o->file : *p));
  tune_proc_t *p = tune_xcalloc(1, sizeof *p);
  p->b = b;
  p->cb = *cb;
  p->ud = ud;
  char *channel = NULL;
  if (b->chans) {
    char token[33];
    p->chan = tune_chan_expect(b->chans, chan_data, p, token);
    channel = tune_xasprintf("TUNE_CHANNEL=%s:%d:%s", b->driver_host ? b->driver_host : "",
                             tune_chan_server_port(b->chans), token);
  }
  char **env = step_env(o->env, channel);
  int rc = spawn_argv(b, a.v, env, o->cwd, p);
  free(env);
  free(channel);
  argv_free(&a);
  if (rc < 0) {
    proc_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

static int slurm_send(tune_proc_t *p, const char *data, size_t len) {
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

static int reserve_inside(slurm_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  if (!licenses_fit(b, f, 0)) return TUNE_RESERVE_NO_ROOM;
  if (tune_cluster_reserve(&b->base.cluster, f, &r->placement) < 0) return TUNE_RESERVE_NO_ROOM;
  licenses_fit(b, f, -1);
  return TUNE_RESERVE_OK;
}

/// salloc's arguments for group `f`: PACK and STRICT_PACK on one node,
/// SPREAD and STRICT_SPREAD one node per bundle (the largest bundle's
/// size on each); licenses for the whole group.
static void salloc_argv(slurm_backend_t *b, const tune_pgf_t *f, argv_t *a) {
  int one_node = f->strategy == TUNE_PACK || f->strategy == TUNE_STRICT_PACK;
  double cpus = 0, gpus = 0, mem = 0;
  for (size_t i = 0; i < f->nbundles; i++) {
    double c = tune_res_from_fixed(f->bundles[i].cpu), g = tune_res_from_fixed(f->bundles[i].gpu);
    double m = tune_res_from_fixed(f->bundles[i].memory);
    if (one_node) {
      cpus += c, gpus += g, mem += m;
    } else {
      if (c > cpus) cpus = c;
      if (g > gpus) gpus = g;
      if (m > mem) mem = m;
    }
  }
  arg(a, tune_xstrdup("salloc"));
  arg(a, tune_xstrdup("--quiet"));
  arg(a, tune_xasprintf("--job-name=tunelua-%ld", (long)getpid()));
  arg(a, tune_xasprintf("-N%zu", one_node ? (size_t)1 : f->nbundles));
  arg(a, tune_xstrdup("--ntasks-per-node=1"));
  arg(a, tune_xasprintf("-c%ld", (long)ceil(cpus < 1 ? 1 : cpus)));
  if (gpus > 0) arg(a, tune_xasprintf("--gres=gpu:%ld", (long)ceil(gpus)));
  if (mem > 0) arg(a, tune_xasprintf("--mem=%lldM", (long long)ceil(mem / (1024.0 * 1024.0))));
  if (f->total.ncustom) {
    tune_buf_t lic = TUNE_BUF_INIT;
    for (size_t i = 0; i < f->total.ncustom; i++)
      tune_buf_printf(&lic, "%s%s:%g", i ? "," : "", f->total.custom[i].name,
                      ceil(tune_res_from_fixed(f->total.custom[i].amount)));
    arg(a, tune_xasprintf("-L%s", lic.data));
    tune_buf_free(&lic);
  }
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
  al->salloc = p;
  al->next = b->allocs;
  b->allocs = al;
  return TUNE_RESERVE_LATER;
}

static int slurm_reserve(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  return b->in_allocation ? reserve_inside(b, f, r) : reserve_outside(b, f, r);
}

static void scancel(const char *job_id) {
  char *argv[] = {"scancel", (char *)job_id, NULL};
  tune_slurm_run(argv, NULL, NULL);
}

/// Ends a job of ours: scancel, and its salloc goes (its pipe closes).
static void end_alloc(slurm_alloc_t *al) {
  if (al->released) return;
  al->released = 1;
  if (al->job_id) scancel(al->job_id);
  if (al->salloc) al->b->local->ops->kill(al->salloc->lp);
  al->r = NULL;
}

static void slurm_cancel(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  (void)base;
  (void)f;
  slurm_alloc_t *al = r->backend_data;
  if (al) end_alloc(al);
}

static void slurm_release(tune_backend_t *base, const tune_pgf_t *f, tune_reservation_t *r) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  if (b->in_allocation) {
    tune_cluster_release(&b->base.cluster, f, &r->placement);
    licenses_fit(b, f, 1);
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
    const char *name = names[(f->strategy == TUNE_PACK || f->strategy == TUNE_STRICT_PACK) ? 0 : i % n];
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
  for (slurm_alloc_t **pp = &b->allocs; *pp;) {
    slurm_alloc_t *al = *pp;
    if (al->r && !al->reported && (al->granted || al->exited)) {
      char why[512] = "";
      tune_reservation_t *r = al->r;
      al->reported = 1;
      if (al->granted && place_job(b, al, why, sizeof why) == 0) {
        r->done(r, 0, NULL);
      } else {
        if (!why[0]) {
          tune_buf_putc(&al->err, '\0');
          snprintf(why, sizeof why, "salloc failed: %s", al->err.len > 1 ? al->err.data : "no reason given");
          char *nl = strchr(why, '\n');
          if (nl) *nl = '\0';
        }
        end_alloc(al);
        r->done(r, -EINVAL, why);
      }
      any = 1;
    }
    if ((al->released || al->reported) && al->exited && !al->r) {
      *pp = al->next;
      tune_buf_free(&al->out);
      tune_buf_free(&al->err);
      free(al->job_id);
      free(al);
      continue;
    }
    pp = &al->next;
  }
  return any;
}

static int slurm_wait(tune_backend_t *base, double timeout) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  int any = b->local->ops->wait(b->local, timeout);
  if (b->work) any |= handle_allocs(b);
  return any;
}

/// GRES gives a step whole GPUs: a fraction cannot be shared between steps.
static int slurm_feasible(tune_backend_t *base, const tune_pgf_t *f, char *err, size_t errlen) {
  (void)base;
  for (size_t i = 0; i < f->nbundles; i++) {
    if (f->bundles[i].gpu % TUNE_RES_SCALE) {
      snprintf(err, errlen, "bundle %zu asks for %g GPUs, but on Slurm a GPU is a whole GRES device: "
               "ask for whole GPUs", i + 1, tune_res_from_fixed(f->bundles[i].gpu));
      return -1;
    }
  }
  return 0;
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
  tune_buf_t nodes = TUNE_BUF_INIT, out = TUNE_BUF_INIT;
  for (size_t i = 0; i < c->nnodes; i++) tune_buf_printf(&nodes, "%s%s", i ? "," : "", c->nodes[i].name);
  char *nn = tune_xasprintf("-N%zu", c->nnodes), *w = tune_xasprintf("-w%s", nodes.data);
  char *argv[] = {"srun", "--exact", nn, "--ntasks-per-node=1", "-c1", w, "--quiet", "sh", "-c",
                  "if test \"$SLURMD_NODENAME\" != \"$1\" && test -f \"$2\"; then echo \"$SLURMD_NODENAME ok\"; "
                  "else echo \"$SLURMD_NODENAME missing\"; fi",
                  "sh", b->hide_probe_from ? b->hide_probe_from : "", probe, NULL};
  tune_slurm_run(argv, &out, NULL);
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
  if (ok != c->nnodes) {
    snprintf(err, errlen, "local_dir %s is not on a filesystem every node sees: %s did not find a file the "
             "driver wrote there (put local_dir on a shared filesystem)", dir,
             missing.len ? missing.data : "a step on each node");
    rc = -1;
  }
  tune_buf_free(&missing);
  tune_buf_free(&nodes);
  tune_buf_free(&out);
  free(nn);
  free(w);
  free(probe);
  return rc;
}

static int slurm_destroy(tune_backend_t *base) {
  slurm_backend_t *b = (slurm_backend_t *)base;
  for (slurm_alloc_t *al = b->allocs; al; al = al->next) end_alloc(al);
  /* Let the sallocs go before the processes' loop closes. */
  for (int i = 0; i < 50; i++) {
    int live = 0;
    for (slurm_alloc_t *al = b->allocs; al; al = al->next) live |= al->salloc != NULL;
    if (!live) break;
    b->local->ops->wait(b->local, 0.1);
  }
  while (b->allocs) {
    slurm_alloc_t *al = b->allocs;
    b->allocs = al->next;
    tune_buf_free(&al->out);
    tune_buf_free(&al->err);
    free(al->job_id);
    free(al);
  }
  tune_chan_server_free(b->chans);
  int rc = b->local->ops->destroy(b->local);
  tune_cluster_free(&b->base.cluster);
  tune_res_free(&b->licenses);
  tune_res_free(&b->licenses_free);
  for (size_t i = 0; i < b->nsrun_args; i++) free(b->srun_args[i]);
  free(b->srun_args);
  free(b->lost);
  free(b->job_id);
  free(b->partition);
  free(b->account);
  free(b->time_limit);
  free(b->qos);
  free(b->hide_probe_from);
  free(b->driver_host);
  free(b->srun);
  free(b->salloc);
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
  if (!cJSON_IsObject(opts)) {
    snprintf(err, errlen, "slurm options must be a table");
    return -1;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, opts) {
    size_t i = 0, n = sizeof known / sizeof known[0];
    while (i < n && strcmp(known[i].name, it->string)) i++;
    if (i == n) {
      tune_buf_t names = TUNE_BUF_INIT;
      for (size_t j = 0; j < n; j++) tune_buf_printf(&names, "%s%s", j ? ", " : "", known[j].name);
      snprintf(err, errlen, "unknown slurm option '%s' (known: %s)", it->string, names.data);
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

tune_backend_t *tune_backend_slurm_new(const tune_backend_opts_t *o, char *err, size_t errlen) {
  if (check_options(o->options, err, errlen) < 0) return NULL;
  char *srun = find_in_path("srun"), *salloc = find_in_path("salloc");
  char *argv[] = {"srun", "--version", NULL};
  if (!srun || !salloc || tune_slurm_run(argv, NULL, NULL) != 0) {
    snprintf(err, errlen, "the slurm backend needs Slurm's commands (srun, salloc, scontrol, squeue) on PATH");
    free(srun);
    free(salloc);
    return NULL;
  }
  slurm_backend_t *b = tune_xcalloc(1, sizeof *b);
  b->srun = srun;
  b->salloc = salloc;
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
    rc = allocation_nodes(b, err, errlen);
  } else {
    rc = partition_nodes(b, err, errlen);
  }
  if (rc < 0) {
    slurm_destroy(&b->base);
    return NULL;
  }
  b->lost = tune_xcalloc(b->base.cluster.nnodes, sizeof *b->lost);
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
