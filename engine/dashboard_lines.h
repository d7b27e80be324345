/// The dashboard's reads of a trial's result.json (engine/dashboard.c's
/// /api/results): the complete lines from a byte offset, thinned to at
/// most `max` evenly spaced ones (the last always among them) for a page
/// that fell behind. Kept apart from the HTTP server: plain file reads.
#ifndef TUNE_DASHBOARD_LINES_H
#define TUNE_DASHBOARD_LINES_H

#include <stddef.h>

/// The most lines a thinned answer asks for (bounds its buffer).
#define TUNE_DASH_MAX_LINES 10000

/// One answer: `body` (malloc'd, or NULL when empty) of `len` bytes, the
/// offset the next request starts from, and the lines the answer covers
/// (an estimate when it was sampled without reading them all).
typedef struct {
  char *body;
  size_t len;
  long long next;
  long long lines;
} tune_dash_lines_t;

/// Reads the answer for the open result file `fd` of `size` bytes from
/// byte `from`, at most `max` lines (0: no limit; at most
/// TUNE_DASH_MAX_LINES). 0, or -1 when out of memory.
int tune_dash_read_lines(int fd, long long from, long long size, long long max, tune_dash_lines_t *out);

#endif
