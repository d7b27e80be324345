#include "events.h"

#include <stdlib.h>

#include "common.h"

static const char *const event_names[] = {
    "PG_READY", "TRAINING_RESULT", "SAVING_RESULT", "RESTORING_RESULT",
    "ERROR",    "YIELD",           "NO_RUNNING_TRIAL_TIMEOUT",
};

const char *tune_event_type_name(tune_event_type_t t) { return event_names[t]; }

tune_event_t *tune_event_new(tune_event_type_t type, const char *trial_id) {
  tune_event_t *ev = tune_xcalloc(1, sizeof *ev);
  ev->type = type;
  ev->trial_id = trial_id ? tune_xstrdup(trial_id) : NULL;
  return ev;
}

void tune_event_free(tune_event_t *ev) {
  if (!ev) return;
  free(ev->trial_id);
  cJSON_Delete(ev->results);
  free(ev->checkpoint_dir);
  free(ev->error);
  free(ev->traceback);
  free(ev);
}

void tune_events_push(tune_event_queue_t *q, tune_event_t *ev) {
  ev->next = NULL;
  if (q->tail) q->tail->next = ev;
  else q->head = ev;
  q->tail = ev;
  q->n++;
}

tune_event_t *tune_events_pop(tune_event_queue_t *q) {
  tune_event_t *ev = q->head;
  if (!ev) return NULL;
  q->head = ev->next;
  if (!q->head) q->tail = NULL;
  ev->next = NULL;
  q->n--;
  return ev;
}

void tune_events_clear(tune_event_queue_t *q) {
  tune_event_t *ev;
  while ((ev = tune_events_pop(q))) tune_event_free(ev);
}
