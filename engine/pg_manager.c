#include "pg_manager.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

static void list_push(tune_pg_list_t *l, tune_pg_t *pg) {
  pg->prev = l->tail;
  pg->next = NULL;
  if (l->tail) l->tail->next = pg;
  else l->head = pg;
  l->tail = pg;
  l->n++;
}

static void list_remove(tune_pg_list_t *l, tune_pg_t *pg) {
  if (pg->prev) pg->prev->next = pg->next;
  else l->head = pg->next;
  if (pg->next) pg->next->prev = pg->prev;
  else l->tail = pg->prev;
  pg->prev = pg->next = NULL;
  l->n--;
}

void tune_pgm_init(tune_pg_manager_t *m, tune_pg_reserver_t res, size_t max_pending) {
  memset(m, 0, sizeof *m);
  m->res = res;
  m->max_pending = max_pending;
  tune_map_init(&m->factories);
  tune_map_init(&m->in_use);
  tune_map_init(&m->staged_trials);
}

static tune_pg_list_t *list_of(tune_pg_manager_t *m, tune_pg_t *pg) {
  switch (pg->state) {
    case TUNE_PG_STAGING: return &m->staging;
    case TUNE_PG_READY: return &pg->fe->ready;
    case TUNE_PG_CACHED: return &pg->fe->cached;
    case TUNE_PG_STOPPING: return &m->stopping;
    case TUNE_PG_IN_USE: return NULL;
  }
  return NULL;
}

/// Unlink `pg` from whatever holds it (list or in-use map).
static void detach(tune_pg_manager_t *m, tune_pg_t *pg) {
  if (pg->state == TUNE_PG_IN_USE) {
    tune_map_del(&m->in_use, pg->trial_id);
    free(pg->trial_id);
    pg->trial_id = NULL;
    return;
  }
  list_remove(list_of(m, pg), pg);
  if (pg->state == TUNE_PG_STAGING) pg->fe->nstaging--;
}

static void release(tune_pg_manager_t *m, tune_pg_t *pg) {
  tune_backend_t *b = m->res.backend;
  b->ops->release(b, pg->fe->pgf, &pg->r);
}

/// Takes `pg` off the completed list.
static void undone(tune_pg_manager_t *m, tune_pg_t *pg) {
  for (tune_pg_t **p = &m->done_head; *p; p = &(*p)->done_next)
    if (*p == pg) {
      *p = pg->done_next;
      break;
    }
  pg->completed = 0;
  pg->done_next = NULL;
}

void tune_pgm_remove(tune_pg_manager_t *m, tune_pg_t *pg) {
  detach(m, pg);
  if (pg->state != TUNE_PG_STAGING) {
    release(m, pg);
  } else if (pg->reserving) {
    /* Withdraw the request, or give back what it got meanwhile. */
    if (pg->completed) {
      if (pg->done_rc == 0) release(m, pg);
      undone(m, pg);
    } else {
      tune_backend_t *b = m->res.backend;
      if (b->ops->cancel) b->ops->cancel(b, pg->fe->pgf, &pg->r);
    }
    m->nreserving--;
  }
  free(pg->done_why);
  free(pg);
}

void tune_pgm_free(tune_pg_manager_t *m) {
  while (m->staging.head) tune_pgm_remove(m, m->staging.head);
  while (m->stopping.head) tune_pgm_remove(m, m->stopping.head);
  size_t pos = 0;
  void *v;
  while (tune_map_next(&m->in_use, &pos, NULL, &v)) {
    tune_pgm_remove(m, v);
    pos = 0;
  }
  for (size_t i = 0; i < m->nfactories; i++) {
    tune_pgf_entry_t *fe = m->order[i];
    while (fe->ready.head) tune_pgm_remove(m, fe->ready.head);
    while (fe->cached.head) tune_pgm_remove(m, fe->cached.head);
    tune_pgf_free(fe->pgf);
    free(fe);
  }
  free(m->order);
  tune_map_free(&m->factories);
  tune_map_free(&m->in_use);
  tune_map_free(&m->staged_trials);
  memset(m, 0, sizeof *m);
}

tune_pgf_entry_t *tune_pgm_lookup(tune_pg_manager_t *m, const char *key) {
  return tune_map_get(&m->factories, key);
}

