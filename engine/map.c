#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static char tombstone_key;
#define TOMBSTONE (&tombstone_key)

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

void tune_map_init(tune_map_t *m) { memset(m, 0, sizeof *m); }

void tune_map_free(tune_map_t *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i] && m->keys[i] != TOMBSTONE) free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  tune_map_init(m);
}

static size_t find(const tune_map_t *m, const char *key, int *found) {
  size_t mask = m->cap - 1, i = hash(key) & mask, first_free = SIZE_MAX;
  for (;;) {
    char *k = m->keys[i];
    if (!k) {
      *found = 0;
      return first_free != SIZE_MAX ? first_free : i;
    }
    if (k == TOMBSTONE) {
      if (first_free == SIZE_MAX) first_free = i;
    } else if (strcmp(k, key) == 0) {
      *found = 1;
      return i;
    }
    i = (i + 1) & mask;
  }
}

static void grow(tune_map_t *m) {
  tune_map_t n;
  n.cap = m->cap ? m->cap * 2 : 16;
  while (m->len * 2 >= n.cap) n.cap *= 2;
  n.keys = tune_xcalloc(n.cap, sizeof(char *));
  n.vals = tune_xcalloc(n.cap, sizeof(void *));
  n.len = n.used = 0;
  for (size_t i = 0; i < m->cap; i++) {
    char *k = m->keys[i];
    if (!k || k == TOMBSTONE) continue;
    int found;
    size_t j = find(&n, k, &found);
    n.keys[j] = k;
    n.vals[j] = m->vals[i];
    n.len++;
    n.used++;
  }
  free(m->keys);
  free(m->vals);
  *m = n;
}

void *tune_map_get(const tune_map_t *m, const char *key) {
  if (!m->len) return NULL;
  int found;
  size_t i = find(m, key, &found);
  return found ? m->vals[i] : NULL;
}

void *tune_map_put(tune_map_t *m, const char *key, void *val) {
  if ((m->used + 1) * 4 >= m->cap * 3) grow(m);
  int found;
  size_t i = find(m, key, &found);
  if (found) {
    void *old = m->vals[i];
    m->vals[i] = val;
    return old;
  }
  if (!m->keys[i]) m->used++;
  m->keys[i] = tune_xstrdup(key);
  m->vals[i] = val;
  m->len++;
  return NULL;
}

void *tune_map_del(tune_map_t *m, const char *key) {
  if (!m->len) return NULL;
  int found;
  size_t i = find(m, key, &found);
  if (!found) return NULL;
  void *old = m->vals[i];
  free(m->keys[i]);
  m->keys[i] = TOMBSTONE;
  m->vals[i] = NULL;
  m->len--;
  return old;
}

int tune_map_next(const tune_map_t *m, size_t *pos, const char **key, void **val) {
  for (; *pos < m->cap; (*pos)++) {
    char *k = m->keys[*pos];
    if (k && k != TOMBSTONE) {
      if (key) *key = k;
      if (val) *val = m->vals[*pos];
      (*pos)++;
      return 1;
    }
  }
  return 0;
}
