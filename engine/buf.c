#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void *tune_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) tune_abort(__FILE__, __LINE__, "out of memory");
  return p;
}

void *tune_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) tune_abort(__FILE__, __LINE__, "out of memory");
  return p;
}

void *tune_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) tune_abort(__FILE__, __LINE__, "out of memory");
  return q;
}

char *tune_xstrdup(const char *s) { return tune_xstrndup(s, strlen(s)); }

char *tune_xstrndup(const char *s, size_t n) {
  char *p = tune_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *tune_xasprintf(const char *fmt, ...) {
  tune_buf_t b = TUNE_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  tune_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  return tune_buf_steal(&b);
}

void tune_abort(const char *file, int line, const char *msg) {
  fprintf(stderr, "tunelua: internal error at %s:%d: %s\n", file, line, msg);
  abort();
}

void tune_buf_init(tune_buf_t *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}

void tune_buf_free(tune_buf_t *b) {
  free(b->data);
  tune_buf_init(b);
}

void tune_buf_reset(tune_buf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void tune_buf_grow(tune_buf_t *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->data = tune_xrealloc(b->data, cap);
  b->cap = cap;
  b->data[b->len] = '\0';
}

void tune_buf_puts(tune_buf_t *b, const char *s) { tune_buf_append(b, s, strlen(s)); }

void tune_buf_vprintf(tune_buf_t *b, const char *fmt, va_list ap) {
  /* Formatted once where it fits (the common case), twice otherwise. */
  tune_buf_reserve(b, 64);
  va_list ap2;
  va_copy(ap2, ap);
  size_t room = b->cap - b->len;
  int n = vsnprintf(b->data + b->len, room, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->data[b->len] = '\0';
    return;
  }
  if ((size_t)n >= room) {
    tune_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
}

void tune_buf_printf(tune_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tune_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void tune_buf_consume(tune_buf_t *b, size_t n) {
  if (n >= b->len) {
    tune_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *tune_buf_steal(tune_buf_t *b) {
  char *p = b->data;
  if (!p) p = tune_xstrdup("");
  tune_buf_init(b);
  return p;
}