tune_pgf_entry_t *tune_pgm_intern(tune_pg_manager_t *m, tune_pgf_t *f) {
  tune_pgf_entry_t *fe = tune_map_get(&m->factories, f->key);
  if (fe) {
    tune_pgf_free(f);
    return fe;
  }
  fe = tune_xcalloc(1, sizeof *fe);
  fe->pgf = f;
  fe->m = m;
  fe->order = m->nfactories;
  m->order = tune_xrealloc(m->order, (m->nfactories + 1) * sizeof *m->order);
  m->order[m->nfactories++] = fe;
  tune_map_put(&m->factories, f->key, fe);
  return fe;
}

int tune_pgm_can_stage(const tune_pg_manager_t *m) { return m->staging.n < m->max_pending; }

void tune_pgm_stage(tune_pg_manager_t *m, tune_pgf_entry_t *fe) {
  tune_pg_t *pg = tune_xcalloc(1, sizeof *pg);
  pg->id = ++m->next_id;
  pg->fe = fe;
  pg->state = TUNE_PG_STAGING;
  list_push(&m->staging, pg);
  fe->nstaging++;
}

int tune_pgm_stage_trial(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe) {
  if (tune_map_get(&m->staged_trials, trial_id)) return 2;
  if (!tune_pgm_can_stage(m)) return 0;
  tune_pgm_stage(m, fe);
  tune_map_put(&m->staged_trials, trial_id, fe);
  return 1;
}

int tune_pgm_is_staged(const tune_pg_manager_t *m, const char *trial_id) {
  return tune_map_get(&m->staged_trials, trial_id) != NULL;
}

void tune_pgm_unmark_staged(tune_pg_manager_t *m, const char *trial_id) {
  tune_map_del(&m->staged_trials, trial_id);
}

static void make_ready(tune_pg_manager_t *m, tune_pg_t *pg) {
  detach(m, pg);
  pg->state = TUNE_PG_READY;
  list_push(&pg->fe->ready, pg);
}

/// The backend completed a request (called from inside its wait()): only
/// queue it; tune_pgm_update() handles it.
static void on_reserved(tune_reservation_t *r, int rc, const char *why) {
  tune_pg_t *pg = r->engine_data;
  tune_pg_manager_t *m = pg->fe->m;
  pg->completed = 1;
  pg->done_rc = rc;
  pg->done_why = rc < 0 ? tune_xstrdup(why ? why : "the reservation failed") : NULL;
  pg->done_next = m->done_head;
  m->done_head = pg;
}

/// Completed requests: reserved ones become ready; a failed one is
/// dropped and its factory's waiting trials are failed by the owner.
static size_t handle_completed(tune_pg_manager_t *m) {
  size_t ready = 0;
  tune_pg_t *pg;
  while ((pg = m->done_head)) {
    m->done_head = pg->done_next;
    pg->done_next = NULL;
    pg->completed = 0;
    pg->reserving = 0;
    m->nreserving--;
    if (pg->done_rc == 0) {
      make_ready(m, pg);
      ready++;
      continue;
    }
    tune_pgf_entry_t *fe = pg->fe;
    char *why = pg->done_why;
    pg->done_why = NULL;
    detach(m, pg);
    free(pg);
    if (m->res.failed) m->res.failed(m->res.ud, fe, why);
    free(why);
  }
  return ready;
}

size_t tune_pgm_update(tune_pg_manager_t *m) {
  size_t ready = handle_completed(m);
  /* A factory that failed to fit once in this pass will not fit again.
     Called twice a step: a few factories are marked on the stack. */
  char small[64];
  char *failed = m->nfactories > sizeof small ? tune_xcalloc(m->nfactories, 1)
                                              : m->nfactories ? memset(small, 0, m->nfactories) : NULL;
  tune_backend_t *b = m->res.backend;
  tune_pg_t *pg = m->staging.head;
  while (pg) {
    tune_pg_t *next = pg->next;
    if (!pg->reserving && !failed[pg->fe->order]) {
      pg->r.done = on_reserved;
      pg->r.engine_data = pg;
      int rc = b->ops->reserve(b, pg->fe->pgf, &pg->r);
      if (rc == TUNE_RESERVE_OK) {
        make_ready(m, pg);
        ready++;
      } else if (rc == TUNE_RESERVE_LATER) {
        pg->reserving = 1;
        m->nreserving++;
      } else {
        failed[pg->fe->order] = 1;
      }
    }
    pg = next;
  }
  if (failed != small) free(failed);
  return ready;
}

