#include "resources.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

int64_t tune_res_to_fixed(double v) { return (int64_t)llround(v * TUNE_RES_SCALE); }
double tune_res_from_fixed(int64_t v) { return (double)v / TUNE_RES_SCALE; }

void tune_res_init(tune_res_t *r) { memset(r, 0, sizeof *r); }

void tune_res_free(tune_res_t *r) {
  for (size_t i = 0; i < r->ncustom; i++) free(r->custom[i].name);
  free(r->custom);
  tune_res_init(r);
}

void tune_res_copy(tune_res_t *dst, const tune_res_t *src) {
  tune_res_init(dst);
  dst->cpu = src->cpu;
  dst->gpu = src->gpu;
  dst->memory = src->memory;
  if (src->ncustom) {
    dst->custom = tune_xmalloc(src->ncustom * sizeof *dst->custom);
    for (size_t i = 0; i < src->ncustom; i++) {
      dst->custom[i].name = tune_xstrdup(src->custom[i].name);
      dst->custom[i].amount = src->custom[i].amount;
    }
    dst->ncustom = src->ncustom;
  }
}

static int64_t *slot(tune_res_t *r, const char *name, int create) {
  if (!strcasecmp(name, "CPU")) return &r->cpu;
  if (!strcasecmp(name, "GPU")) return &r->gpu;
  if (!strcmp(name, "memory")) return &r->memory;
  size_t lo = 0, hi = r->ncustom;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(r->custom[mid].name, name);
    if (c == 0) return &r->custom[mid].amount;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  if (!create) return NULL;
  r->custom = tune_xrealloc(r->custom, (r->ncustom + 1) * sizeof *r->custom);
  memmove(&r->custom[lo + 1], &r->custom[lo], (r->ncustom - lo) * sizeof *r->custom);
  r->custom[lo].name = tune_xstrdup(name);
  r->custom[lo].amount = 0;
  r->ncustom++;
  return &r->custom[lo].amount;
}

int64_t tune_res_get_fixed(const tune_res_t *r, const char *name) {
  int64_t *s = slot((tune_res_t *)r, name, 0);
  return s ? *s : 0;
}

double tune_res_get(const tune_res_t *r, const char *name) {
  return tune_res_from_fixed(tune_res_get_fixed(r, name));
}

void tune_res_set(tune_res_t *r, const char *name, double amount) {
  *slot(r, name, 1) = tune_res_to_fixed(amount);
}

void tune_res_add(tune_res_t *dst, const tune_res_t *src, int sign) {
  dst->cpu += sign * src->cpu;
  dst->gpu += sign * src->gpu;
  dst->memory += sign * src->memory;
  for (size_t i = 0; i < src->ncustom; i++)
    *slot(dst, src->custom[i].name, 1) += sign * src->custom[i].amount;
}

int tune_res_fits(const tune_res_t *need, const tune_res_t *have) {
  if (need->cpu > have->cpu || need->gpu > have->gpu || need->memory > have->memory) return 0;
  for (size_t i = 0; i < need->ncustom; i++) {
    if (need->custom[i].amount <= 0) continue;
    if (need->custom[i].amount > tune_res_get_fixed(have, need->custom[i].name)) return 0;
  }
  return 1;
}

int tune_res_is_zero(const tune_res_t *r) {
  if (r->cpu || r->gpu || r->memory) return 0;
  for (size_t i = 0; i < r->ncustom; i++)
    if (r->custom[i].amount) return 0;
  return 1;
}

int tune_res_equal(const tune_res_t *a, const tune_res_t *b) {
  tune_res_t d;
  tune_res_copy(&d, a);
  tune_res_add(&d, b, -1);
  int eq = tune_res_is_zero(&d);
  tune_res_free(&d);
  return eq;
}

static cJSON *num(int64_t v) {
  double d = tune_res_from_fixed(v);
  return cJSON_CreateNumber(d);
}

cJSON *tune_res_to_json(const tune_res_t *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "CPU", num(r->cpu));
  cJSON_AddItemToObject(o, "GPU", num(r->gpu));
  if (r->memory) cJSON_AddItemToObject(o, "memory", num(r->memory));
  for (size_t i = 0; i < r->ncustom; i++)
    if (r->custom[i].amount) cJSON_AddItemToObject(o, r->custom[i].name, num(r->custom[i].amount));
  return o;
}

int tune_res_from_json(const cJSON *obj, tune_res_t *r, char *err, size_t errlen) {
  tune_res_init(r);
  if (!cJSON_IsObject(obj)) {
    snprintf(err, errlen, "resources must be a table of name = amount");
    return -1;
  }
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0) || isinf(c->valuedouble)) {
      /* (num_cpus = math.huge was told to be non-negative.) */
      char got[64];
      if (cJSON_IsNumber(c)) snprintf(got, sizeof got, "%g", c->valuedouble);
      else snprintf(got, sizeof got, "%s", cJSON_IsString(c) ? "a string" : cJSON_IsBool(c) ? "a boolean"
                                           : cJSON_IsNull(c) ? "null" : "a table");
      snprintf(err, errlen, "resource '%s' must be a non-negative number up to 1e14, got %s", c->string, got);
      tune_res_free(r);
      return -1;
    }
    if (c->valuedouble > TUNE_RES_MAX) {
      snprintf(err, errlen, "resource '%s' must be at most 1e14, got %g", c->string, c->valuedouble);
      tune_res_free(r);
      return -1;
    }
    tune_res_set(r, c->string, c->valuedouble);
  }
  return 0;
}

static void put_amount(tune_buf_t *out, int64_t v) {
  double d = tune_res_from_fixed(v);
  if (v % TUNE_RES_SCALE == 0) tune_buf_printf(out, "%lld", (long long)(v / TUNE_RES_SCALE));
  else tune_buf_printf(out, "%g", d);
}

void tune_res_format(const tune_res_t *r, tune_buf_t *out) {
  size_t start = out->len;
  put_amount(out, r->cpu);
  tune_buf_puts(out, r->cpu == TUNE_RES_SCALE ? " CPU" : " CPUs");
  tune_buf_puts(out, ", ");
  put_amount(out, r->gpu);
  tune_buf_puts(out, r->gpu == TUNE_RES_SCALE ? " GPU" : " GPUs");
  if (r->memory) {
    /* Small amounts in a unit that shows them: 200 bytes were "0.00 GiB",
       on both sides of a "can never run". */
    double b = tune_res_from_fixed(r->memory), mib = 1024.0 * 1024;
    if (b >= 0.005 * 1024 * mib) tune_buf_printf(out, ", %.2f GiB memory", b / (1024 * mib));
    else if (b >= 0.005 * mib) tune_buf_printf(out, ", %.2f MiB memory", b / mib);
    else tune_buf_printf(out, ", %g bytes memory", b);
  }
  for (size_t i = 0; i < r->ncustom; i++) {
    if (!r->custom[i].amount) continue;
    tune_buf_puts(out, ", ");
    put_amount(out, r->custom[i].amount);
    tune_buf_printf(out, " %s", r->custom[i].name);
  }
  (void)start;
}
