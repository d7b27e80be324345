/// Placement group factories: a list of resource bundles and a strategy,
/// as Ray's PlacementGroupFactory. Bundle 0 is the trial's own (head)
/// bundle; the others are for processes the trial starts itself.
#ifndef TUNE_PGF_H
#define TUNE_PGF_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "resources.h"

typedef enum {
  TUNE_PACK = 0,
  TUNE_SPREAD,
  TUNE_STRICT_PACK,
  TUNE_STRICT_SPREAD,
} tune_strategy_t;

typedef struct {
  size_t nbundles;
  tune_res_t *bundles;      ///< owned
  tune_strategy_t strategy;
  tune_res_t total;         ///< sum of the bundles
  char *key;                ///< canonical text; equal factories have equal keys
} tune_pgf_t;

/// From {"bundles": [{...}, ...], "strategy": "PACK"}. Caller owns the
/// result (tune_pgf_free). NULL with a message in `err` on bad input.
tune_pgf_t *tune_pgf_from_json(const cJSON *spec, char *err, size_t errlen);
void tune_pgf_free(tune_pgf_t *f);
/// A copy. Caller owns it (tune_pgf_free).
tune_pgf_t *tune_pgf_dup(const tune_pgf_t *f);
cJSON *tune_pgf_to_json(const tune_pgf_t *f);
const char *tune_strategy_name(tune_strategy_t s);
/// Appends "{1 CPU, ...} + {...} (PACK)": what the group asks for, as
/// messages say it.
void tune_pgf_format(const tune_pgf_t *f, tune_buf_t *out);
int tune_strategy_parse(const char *name, tune_strategy_t *out);

#endif