size_t tune_pgm_staged_for(const tune_pg_manager_t *m, const tune_pgf_entry_t *fe, const char **out, size_t max) {
  size_t n = 0, pos = 0;
  const char *id;
  void *v;
  while (n < max && tune_map_next(&m->staged_trials, &pos, &id, &v))
    if (v == fe) out[n++] = id;
  return n;
}

static void make_in_use(tune_pg_manager_t *m, tune_pg_t *pg, const char *trial_id) {
  detach(m, pg);
  pg->state = TUNE_PG_IN_USE;
  pg->trial_id = tune_xstrdup(trial_id);
  tune_map_put(&m->in_use, trial_id, pg);
  tune_map_del(&m->staged_trials, trial_id);
}

tune_pg_t *tune_pgm_take_ready(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe) {
  tune_pg_t *pg = fe->ready.head;
  if (!pg) return NULL;
  make_in_use(m, pg, trial_id);
  return pg;
}

tune_pg_t *tune_pgm_take_cached(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe,
                                int (*want)(void *payload, void *ud), void *ud) {
  tune_pg_t *pick = NULL;
  for (tune_pg_t *pg = fe->cached.head; pg; pg = pg->next) {
    if (!want || want(pg->payload, ud)) {
      pick = pg;
      break;
    }
  }
  if (!pick) pick = fe->cached.head;
  if (!pick) return NULL;
  make_in_use(m, pick, trial_id);
  return pick;
}

tune_pg_t *tune_pgm_in_use(const tune_pg_manager_t *m, const char *trial_id) {
  return tune_map_get(&m->in_use, trial_id);
}

/// The newest staging group of `fe`, or NULL.
static tune_pg_t *newest_staging(tune_pg_manager_t *m, tune_pgf_entry_t *fe) {
  for (tune_pg_t *pg = m->staging.tail; pg; pg = pg->prev)
    if (pg->fe == fe) return pg;
  return NULL;
}

void tune_pgm_cache(tune_pg_manager_t *m, tune_pg_t *pg, void *payload) {
  detach(m, pg);
  pg->state = TUNE_PG_CACHED;
  pg->payload = payload;
  list_push(&pg->fe->cached, pg);
  tune_pg_t *extra = newest_staging(m, pg->fe);
  if (extra) tune_pgm_remove(m, extra);
}

void tune_pgm_to_stopping(tune_pg_manager_t *m, tune_pg_t *pg, void *payload) {
  detach(m, pg);
  pg->state = TUNE_PG_STOPPING;
  pg->payload = payload;
  list_push(&m->stopping, pg);
}

int tune_pgm_unstage_unused(tune_pg_manager_t *m, tune_pgf_entry_t *fe) {
  tune_pg_t *pg = newest_staging(m, fe);
  if (!pg) pg = fe->ready.tail;
  if (!pg) return 0;
  tune_pgm_remove(m, pg);
  return 1;
}

void tune_pgm_reconcile(tune_pg_manager_t *m, const tune_pgm_trial_t *trials, size_t n) {
  size_t nf = m->nfactories;
  if (!nf) return;
  size_t *current = tune_xcalloc(nf, sizeof(size_t));
  size_t *expected = tune_xcalloc(nf, sizeof(size_t));
  for (size_t i = 0; i < n; i++) {
    tune_pgf_entry_t *fe = trials[i].fe;
    if (!fe) continue;
    tune_pg_t *pg = tune_map_get(&m->in_use, trials[i].trial_id);
    if (pg && pg->fe == fe) current[fe->order]++;
    if (trials[i].expected) expected[fe->order]++;
  }
  for (size_t k = 0; k < nf; k++) {
    tune_pgf_entry_t *fe = m->order[k];
    current[k] += fe->cached.n + fe->nstaging + fe->ready.n;
    while (current[k] > expected[k] && tune_pgm_unstage_unused(m, fe)) current[k]--;
    while (expected[k] > current[k]) {
      tune_pgm_stage(m, fe);
      current[k]++;
    }
  }
  free(current);
  free(expected);
}

void tune_pgm_counts(const tune_pg_manager_t *m, tune_pgm_counts_t *out) {
  memset(out, 0, sizeof *out);
  out->staging = m->staging.n;
  out->in_use = m->in_use.len;
  out->stopping = m->stopping.n;
  out->reserving = m->nreserving;
  for (size_t k = 0; k < m->nfactories; k++) {
    out->ready += m->order[k]->ready.n;
    out->cached += m->order[k]->cached.n;
  }
}
