/// The placement-group manager: groups requested (staging), reserved and
/// waiting for a trial (ready), held by a running trial (in use), kept with
/// an idle worker for reuse (cached), and held by a worker that is shutting
/// down (stopping). Mirrors Ray's _PlacementGroupManager; see
/// docs/architecture.md, "Placement groups".
#ifndef TUNE_PG_MANAGER_H
#define TUNE_PG_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cluster.h"
#include "map.h"
#include "pgf.h"

typedef enum {
  TUNE_PG_STAGING,
  TUNE_PG_READY,
  TUNE_PG_IN_USE,
  TUNE_PG_CACHED,
  TUNE_PG_STOPPING,
} tune_pg_state_t;

typedef struct tune_pgf_entry tune_pgf_entry_t;

typedef struct tune_pg {
  uint64_t id;
  tune_pgf_entry_t *fe;
  tune_pg_state_t state;
  /// The backend reservation; its placement is valid once reserved (not
  /// while staging).
  tune_reservation_t r;
  int reserving;                ///< staging with a request outstanding (TUNE_RESERVE_LATER)
  int completed;                ///< the request completed: on the completed list
  int done_rc;                  ///< and how (0 reserved, negative errno failed)
  char *done_why;               ///< the failure's reason (owned)
  struct tune_pg *done_next;
  char *trial_id;               ///< in use: the trial holding it (owned)
  void *payload;                ///< cached/stopping: the executor's worker, or NULL
  struct tune_pg *prev, *next;
} tune_pg_t;

/// Shorthand for a reserved group's placement.
#define TUNE_PG_PLACEMENT(pg) (&(pg)->r.placement)

typedef struct {
  tune_pg_t *head, *tail;
  size_t n;
} tune_pg_list_t;

typedef struct tune_pg_manager tune_pg_manager_t;

struct tune_pgf_entry {
  tune_pgf_t *pgf;              ///< owned
  tune_pg_manager_t *m;         ///< its manager
  size_t nstaging;
  tune_pg_list_t ready;
  tune_pg_list_t cached;
  size_t order;                 ///< creation order, for stable iteration
};

/// Reservation is a backend operation (docs/architecture.md, "Backends").
/// A request that completes later is reported to `failed` when it can
/// never be met (from tune_pgm_update, outside any callback).
typedef struct {
  tune_backend_t *backend;
  void (*failed)(void *ud, tune_pgf_entry_t *fe, const char *why);
  void *ud;
} tune_pg_reserver_t;

struct tune_pg_manager {
  tune_pg_reserver_t res;
  tune_map_t factories;        ///< key -> tune_pgf_entry_t*
  tune_pgf_entry_t **order;    ///< entries in creation order
  size_t nfactories;
  tune_pg_list_t staging;      ///< all factories, FIFO
  tune_pg_list_t stopping;
  tune_map_t in_use;           ///< trial id -> tune_pg_t*
  tune_map_t staged_trials;    ///< trial id -> its tune_pgf_entry_t*
  tune_pg_t *done_head;        ///< requests completed by the backend, to handle
  size_t nreserving;
  size_t max_pending;
  uint64_t next_id;
};

void tune_pgm_init(tune_pg_manager_t *m, tune_pg_reserver_t res, size_t max_pending);
/// Releases every reservation. Payloads of cached groups must be gone.
void tune_pgm_free(tune_pg_manager_t *m);
/// The entry for factory `f`, created when new (takes ownership of `f`
/// then; frees it when an equal one exists).
tune_pgf_entry_t *tune_pgm_intern(tune_pg_manager_t *m, tune_pgf_t *f);
tune_pgf_entry_t *tune_pgm_lookup(tune_pg_manager_t *m, const char *key);

int tune_pgm_can_stage(const tune_pg_manager_t *m);
/// Stage a group for `trial_id`. 1 staged, 2 was already staged, 0 when the
/// staging limit (TUNE_MAX_PENDING_TRIALS_PG) is reached.
int tune_pgm_stage_trial(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe);
/// Stage one group for `fe` regardless of the limit (reconciliation).
void tune_pgm_stage(tune_pg_manager_t *m, tune_pgf_entry_t *fe);
int tune_pgm_is_staged(const tune_pg_manager_t *m, const char *trial_id);
void tune_pgm_unmark_staged(tune_pg_manager_t *m, const char *trial_id);
/// Handles completed asynchronous reservations, then tries to reserve
/// staged groups in FIFO order. Returns how many became ready.
size_t tune_pgm_update(tune_pg_manager_t *m);
/// Trial ids staged for factory `fe` (borrowed; valid until the map
/// changes), for failing them when their reservation never can be met.
size_t tune_pgm_staged_for(const tune_pg_manager_t *m, const tune_pgf_entry_t *fe, const char **out, size_t max);
/// Takes a ready group of `fe` for `trial_id` (-> in use). NULL if none.
tune_pg_t *tune_pgm_take_ready(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe);
/// Takes a cached group of `fe`, preferring one whose payload satisfies
/// `want(payload, ud)`, for `trial_id` (-> in use). NULL if none.
tune_pg_t *tune_pgm_take_cached(tune_pg_manager_t *m, const char *trial_id, tune_pgf_entry_t *fe,
                                int (*want)(void *payload, void *ud), void *ud);
tune_pg_t *tune_pgm_in_use(const tune_pg_manager_t *m, const char *trial_id);
/// In use -> cached with `payload`; one staging group of the same factory
/// is dropped, since the cached one serves that request.
void tune_pgm_cache(tune_pg_manager_t *m, tune_pg_t *pg, void *payload);
/// In use or cached -> stopping (still reserved) with `payload`.
void tune_pgm_to_stopping(tune_pg_manager_t *m, tune_pg_t *pg, void *payload);
/// Give the reservation back and delete the group (any state).
void tune_pgm_remove(tune_pg_manager_t *m, tune_pg_t *pg);
/// Drop one unused (staging, else ready) group of `fe`. 1 if one was dropped.
int tune_pgm_unstage_unused(tune_pg_manager_t *m, tune_pgf_entry_t *fe);

typedef struct {
  const char *trial_id;
  tune_pgf_entry_t *fe;
  int expected;   ///< PENDING, PAUSED or RUNNING: needs a group
} tune_pgm_trial_t;

/// Ray's reconcile_placement_groups: per factory, make staging + ready +
/// cached + in use (of these trials) equal to the trials expecting a group.
void tune_pgm_reconcile(tune_pg_manager_t *m, const tune_pgm_trial_t *trials, size_t n);

typedef struct {
  size_t staging, ready, in_use, cached, stopping;
  size_t reserving;   ///< staging groups whose request is outstanding
} tune_pgm_counts_t;
void tune_pgm_counts(const tune_pg_manager_t *m, tune_pgm_counts_t *out);

#endif
