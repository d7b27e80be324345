#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last doubles formatted, by their bits (printf and strtod cost
   some 5,000 instructions a number): a result's values are written twice,
   to result.json and progress.csv, and its time fields are often equal.
   Per thread (the dashboard serves from its own). */
#define FMT_CACHE 256
typedef struct {
  uint64_t bits;
  unsigned char len; /* 0: empty */
  char text[31];
} fmt_slot_t;
static _Thread_local fmt_slot_t fmt_cache[FMT_CACHE];

static const char DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t tune_fmt_int(char *out, int64_t v) {
  char tmp[24];
  size_t n = sizeof tmp;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  /* Two digits a step, from the right. */
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100) * 2;
    u /= 100;
    tmp[--n] = DIGITS2[d + 1];
    tmp[--n] = DIGITS2[d];
  }
  if (u >= 10) {
    tmp[--n] = DIGITS2[u * 2 + 1];
    tmp[--n] = DIGITS2[u * 2];
  } else {
    tmp[--n] = (char)('0' + u);
  }
  size_t len = 0;
  if (v < 0) out[len++] = '-';
  memcpy(out + len, tmp + n, sizeof tmp - n);
  len += sizeof tmp - n;
  out[len] = '\0';
  return len;
}

/// printf's %.Pg layout of the significant digits d[0..k) (k <= P, no
/// leading zero) times 10^x, with the sign; trailing zeros dropped.
static size_t layout_g(char *out, int neg, const char *d, int k, int x, int p) {
  while (k > 1 && d[k - 1] == '0') k--;
  size_t n = 0;
  if (neg) out[n++] = '-';
  if (x < -4 || x >= p) {
    out[n++] = d[0];
    if (k > 1) {
      out[n++] = '.';
      memcpy(out + n, d + 1, (size_t)(k - 1));
      n += (size_t)(k - 1);
    }
    out[n++] = 'e';
    out[n++] = x < 0 ? '-' : '+';
    int ax = x < 0 ? -x : x;
    if (ax >= 100) out[n++] = (char)('0' + ax / 100);
    out[n++] = (char)('0' + ax / 10 % 10);
    out[n++] = (char)('0' + ax % 10);
  } else if (x >= 0) {
    for (int i = 0; i <= x; i++) out[n++] = i < k ? d[i] : '0';
    if (k > x + 1) {
      out[n++] = '.';
      memcpy(out + n, d + x + 1, (size_t)(k - x - 1));
      n += (size_t)(k - x - 1);
    }
  } else {
    out[n++] = '0';
    out[n++] = '.';
    for (int i = 0; i < -x - 1; i++) out[n++] = '0';
    memcpy(out + n, d, (size_t)k);
    n += (size_t)k;
  }
  out[n] = '\0';
  return n;
}

static size_t fmt_double(char *out, double v) {
  /* 17 significant digits, correctly rounded: "-d.dddddddddddddddde-xxx". */
  char e[40];
  snprintf(e, sizeof e, "%.16e", v);
  const char *s = e;
  int neg = *s == '-';
  if (neg) s++;
  char d17[17];
  d17[0] = s[0];
  memcpy(d17 + 1, s + 2, 16);
  int x = atoi(s + 18 + 1);
  for (int k = 15; k <= 16; k++) {
    /* Rounding the 17 digits to k is rounding the exact value to k unless
       the dropped digits are exactly "5" or "50": then ask printf. */
    int tie = k == 16 ? d17[16] == '5' : d17[15] == '5' && d17[16] == '0';
    size_t n;
    if (tie) {
      n = (size_t)snprintf(out, 32, "%.*g", k, v);
    } else {
      char d[17];
      memcpy(d, d17, (size_t)k);
      int xk = x;
      if (d17[k] >= '5') {
        int i = k - 1;
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i >= 0) {
          d[i]++;
        } else {
          d[0] = '1';
          xk++;
        }
      }
      n = layout_g(out, neg, d, k, xk, k);
    }
    if (strtod(out, NULL) == v) return n;
  }
  return layout_g(out, neg, d17, 17, x, 17);
}

size_t tune_fmt_double(char *out, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  fmt_slot_t *slot = &fmt_cache[(bits * 0x9E3779B97F4A7C15ull) >> 56];
  if (slot->len && slot->bits == bits) {
    memcpy(out, slot->text, (size_t)slot->len + 1);
    return slot->len;
  }
  size_t n = fmt_double(out, v);
  if (n < sizeof slot->text) {
    slot->bits = bits;
    slot->len = (unsigned char)n;
    memcpy(slot->text, out, n + 1);
  }
  return n;
}
