/// libFuzzer target: the JSON reader and writer (engine/json.c). Whatever
/// the reader accepts, the writer's text reads back to a tree that writes
/// the same text again (strings and numbers round trip), and every number
/// written reads back bit for bit.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void check_numbers(const cJSON *item) {
  for (const cJSON *c = item; c; c = c->next) {
    if (cJSON_IsNumber(c) && !tune_json_is_int(c) && c->valuedouble == c->valuedouble) {
      tune_buf_t b = TUNE_BUF_INIT;
      tune_json_write_double(&b, c->valuedouble);
      char err[128];
      cJSON *back = tune_json_parse(b.data, b.len, err, sizeof err);
      if (!back || memcmp(&back->valuedouble, &c->valuedouble, sizeof(double)) != 0) abort();
      cJSON_Delete(back);
      tune_buf_free(&b);
    }
    if (c->child) check_numbers(c->child);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  cJSON *a = tune_json_parse((const char *)data, size, err, sizeof err);
  if (!a) return 0;
  tune_buf_t t1 = TUNE_BUF_INIT, t2 = TUNE_BUF_INIT;
  tune_json_write(&t1, a);
  cJSON *b = tune_json_parse(t1.data, t1.len, err, sizeof err);
  if (!b) abort(); /* the writer wrote what the reader refuses */
  tune_json_write(&t2, b);
  if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0) abort();
  check_numbers(a);
  cJSON_Delete(a);
  cJSON_Delete(b);
  tune_buf_free(&t1);
  tune_buf_free(&t2);
  return 0;
}
