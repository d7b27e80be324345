/// Resource vectors: CPU, GPU, memory (bytes) and named custom resources,
/// held in fixed point (1/10000 of a unit, as Ray does) so that fractional
/// requests add and subtract without drift.
#ifndef TUNE_RESOURCES_H
#define TUNE_RESOURCES_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TUNE_RES_SCALE 10000
/// The largest amount of one resource (1e14: 100 TB of memory in bytes),
/// so that sums of amounts in fixed point stay far from int64's end.
#define TUNE_RES_MAX 1e14
/// The most GPUs one node may have (each has a slot of its own).
#define TUNE_NODE_MAX_GPUS 4096

typedef struct {
  char *name;
  int64_t amount;
} tune_res_custom_t;

typedef struct {
  int64_t cpu;
  int64_t gpu;
  int64_t memory;
  size_t ncustom;
  tune_res_custom_t *custom;   ///< sorted by name; owned
} tune_res_t;

void tune_res_init(tune_res_t *r);
void tune_res_free(tune_res_t *r);
void tune_res_copy(tune_res_t *dst, const tune_res_t *src);
/// Amount in units (not fixed point). Names: "CPU"/"cpu", "GPU"/"gpu",
/// "memory", anything else is custom.
double tune_res_get(const tune_res_t *r, const char *name);
int64_t tune_res_get_fixed(const tune_res_t *r, const char *name);
void tune_res_set(tune_res_t *r, const char *name, double amount);
/// dst += src (sign = 1) or dst -= src (sign = -1).
void tune_res_add(tune_res_t *dst, const tune_res_t *src, int sign);
/// 1 when every amount in `need` is <= the one in `have`.
int tune_res_fits(const tune_res_t *need, const tune_res_t *have);
int tune_res_is_zero(const tune_res_t *r);
int tune_res_equal(const tune_res_t *a, const tune_res_t *b);
/// {"CPU": 1, "GPU": 0, "memory": ..., "<custom>": ...}; zero entries except
/// CPU and GPU are left out.
cJSON *tune_res_to_json(const tune_res_t *r);
/// Reads an object of name -> non-negative number. Returns 0, or -1 with a
/// message in err.
int tune_res_from_json(const cJSON *obj, tune_res_t *r, char *err, size_t errlen);
/// "2 CPUs, 1 GPU, 4 GiB memory, 3 custom" style text.
void tune_res_format(const tune_res_t *r, tune_buf_t *out);
/// Fixed point <-> units.
int64_t tune_res_to_fixed(double v);
double tune_res_from_fixed(int64_t v);

#endif
