#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "numfmt.h"

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
  const char *p;
  const char *start;
  const char *end;
  char *err;
  size_t errlen;
  int depth;
} reader_t;

static int fail(reader_t *r, const char *what) {
  if (r->err && r->errlen) {
    snprintf(r->err, r->errlen, "%s at byte %zu", what, (size_t)(r->p - r->start));
  }
  return -1;
}

static void skip_ws(reader_t *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int match(reader_t *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) >= n && memcmp(r->p, word, n) == 0) {
    r->p += n;
    return 1;
  }
  return 0;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(tune_buf_t *b, unsigned cp) {
  char tmp[4];
  size_t n;
  if (cp < 0x80) { tmp[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { tmp[0] = (char)(0xC0 | (cp >> 6)); tmp[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    tmp[0] = (char)(0xE0 | (cp >> 12)); tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    tmp[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  } else {
    tmp[0] = (char)(0xF0 | (cp >> 18)); tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); tmp[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
  }
  tune_buf_append(b, tmp, n);
}

/// Reads a string at r->p (which points at the opening quote) into `out`.
static int read_string(reader_t *r, tune_buf_t *out) {
  r->p++; /* opening quote */
  tune_buf_reset(out);
  tune_buf_reserve(out, 0);
  while (r->p < r->end) {
    const char *run = r->p;
    while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 0x20) r->p++;
    if (r->p > run) tune_buf_append(out, run, (size_t)(r->p - run));
    if (r->p >= r->end) break;
    char c = *r->p;
    if (c == '"') {
      r->p++;
      return 0;
    }
    if ((unsigned char)c < 0x20) return fail(r, "control character in string");
    /* backslash */
    if (r->end - r->p < 2) break;
    char e = r->p[1];
    r->p += 2;
    switch (e) {
      case '"': tune_buf_putc(out, '"'); break;
      case '\\': tune_buf_putc(out, '\\'); break;
      case '/': tune_buf_putc(out, '/'); break;
      case 'b': tune_buf_putc(out, '\b'); break;
      case 'f': tune_buf_putc(out, '\f'); break;
      case 'n': tune_buf_putc(out, '\n'); break;
      case 'r': tune_buf_putc(out, '\r'); break;
      case 't': tune_buf_putc(out, '\t'); break;
      case 'u': {
        unsigned cp;
        if (r->end - r->p < 4 || hex4(r->p, &cp) < 0) return fail(r, "bad \\u escape");
        r->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) < 0 ||
              lo < 0xDC00 || lo > 0xDFFF)
            return fail(r, "unpaired surrogate");
          r->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(r, "unpaired surrogate");
        }
        put_utf8(out, cp);
        break;
      }
      default:
        r->p--;
        return fail(r, "bad escape");
    }
  }
  return fail(r, "unterminated string");
}

static cJSON *read_number(reader_t *r) {
  const char *s = r->p;
  const char *q = s;
  int integral = 1;
  if (q < r->end && *q == '-') q++;
  if (q < r->end && *q == 'I') {
    r->p = q;
    if (!match(r, "Infinity")) { fail(r, "bad number"); return NULL; }
    return cJSON_CreateNumber(*s == '-' ? -INFINITY : INFINITY);
  }
  const char *digits = q;
  while (q < r->end && *q >= '0' && *q <= '9') q++;
  if (q == digits) { r->p = q; fail(r, "bad number"); return NULL; }
  if (q - digits > 1 && *digits == '0') { r->p = digits; fail(r, "leading zero in number"); return NULL; }
  if (q < r->end && *q == '.') {
    integral = 0;
    q++;
    const char *frac = q;
    while (q < r->end && *q >= '0' && *q <= '9') q++;
    if (q == frac) { r->p = q; fail(r, "bad number"); return NULL; }
  }
  if (q < r->end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    if (q < r->end && (*q == '+' || *q == '-')) q++;
    const char *exp = q;
    while (q < r->end && *q >= '0' && *q <= '9') q++;
    if (q == exp) { r->p = q; fail(r, "bad number"); return NULL; }
  }
  size_t n = (size_t)(q - s);
  double fast;
  if (!integral && tune_scan_double(s, n, &fast)) {
    r->p = q;
    return cJSON_CreateNumber(fast);
  }
  char small[64];
  char *tmp = n < sizeof small ? small : tune_xmalloc(n + 1);
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  cJSON *item = NULL;
  if (integral) {
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == 0) item = tune_json_new_int(v);
  }
  if (!item) item = cJSON_CreateNumber(strtod(tmp, NULL));
  if (tmp != small) free(tmp);
  r->p = q;
  return item;
}

