#include "jpack.h"

#include <stdint.h>
#include <string.h>

#include "json.h"

/* An item: its type (cJSON's, with TUNE_JSON_INT), its key's length
   (NO_KEY: none) and the key with its '\0'; then a number's double, a
   string's length and bytes with their '\0', or a container's count and
   its items. Integers are the machine's own: the bytes never leave the
   process. */
#define NO_KEY UINT32_MAX
#define TYPE_BITS (0xFF | TUNE_JSON_INT | TUNE_JSON_BIG)

static void put32(char *at, uint32_t v) { memcpy(at, &v, sizeof v); }

/// `key`: the item's key (an object's member), or NULL.
static void pack(tune_buf_t *out, const cJSON *item, const char *key) {
  int type = item->type & TYPE_BITS;
  size_t klen = key ? strlen(key) : 0;
  const char *s = NULL;
  size_t slen = 0, extra = 0;
  switch (type & 0xFF) {
    case cJSON_Number: extra = sizeof(double) + (type & TUNE_JSON_BIG ? 4 : 0); break;
    case cJSON_String:
    case cJSON_Raw:
      s = item->valuestring ? item->valuestring : "";
      slen = strlen(s);
      extra = 4 + slen + 1;
      break;
    case cJSON_Array:
    case cJSON_Object: extra = 4; break;
    case cJSON_False:
    case cJSON_True:
    case cJSON_NULL: break;
    default: type = cJSON_NULL;
  }
  size_t need = 8 + (key ? klen + 1 : 0) + extra;
  tune_buf_reserve(out, need);
  char *at = out->data + out->len;
  put32(at, (uint32_t)type);
  put32(at + 4, key ? (uint32_t)klen : NO_KEY);
  at += 8;
  if (key) {
    memcpy(at, key, klen + 1);
    at += klen + 1;
  }
  if ((type & 0xFF) == cJSON_Number) {
    memcpy(at, &item->valuedouble, sizeof(double));
    if (type & TUNE_JSON_BIG) put32(at + sizeof(double), (uint32_t)item->valueint);
  } else if (s) {
    put32(at, (uint32_t)slen);
    memcpy(at + 4, s, slen + 1);
  }
  out->len += need;
  if ((type & 0xFF) == cJSON_Array || (type & 0xFF) == cJSON_Object) {
    size_t count_at = out->len - 4;
    uint32_t n = 0;
    int obj = (type & 0xFF) == cJSON_Object;
    for (const cJSON *c = item->child; c; c = c->next, n++) pack(out, c, obj ? (c->string ? c->string : "") : NULL);
    put32(out->data + count_at, n);
  }
  out->data[out->len] = '\0';
}

void tune_json_pack(tune_buf_t *out, const cJSON *item) { pack(out, item, item->string); }

static int take32(const char **p, const char *end, uint32_t *v) {
  if (end - *p < 4) return -1;
  memcpy(v, *p, 4);
  *p += 4;
  return 0;
}

/// A '\0'-ended text of `len` bytes at *p (moved past it), or NULL.
static const char *take_text(const char **p, const char *end, uint32_t len) {
  if ((size_t)(end - *p) < (size_t)len + 1 || (*p)[len] != '\0') return NULL;
  const char *s = *p;
  *p += (size_t)len + 1;
  return s;
}

static cJSON *unpack(const char **p, const char *end, const char **key, int depth) {
  uint32_t type, klen;
  if (depth > 1000 || take32(p, end, &type) < 0 || take32(p, end, &klen) < 0) return NULL;
  *key = NULL;
  if (klen != NO_KEY && !(*key = take_text(p, end, klen))) return NULL;
  cJSON *item = NULL;
  switch (type & 0xFF) {
    case cJSON_False: return cJSON_CreateFalse();
    case cJSON_True: return cJSON_CreateTrue();
    case cJSON_NULL: return cJSON_CreateNull();
    case cJSON_Number: {
      double d;
      if (end - *p < (ptrdiff_t)sizeof d) return NULL;
      memcpy(&d, *p, sizeof d);
      *p += sizeof d;
      item = cJSON_CreateNumber(d);
      if (item && (type & TUNE_JSON_INT)) item->type |= TUNE_JSON_INT;
      if (type & TUNE_JSON_BIG) {
        uint32_t rest;
        if (take32(p, end, &rest) < 0) {
          cJSON_Delete(item);
          return NULL;
        }
        if (item) {
          item->type |= TUNE_JSON_BIG;
          item->valueint = (int)(int32_t)rest;
        }
      }
      return item;
    }
    case cJSON_String:
    case cJSON_Raw: {
      uint32_t len;
      const char *s = take32(p, end, &len) < 0 ? NULL : take_text(p, end, len);
      if (!s) return NULL;
      if ((type & 0xFF) == cJSON_Raw) return cJSON_CreateRaw(s);
      return cJSON_CreateStringReference(s);
    }
    case cJSON_Array:
    case cJSON_Object: {
      int obj = (type & 0xFF) == cJSON_Object;
      uint32_t n;
      if (take32(p, end, &n) < 0) return NULL;
      item = obj ? cJSON_CreateObject() : cJSON_CreateArray();
      for (uint32_t i = 0; item && i < n; i++) {
        const char *k;
        cJSON *c = unpack(p, end, &k, depth + 1);
        if (!c || (obj && !k)) {
          cJSON_Delete(c);
          cJSON_Delete(item);
          return NULL;
        }
        if (obj) cJSON_AddItemToObjectCS(item, k, c);
        else cJSON_AddItemToArray(item, c);
      }
      return item;
    }
    default: return NULL;
  }
}

cJSON *tune_json_unpack(const char **p, const char *end) {
  const char *key;
  return unpack(p, end, &key, 0);
}
