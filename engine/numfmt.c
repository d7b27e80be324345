#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tune_fmt_int(char *out, int64_t v) {
  char tmp[24];
  size_t n = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  size_t len = 0;
  if (v < 0) out[len++] = '-';
  while (n) out[len++] = tmp[--n];
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

size_t tune_fmt_double(char *out, double v) {
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