static cJSON *read_value(reader_t *r, tune_buf_t *scratch);

static cJSON *read_container(reader_t *r, tune_buf_t *scratch, int is_object) {
  if (++r->depth > TUNE_JSON_MAX_DEPTH) { fail(r, "nesting too deep"); return NULL; }
  r->p++; /* [ or { */
  cJSON *node = is_object ? cJSON_CreateObject() : cJSON_CreateArray();
  char close = is_object ? '}' : ']';
  skip_ws(r);
  if (r->p < r->end && *r->p == close) {
    r->p++;
    r->depth--;
    return node;
  }
  for (;;) {
    char *key = NULL;
    skip_ws(r);
    if (is_object) {
      if (r->p >= r->end || *r->p != '"') { fail(r, "expected object key"); goto fail; }
      if (read_string(r, scratch) < 0) goto fail;
      /* The node takes the key as it is (cJSON_AddItemToObject would copy
         it), so it comes from cJSON's allocator: cJSON_Delete frees it. */
      key = cJSON_malloc(scratch->len + 1);
      if (!key) tune_abort(__FILE__, __LINE__, "out of memory");
      memcpy(key, scratch->data, scratch->len);
      key[scratch->len] = '\0';
      skip_ws(r);
      if (r->p >= r->end || *r->p != ':') { cJSON_free(key); fail(r, "expected ':'"); goto fail; }
      r->p++;
    }
    cJSON *child = read_value(r, scratch);
    if (!child) { cJSON_free(key); goto fail; }
    if (is_object) {
      child->string = key;
      cJSON_AddItemToArray(node, child);
    } else {
      cJSON_AddItemToArray(node, child);
    }
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == close) { r->p++; break; }
    fail(r, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    goto fail;
  }
  r->depth--;
  return node;
fail:
  cJSON_Delete(node);
  return NULL;
}

static cJSON *read_value(reader_t *r, tune_buf_t *scratch) {
  skip_ws(r);
  if (r->p >= r->end) { fail(r, "unexpected end of input"); return NULL; }
  switch (*r->p) {
    case '{': return read_container(r, scratch, 1);
    case '[': return read_container(r, scratch, 0);
    case '"': {
      if (read_string(r, scratch) < 0) return NULL;
      if (memchr(scratch->data, '\0', scratch->len)) { fail(r, "NUL character in string"); return NULL; }
      return cJSON_CreateString(scratch->data);
    }
    case 't': if (match(r, "true")) return cJSON_CreateTrue(); break;
    case 'f': if (match(r, "false")) return cJSON_CreateFalse(); break;
    case 'n': if (match(r, "null")) return cJSON_CreateNull(); break;
    case 'N': if (match(r, "NaN")) return cJSON_CreateNumber(NAN); break;
    default:
      if (*r->p == '-' || *r->p == 'I' || (*r->p >= '0' && *r->p <= '9')) return read_number(r);
  }
  fail(r, "unexpected character");
  return NULL;
}

