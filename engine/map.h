/// String-keyed hash map (open addressing). The map owns copies of its keys;
/// values are borrowed pointers.
#ifndef TUNE_MAP_H
#define TUNE_MAP_H

#include <stddef.h>

typedef struct {
  char **keys;
  void **vals;
  size_t cap;   ///< power of two, or 0
  size_t len;
  size_t used;  ///< live + tombstones
} tune_map_t;

void tune_map_init(tune_map_t *m);
/// Frees the keys; values are the caller's.
void tune_map_free(tune_map_t *m);
void *tune_map_get(const tune_map_t *m, const char *key);
/// Insert or replace. Returns the previous value or NULL.
void *tune_map_put(tune_map_t *m, const char *key, void *val);
/// Remove. Returns the removed value or NULL.
void *tune_map_del(tune_map_t *m, const char *key);
/// Iterate: `*pos` starts at 0; returns 0 at the end. Safe against tune_map_del
/// of the current key.
int tune_map_next(const tune_map_t *m, size_t *pos, const char **key, void **val);

#endif
