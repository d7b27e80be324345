/// The default result loggers, in C on the result hot path (Ray's
/// JsonLoggerCallback and CSVLoggerCallback): every batch of results is
/// appended to the trial's result.json (one JSON object a line, with its
/// config) and progress.csv (flattened "a/b" columns fixed by the first
/// result, config/ columns included) with one write(2) per file, so a crash
/// leaves at most a torn last line.
#ifndef TUNE_LOGGERS_H
#define TUNE_LOGGERS_H

#include <cjson/cJSON.h>

#include "buf.h"
#include "map.h"

typedef struct {
  int json;
  int csv;
  tune_map_t columns;   ///< trial id -> csv_columns_t* (owned)
  char *last_error;     ///< the last write failure, for a warning
} tune_loggers_t;

void tune_loggers_init(tune_loggers_t *l, int json, int csv);
void tune_loggers_free(tune_loggers_t *l);
/// A tune_result_sink_t: `ud` is the tune_loggers_t.
void tune_loggers_sink(void *ud, const char *trial_id, const char *logdir, const cJSON *config,
                       const cJSON *results);
/// Forget a trial's CSV columns (they are read back from the file if it
/// logs again, e.g. after a resume).
void tune_loggers_forget(tune_loggers_t *l, const char *trial_id);
/// Appends `s` to `out` quoted as a CSV field when it needs quoting.
void tune_csv_field(tune_buf_t *out, const char *s, size_t len);

#endif