cJSON *tune_json_parse(const char *text, size_t len, char *err, size_t errlen) {
  reader_t r = {text, text, text + len, err, errlen, 0};
  tune_buf_t scratch = TUNE_BUF_INIT;
  if (err && errlen) err[0] = '\0';
  cJSON *v = read_value(&r, &scratch);
  tune_buf_free(&scratch);
  if (!v) return NULL;
  skip_ws(&r);
  if (r.p != r.end) {
    fail(&r, "trailing characters");
    cJSON_Delete(v);
    return NULL;
  }
  return v;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

void tune_json_write_int(tune_buf_t *out, int64_t v) {
  char tmp[24];
  tune_buf_append(out, tmp, tune_fmt_int(tmp, v));
}

void tune_json_write_double(tune_buf_t *out, double v) {
  if (isnan(v)) { tune_buf_puts(out, "NaN"); return; }
  if (isinf(v)) { tune_buf_puts(out, v < 0 ? "-Infinity" : "Infinity"); return; }
  char tmp[40];
  size_t n;
  if (v == trunc(v) && fabs(v) < 1e15) {
    /* Integral: exact as an integer, and a float stays a float (1.0). */
    if (v == 0 && signbit(v)) {
      tune_buf_puts(out, "-0.0");
      return;
    }
    n = tune_fmt_int(tmp, (int64_t)v);
  } else {
    /* The shortest of 15, 16 and 17 significant digits that reads back exactly. */
    n = tune_fmt_double(tmp, v);
    /* A float stays a float when read back: 1.0, not 1 (as Python writes). */
    if (strpbrk(tmp, ".eE")) {
      tune_buf_append(out, tmp, n);
      return;
    }
  }
  tmp[n++] = '.';
  tmp[n++] = '0';
  tune_buf_append(out, tmp, n);
}

/// Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629: no
/// overlong forms, no surrogates, at most U+10FFFF), or 0.
static size_t utf8_seq(const unsigned char *s, size_t len) {
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if (len < n || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if (s[k] < 0x80 || s[k] > 0xBF) return 0;
  return n;
}

/// Writes a JSON string. Bytes that are not well-formed UTF-8 (a
/// trainable's binary output, a truncated sequence) become U+FFFD, so that
/// every file we write is valid JSON for strict readers.
/// 1: a byte written as it is (ASCII but controls, '"' and '\\').
static const unsigned char PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/// The length of the prefix of u that needs no escape: eight bytes at a
/// time while none is a control character, '"', '\\' or non-ASCII (most
/// strings are keys, ids and paths), then byte by byte.
static size_t plain_prefix(const unsigned char *u, size_t len) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  size_t i = 0;
  while (i + 8 <= len) {
    uint64_t x;
    memcpy(&x, u + i, 8);
    uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
    /* A byte below 0x20, a zero byte of quote or of slash (exact tests
       for "any such byte"), or a high bit. */
    uint64_t special = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | x;
    if (special & highs) break;
    i += 8;
  }
  while (i < len && PLAIN[u[i]]) i++;
  return i;
}

void tune_json_write_string(tune_buf_t *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  tune_buf_reserve(out, len + 2);
  size_t i = plain_prefix(u, len);
  if (i == len) {
    /* Nothing to escape (keys, ids, paths): one copy. */
    char *d = out->data + out->len;
    d[0] = '"';
    memcpy(d + 1, s, len);
    d[len + 1] = '"';
    out->len += len + 2;
    out->data[out->len] = '\0';
    return;
  }
  /* The plain prefix at once, then byte by byte from the first escape. */
  tune_buf_putc(out, '"');
  tune_buf_append(out, s, i);
  while (i < len) {
    size_t run = i;
    while (i < len) {
      unsigned char c = u[i];
      if (c < 0x20 || c == '"' || c == '\\') break;
      if (c >= 0x80) {
        size_t n = utf8_seq(u + i, len - i);
        if (!n) break;
        i += n;
        continue;
      }
      i++;
    }
    if (i > run) tune_buf_append(out, s + run, i - run);
    if (i >= len) break;
    unsigned char c = u[i++];
    if (c >= 0x80) {
      tune_buf_puts(out, "\xEF\xBF\xBD"); /* U+FFFD */
      continue;
    }
    switch (c) {
      case '"': tune_buf_puts(out, "\\\""); break;
      case '\\': tune_buf_puts(out, "\\\\"); break;
      case '\n': tune_buf_puts(out, "\\n"); break;
      case '\r': tune_buf_puts(out, "\\r"); break;
      case '\t': tune_buf_puts(out, "\\t"); break;
      case '\b': tune_buf_puts(out, "\\b"); break;
      case '\f': tune_buf_puts(out, "\\f"); break;
      default: {
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        tune_buf_append(out, esc, 6);
      }
    }
  }
  tune_buf_putc(out, '"');
}

void tune_json_write(tune_buf_t *out, const cJSON *item) {
  switch (item->type & 0xFF) {
    case cJSON_False: tune_buf_puts(out, "false"); break;
    case cJSON_True: tune_buf_puts(out, "true"); break;
    case cJSON_NULL: tune_buf_puts(out, "null"); break;
    case cJSON_Number:
      if (tune_json_is_int(item)) tune_json_write_int(out, tune_json_int(item));
      else tune_json_write_double(out, item->valuedouble);
      break;
    case cJSON_String:
      tune_json_write_string(out, item->valuestring, strlen(item->valuestring));
      break;
    case cJSON_Raw: tune_buf_puts(out, item->valuestring); break;
    case cJSON_Array:
    case cJSON_Object: {
      int obj = (item->type & 0xFF) == cJSON_Object;
      tune_buf_putc(out, obj ? '{' : '[');
      for (const cJSON *c = item->child; c; c = c->next) {
        if (c != item->child) tune_buf_putc(out, ',');
        if (obj) {
          tune_json_write_string(out, c->string, strlen(c->string));
          tune_buf_putc(out, ':');
        }
        tune_json_write(out, c);
      }
      tune_buf_putc(out, obj ? '}' : ']');
      break;
    }
    default: tune_buf_puts(out, "null"); break;
  }
}

char *tune_json_print(const cJSON *item) {
  tune_buf_t b = TUNE_BUF_INIT;
  tune_json_write(&b, item);
  return tune_buf_steal(&b);
}

/* The int64 a double stands for (saturated: 2^63 itself is not one). */
static int64_t int_base(double d) {
  if (d >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)d;
}

cJSON *tune_json_new_int(int64_t v) {
  double d = (double)v;
  cJSON *item = cJSON_CreateNumber(d);
  if (!item) return NULL;
  item->type |= TUNE_JSON_INT;
  if (v <= -(1LL << 53) || v >= (1LL << 53)) {
    /* The double is at most 1,024 away from v: the rest fits an int. */
    item->type |= TUNE_JSON_BIG;
    item->valueint = (int)(v - int_base(d));
  }
  return item;
}

int64_t tune_json_int(const cJSON *item) {
  int64_t base = int_base(item->valuedouble);
  return (item->type & TUNE_JSON_BIG) ? base + item->valueint : base;
}

int tune_json_is_int(const cJSON *item) {
  return item && (item->type & 0xFF) == cJSON_Number && (item->type & TUNE_JSON_INT);
}

cJSON *tune_json_get(const cJSON *object, const char *key) {
  if (!object || !key) return NULL;
  /* As cJSON's: the first match, and none past a member without a key. */
  for (cJSON *c = object->child; c && c->string; c = c->next)
    if (c->string[0] == key[0] && strcmp(c->string, key) == 0) return c;
  return NULL;
}

void tune_json_set(cJSON *object, const char *key, cJSON *value) {
  if (tune_json_get(object, key)) {
    cJSON_ReplaceItemInObjectCaseSensitive(object, key, value);
  } else {
    cJSON_AddItemToObject(object, key, value);
  }
}

double tune_json_get_number(const cJSON *object, const char *key, double dflt) {
  const cJSON *v = tune_json_get(object, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const char *tune_json_get_string(const cJSON *object, const char *key) {
  const cJSON *v = tune_json_get(object, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
