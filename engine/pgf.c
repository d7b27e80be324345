#include "pgf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char *const strategy_names[] = {"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"};

const char *tune_strategy_name(tune_strategy_t s) { return strategy_names[s]; }

void tune_pgf_format(const tune_pgf_t *f, tune_buf_t *out) {
  for (size_t i = 0; i < f->nbundles; i++) {
    tune_buf_puts(out, i ? " + {" : "{");
    tune_res_format(&f->bundles[i], out);
    tune_buf_putc(out, '}');
  }
  tune_buf_printf(out, " (%s)", tune_strategy_name(f->strategy));
}

int tune_strategy_parse(const char *name, tune_strategy_t *out) {
  for (size_t i = 0; i < TUNE_ARRAY_LEN(strategy_names); i++) {
    if (!strcmp(name, strategy_names[i])) {
      *out = (tune_strategy_t)i;
      return 0;
    }
  }
  return -1;
}

static void key_bundle(tune_buf_t *b, const tune_res_t *r) {
  tune_buf_printf(b, "{CPU=%lld,GPU=%lld", (long long)r->cpu, (long long)r->gpu);
  if (r->memory) tune_buf_printf(b, ",memory=%lld", (long long)r->memory);
  for (size_t i = 0; i < r->ncustom; i++)
    if (r->custom[i].amount) tune_buf_printf(b, ",%s=%lld", r->custom[i].name, (long long)r->custom[i].amount);
  tune_buf_putc(b, '}');
}

tune_pgf_t *tune_pgf_from_json(const cJSON *spec, char *err, size_t errlen) {
  const cJSON *bundles = cJSON_GetObjectItemCaseSensitive(spec, "bundles");
  if (!cJSON_IsArray(bundles) || cJSON_GetArraySize(bundles) < 1) {
    snprintf(err, errlen, "a placement group factory needs at least one bundle");
    return NULL;
  }
  tune_pgf_t *f = tune_xcalloc(1, sizeof *f);
  const char *strategy = NULL;
  {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(spec, "strategy");
    if (cJSON_IsString(s)) strategy = s->valuestring;
    else if (s && !cJSON_IsNull(s)) {
      snprintf(err, errlen, "strategy must be a string");
      goto fail;
    }
  }
  if (strategy && tune_strategy_parse(strategy, &f->strategy) < 0) {
    snprintf(err, errlen, "unknown placement strategy '%s' (PACK, SPREAD, STRICT_PACK or STRICT_SPREAD)", strategy);
    goto fail;
  }
  f->nbundles = (size_t)cJSON_GetArraySize(bundles);
  f->bundles = tune_xcalloc(f->nbundles, sizeof *f->bundles);
  tune_res_init(&f->total);
  size_t i = 0;
  const cJSON *b;
  cJSON_ArrayForEach(b, bundles) {
    char sub[200];
    if (tune_res_from_json(b, &f->bundles[i], sub, sizeof sub) < 0) {
      snprintf(err, errlen, "bundle %zu: %s", i + 1, sub);
      goto fail;
    }
    tune_res_add(&f->total, &f->bundles[i], 1);
    i++;
  }
  tune_buf_t k = TUNE_BUF_INIT;
  tune_buf_puts(&k, tune_strategy_name(f->strategy));
  for (i = 0; i < f->nbundles; i++) key_bundle(&k, &f->bundles[i]);
  f->key = tune_buf_steal(&k);
  return f;
fail:
  tune_pgf_free(f);
  return NULL;
}

void tune_pgf_free(tune_pgf_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nbundles; i++) tune_res_free(&f->bundles[i]);
  free(f->bundles);
  tune_res_free(&f->total);
  free(f->key);
  free(f);
}

tune_pgf_t *tune_pgf_dup(const tune_pgf_t *src) {
  tune_pgf_t *f = tune_xcalloc(1, sizeof *f);
  f->nbundles = src->nbundles;
  f->bundles = tune_xcalloc(f->nbundles, sizeof *f->bundles);
  for (size_t i = 0; i < f->nbundles; i++) tune_res_copy(&f->bundles[i], &src->bundles[i]);
  f->strategy = src->strategy;
  tune_res_copy(&f->total, &src->total);
  f->key = tune_xstrdup(src->key);
  return f;
}

cJSON *tune_pgf_to_json(const tune_pgf_t *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "bundles");
  for (size_t i = 0; i < f->nbundles; i++) cJSON_AddItemToArray(arr, tune_res_to_json(&f->bundles[i]));
  cJSON_AddStringToObject(o, "strategy", tune_strategy_name(f->strategy));
  return o;
}
