#include "numfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fast paths below compute in x87 extended precision (a 64-bit
   significand): a double times an exact power of ten up to 10^27 is then
   off by at most half a unit in the 64th bit, and the code keeps a margin
   of some hundred such units wherever it decides. Any case inside the
   margin, out of the range, or on another architecture takes printf and
   strtod, as before. */
#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64
#define TUNE_FAST_NUM 1
/// 10^0 .. 10^27, each exact in a 64-bit significand (5^27 < 2^64).
static const long double P10[28] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
/// Whether long double arithmetic really carries 64 bits here: not where
/// the x87's precision control was lowered, nor under valgrind, which
/// computes x87 instructions in double precision.
static int extended_ok(void) {
  volatile long double one = 1.0L, tiny = 0x1p-60L;
  return one + tiny != one;
}
#else
#define TUNE_FAST_NUM 0
#endif

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

#if TUNE_FAST_NUM
/// For a in [1e-11, 1e43], a normal double not a power of two: its 17
/// significant digits correctly rounded (d17, with x the decimal exponent
/// of the first), s = a * 10^(16 - x) (within 0.006 of the exact product)
/// and h = half the gap between a and its neighbours, in the same units.
/// 0 where the rounding is too close to call (or out of range).
static int digits17(double a, char d17[17], int *xp, long double *sp, long double *hp) {
  if (!(a >= 1e-11 && a <= 1e43) || !extended_ok()) return 0; /* also NaN, infinities, zero */
  int e2;
  double f = frexp(a, &e2);
  if (f == 0.5) return 0; /* a power of two: the gap below is half the gap above */
  int x = (int)floor((double)(e2 - 1) * 0.30102999566398120);
  long double s = 0;
  for (int tries = 0; tries < 3; tries++) {
    int k = 16 - x;
    if (k > 27 || k < -27) return 0;
    s = k >= 0 ? (long double)a * P10[k] : (long double)a / P10[-k];
    if (s < 1e16L) x--;
    else if (s >= 1e17L) x++;
    else break;
  }
  if (s < 1e16L + 1 || s >= 1e17L - 1) return 0;
  long double fl = floorl(s);
  long double frac = s - fl;
  if (frac > 0.48L && frac < 0.52L) return 0;
  uint64_t d = (uint64_t)fl + (frac > 0.5L);
  for (int i = 16; i >= 0; i--) {
    d17[i] = (char)('0' + d % 10);
    d /= 10;
  }
  int k = 16 - x;
  long double h = ldexpl(1.0L, e2 - 54);
  h = k >= 0 ? h * P10[k] : h / P10[-k];
  *xp = x;
  *sp = s;
  *hp = h;
  return 1;
}

/// Whether the k digits d (k <= 16, decimal exponent xk) read back as the
/// double whose digits17 gave s and h: 1 yes, 0 no, -1 too close to call.
static int reads_back(const char *d, int k, int xk, int x, long double s, long double h) {
  uint64_t c = 0;
  for (int i = 0; i < k; i++) c = c * 10 + (uint64_t)(d[i] - '0');
  for (int i = k; i < 17; i++) c *= 10;
  long double cv = (long double)c;
  if (xk > x) cv *= 10; /* the rounding carried into a new digit: 10^(x+1) */
  long double diff = fabsl(cv - s);
  if (diff < h - 0.02L) return 1;
  if (diff > h + 0.02L) return 0;
  return -1;
}
#endif

static size_t fmt_double(char *out, double v) {
  if (v != 0 && fabs(v) < DBL_MIN) {
    /* Subnormal: fewer than 15 significant digits are exact, so the
       shortest text that reads back (Python's repr: 5e-324) is shorter
       than "%.15g"; rare enough to search for it with printf. */
    for (int k = 1; k < 17; k++) {
      size_t n = (size_t)snprintf(out, 32, "%.*g", k, v);
      if (strtod(out, NULL) == v) return n;
    }
    return (size_t)snprintf(out, 32, "%.17g", v);
  }
  /* 17 significant digits, correctly rounded: "-d.dddddddddddddddde-xxx". */
  int neg = signbit(v) != 0;
  char d17[17];
  int x;
  int fast = 0;
#if TUNE_FAST_NUM
  long double fs = 0, fh = 0;
  fast = digits17(fabs(v), d17, &x, &fs, &fh);
#endif
  if (!fast) {
    char e[40];
    snprintf(e, sizeof e, "%.16e", v);
    const char *s = e;
    if (*s == '-') s++;
    d17[0] = s[0];
    memcpy(d17 + 1, s + 2, 16);
    x = atoi(s + 18 + 1);
  }
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
#if TUNE_FAST_NUM
      if (fast) {
        int rb = reads_back(d, k, xk, x, fs, fh);
        if (rb == 1) return n;
        if (rb == 0) continue;
      }
#endif
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

int tune_scan_double(const char *s, size_t n, double *out) {
#if TUNE_FAST_NUM
  const char *p = s, *end = s + n;
  int neg = p < end && *p == '-';
  if (neg) p++;
  uint64_t m = 0;
  int digits = 0, e10 = 0;
  /* Up to 19 significant digits into m (exact: 10^19 < 2^64); dropped
     digits must be zeros. */
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (m == 0 && *p == '0') continue;
    if (digits == 19) {
      if (*p != '0') return 0;
      e10++;
      continue;
    }
    m = m * 10 + (uint64_t)(*p - '0');
    digits++;
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      if (m == 0 && *p == '0') {
        e10--;
        continue;
      }
      if (digits == 19) {
        if (*p != '0') return 0;
        continue;
      }
      m = m * 10 + (uint64_t)(*p - '0');
      digits++;
      e10--;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) p++;
    int ev = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (ev < 100000) ev = ev * 10 + (*p - '0');
    e10 += eneg ? -ev : ev;
  }
  if (p != end) return 0;
  if (m == 0) {
    *out = neg ? -0.0 : 0.0;
    return 1;
  }
  if (e10 > 27 || e10 < -27 || !extended_ok()) return 0;
  /* One rounding to 64 bits, then one to 53: the second is wrong only
     where the first landed exactly halfway between two doubles. */
  long double r = e10 >= 0 ? (long double)m * P10[e10] : (long double)m / P10[-e10];
  int ex;
  uint64_t bits = (uint64_t)ldexpl(frexpl(r, &ex), 64);
  if ((bits & 0x7FF) == 0x400) return 0;
  double d = (double)r;
  *out = neg ? -d : d;
  return 1;
#else
  (void)s;
  (void)n;
  (void)out;
  return 0;
#endif
}
