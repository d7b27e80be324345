/// Executor events (named as the seed tests name them) and the queue they
/// wait in until the runner takes them (tune_executor_next_event).
#ifndef TUNE_EVENTS_H
#define TUNE_EVENTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef enum {
  TUNE_EV_PG_READY,
  TUNE_EV_TRAINING_RESULT,
  TUNE_EV_SAVING_RESULT,
  TUNE_EV_RESTORING_RESULT,
  TUNE_EV_ERROR,
  TUNE_EV_YIELD,
  TUNE_EV_NO_RUNNING_TRIAL_TIMEOUT,
} tune_event_type_t;

typedef struct tune_event {
  tune_event_type_t type;
  char *trial_id;
  cJSON *results;        ///< TRAINING_RESULT while queued: the batch (owned)
  /// TRAINING_RESULT once delivered: the batch, which the executor keeps
  /// until it is committed or the next batch is delivered (borrowed).
  const cJSON *batch;
  char *checkpoint_dir;  ///< SAVING_RESULT / RESTORING_RESULT
  char *error;           ///< ERROR: what happened, one line
  char *traceback;       ///< ERROR: details (Lua traceback, stderr tail), or NULL
  struct tune_event *next;
  /// ERROR: the trial's result rows could not be written (engine/loggers.h);
  /// the trial may have ended already (then it lost its last rows).
  int lost_rows;
} tune_event_t;

typedef struct {
  tune_event_t *head, *tail;
  size_t n;
} tune_event_queue_t;

const char *tune_event_type_name(tune_event_type_t t);
/// A new event of `type` for `trial_id` (copied; may be NULL). Caller owns it.
tune_event_t *tune_event_new(tune_event_type_t type, const char *trial_id);
/// Frees the event and what it owns.
void tune_event_free(tune_event_t *ev);
/// The queue takes the event.
void tune_events_push(tune_event_queue_t *q, tune_event_t *ev);
/// The oldest event, or NULL. Caller owns it.
tune_event_t *tune_events_pop(tune_event_queue_t *q);
void tune_events_clear(tune_event_queue_t *q);

#endif
