/// libFuzzer target: the worker protocol's decoding on the driver's side
/// (engine/proto.c, engine/json.c): bytes framed into lines in two reads
/// split anywhere, each line parsed and classified, every field the
/// executor reads taken as it takes it.
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "proto.h"

static int on_line(void *ud, const char *line, size_t len) {
  (void)ud;
  char err[256], why[256];
  cJSON *m = tune_json_parse(line, len, err, sizeof err);
  if (!m) return 0;
  tune_msg_type_t t = tune_msg_classify(m, why, sizeof why);
  if (t != TUNE_MSG_INVALID) {
    (void)tune_json_get_number(m, "re", -1);
    (void)tune_json_get_string(m, "message");
    (void)tune_json_get_string(m, "traceback");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(m, "results");
    for (const cJSON *r = cJSON_IsArray(rs) ? rs->child : NULL; r; r = r->next) {
      (void)cJSON_GetObjectItemCaseSensitive(r, "m");
      (void)tune_json_get_number(r, "dt", 0);
    }
  }
  cJSON_Delete(m);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tune_lines_t l;
  tune_lines_init(&l, 4096);
  size_t cut = size ? data[0] % (size + 1) : 0;
  if (tune_lines_feed(&l, (const char *)data, cut, on_line, NULL) == 0)
    tune_lines_feed(&l, (const char *)data + cut, size - cut, on_line, NULL);
  (void)tune_lines_pending(&l);
  tune_lines_free(&l);
  return 0;
}
