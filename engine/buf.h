/// Growable byte buffer. The buffer owns `data`; free with tune_buf_free().
#ifndef TUNE_BUF_H
#define TUNE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct {
  char *data;   ///< Always NUL-terminated when cap > 0.
  size_t len;
  size_t cap;
} tune_buf_t;

#define TUNE_BUF_INIT {NULL, 0, 0}

void tune_buf_init(tune_buf_t *b);
void tune_buf_free(tune_buf_t *b);
void tune_buf_reset(tune_buf_t *b);
/// The slow path of tune_buf_reserve: reallocates (doubling).
void tune_buf_grow(tune_buf_t *b, size_t extra);
void tune_buf_puts(tune_buf_t *b, const char *s);

/* The three calls on every byte the encoders write, inline: the common
   case is a bounds check and a store. */

/// Make room for `extra` more bytes (plus the terminating NUL).
static inline void tune_buf_reserve(tune_buf_t *b, size_t extra) {
  if (b->len + extra + 1 > b->cap) tune_buf_grow(b, extra);
}

static inline void tune_buf_append(tune_buf_t *b, const void *data, size_t len) {
  tune_buf_reserve(b, len);
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

static inline void tune_buf_putc(tune_buf_t *b, char c) {
  tune_buf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}
void tune_buf_printf(tune_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tune_buf_vprintf(tune_buf_t *b, const char *fmt, va_list ap);
/// Drop the first `n` bytes.
void tune_buf_consume(tune_buf_t *b, size_t n);
/// Hand the contents to the caller (who frees them) and reset the buffer.
char *tune_buf_steal(tune_buf_t *b);

#endif
