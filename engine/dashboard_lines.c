/// The dashboard's reads of a trial's result.json: dashboard_lines.h.
#include "dashboard_lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// At least this many bytes of a result.json per answer read in order (more
/// only to end one line longer than that); the page asks again from where
/// the answer ended.
#define TAIL_MAX (4u << 20)
/// Bytes read around each line a sampled answer takes (longer lines are
/// skipped there; a last line longer than this is read in order instead).
#define SAMPLE_WINDOW 4096

static ssize_t pread_full(int fd, char *buf, size_t n, long long at) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, buf + got, n - got, (off_t)(at + (long long)got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  return (ssize_t)got;
}

/// The complete line of `fd` that starts at or after `at` (the first one
/// after a newline, unless `at` starts a line), within SAMPLE_WINDOW bytes:
/// appended to `out`; its end offset, or -1 when none fits.
static long long line_at(int fd, long long at, int at_line_start, char *win, char *out, size_t *out_len) {
  ssize_t k = pread_full(fd, win, SAMPLE_WINDOW, at);
  if (k <= 0) return -1;
  char *p = win, *stop = win + k;
  if (!at_line_start) {
    p = memchr(win, '\n', (size_t)k);
    if (!p) return -1;
    p++;
  }
  char *nl = p < stop ? memchr(p, '\n', (size_t)(stop - p)) : NULL;
  if (!nl) return -1;
  size_t n = (size_t)(nl + 1 - p);
  memcpy(out + *out_len, p, n);
  *out_len += n;
  return at + (long long)(nl + 1 - win);
}

/// Where the last complete line before `end` starts (not before `from`).
static long long last_line_start(int fd, long long from, long long end, char *win) {
  long long lstart = end - 1 > from ? end - 1 : from;
  while (lstart > from) {
    long long back = lstart - SAMPLE_WINDOW > from ? lstart - SAMPLE_WINDOW : from;
    ssize_t k = pread_full(fd, win, (size_t)(lstart - back), back);
    if (k <= 0) break;
    for (ssize_t i = k - 1; i >= 0; i--)
      if (win[i] == '\n') return back + i + 1;
    if (back == from) return from;
    lstart = back;
  }
  return lstart;
}

/// A big backlog thinned without reading it: `max` lines taken at even
/// byte offsets over [from, size), the last complete line always among
/// them; `lines` then estimates how many lines the range holds. 1 when
/// answered, 0 when the last line is longer than SAMPLE_WINDOW (or not
/// complete there), -1 when out of memory.
static int sampled(int fd, long long from, long long size, size_t max, tune_dash_lines_t *a) {
  char *win = malloc(SAMPLE_WINDOW), *out = malloc(max * SAMPLE_WINDOW);
  if (!win || !out) {
    free(win);
    free(out);
    return -1;
  }
  /* The end of the last complete line, and where that line starts. */
  long long tail = size - SAMPLE_WINDOW > from ? size - SAMPLE_WINDOW : from;
  ssize_t k = pread_full(fd, win, SAMPLE_WINDOW, tail);
  long long end = -1;
  for (ssize_t i = k - 1; i >= 0; i--) {
    if (win[i] == '\n') {
      end = tail + i + 1;
      break;
    }
  }
  long long lstart = end > from ? last_line_start(fd, from, end, win) : end;
  if (end <= from || end - lstart > SAMPLE_WINDOW) {
    free(win);
    free(out);
    return 0;
  }
  size_t out_len = 0, kept = 0;
  long long last_end = from;
  for (size_t i = 0; i + 1 < max; i++) {
    long long at = from + (long long)((double)(end - from) * (double)i / (double)(max - 1));
    if (at < last_end) at = last_end;
    if (at >= lstart) break;
    long long e = line_at(fd, at, at == last_end, win, out, &out_len);
    if (e < 0 || e > lstart) continue;
    last_end = e;
    kept++;
  }
  line_at(fd, lstart, 1, win, out, &out_len);
  kept++;
  free(win);
  a->body = out;
  a->len = out_len;
  a->next = end;
  /* Estimated from the average length of the lines kept. */
  a->lines = (end - from) * (long long)kept / (long long)(out_len ? out_len : 1);
  return 1;
}

/// The complete lines from `from` in order: TAIL_MAX bytes, or up to the
/// end of the first line when that is longer; thinned to `max` lines
/// (0: all) evenly spaced, the last always kept.
static int in_order(int fd, long long from, long long size, long long max, tune_dash_lines_t *a) {
  long long avail = size > from ? size - from : 0;
  size_t want = avail > (long long)TAIL_MAX ? TAIL_MAX : (size_t)avail, got = 0;
  char *buf = NULL;
  for (;;) {
    if (!want) break;
    char *grown = realloc(buf, want);
    if (!grown) {
      free(buf);
      return -1;
    }
    buf = grown;
    ssize_t k = pread_full(fd, buf + got, want - got, from + (long long)got);
    got += k > 0 ? (size_t)k : 0;
    if (got < want || memchr(buf, '\n', got) || (long long)want >= avail) break;
    want = (long long)want * 2 > avail ? (size_t)avail : want * 2; /* one line longer than that */
  }
  while (got > 0 && buf[got - 1] != '\n') got--; /* complete lines only */
  size_t nlines = 0;
  for (char *p = buf; p && p < buf + got; p++) nlines += *p == '\n';
  size_t out_len = got;
  if (max > 0 && nlines > (size_t)max) {
    /* Keep line i when it is the first at or past the next mark of an
     * even spacing over [0, nlines), and the last line. */
    size_t w = 0, line = 0, start = 0;
    long long kept = 0;
    for (size_t i = 0; i < got; i++) {
      if (buf[i] != '\n') continue;
      int last = line == nlines - 1;
      int mark = (size_t)((unsigned long long)kept * nlines / (unsigned long long)max) <= line && kept < max - 1;
      if (mark || last) {
        memmove(buf + w, buf + start, i + 1 - start);
        w += i + 1 - start;
        kept++;
      }
      line++;
      start = i + 1;
    }
    out_len = w;
  }
  a->body = buf;
  a->len = out_len;
  a->next = from + (long long)got;
  a->lines = (long long)nlines;
  return 0;
}

int tune_dash_read_lines(int fd, long long from, long long size, long long max, tune_dash_lines_t *out) {
  memset(out, 0, sizeof *out);
  out->next = from;
  if (max > TUNE_DASH_MAX_LINES) max = TUNE_DASH_MAX_LINES;
  if (max > 1 && size - from > max * (long long)SAMPLE_WINDOW) {
    int r = sampled(fd, from, size, (size_t)max, out);
    if (r) return r < 0 ? -1 : 0;
  }
  return in_order(fd, from, size, max, out);
}
