#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void tune_lines_init(tune_lines_t *l, size_t max) {
  tune_buf_init(&l->buf);
  l->max = max;
}

void tune_lines_free(tune_lines_t *l) { tune_buf_free(&l->buf); }

size_t tune_lines_pending(const tune_lines_t *l) { return l->buf.len; }

int tune_lines_feed(tune_lines_t *l, const char *data, size_t len,
                    int (*on_line)(void *ud, const char *line, size_t len), void *ud) {
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    if (!nl) {
      if (l->buf.len + len > l->max) return -E2BIG;
      tune_buf_append(&l->buf, data, len);
      return 0;
    }
    size_t part = (size_t)(nl - data);
    int rc;
    if (l->buf.len == 0) {
      /* Fast path: the whole line is in this chunk. */
      if (part > l->max) return -E2BIG;
      rc = on_line(ud, data, part);
    } else {
      if (l->buf.len + part > l->max) return -E2BIG;
      tune_buf_append(&l->buf, data, part);
      rc = on_line(ud, l->buf.data, l->buf.len);
      tune_buf_reset(&l->buf);
    }
    if (rc) return rc;
    data = nl + 1;
    len -= part + 1;
  }
  return 0;
}

static const struct {
  const char *name;
  tune_msg_type_t type;
} msg_types[] = {
    {"hello", TUNE_MSG_HELLO},     {"ready", TUNE_MSG_READY},     {"result", TUNE_MSG_RESULT}, {"saved", TUNE_MSG_SAVED},
    {"restored", TUNE_MSG_RESTORED}, {"reset", TUNE_MSG_RESET}, {"error", TUNE_MSG_ERROR},
    {"stopped", TUNE_MSG_STOPPED},
};

tune_msg_type_t tune_msg_classify(const cJSON *msg, char *why, size_t whylen) {
  if (!cJSON_IsObject(msg)) {
    snprintf(why, whylen, "message is not a JSON object");
    return TUNE_MSG_INVALID;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "type");
  if (!cJSON_IsString(t)) {
    snprintf(why, whylen, "message has no \"type\"");
    return TUNE_MSG_INVALID;
  }
  for (size_t i = 0; i < sizeof msg_types / sizeof msg_types[0]; i++)
    if (!strcmp(t->valuestring, msg_types[i].name)) return msg_types[i].type;
  snprintf(why, whylen, "unknown message type \"%.64s\"", t->valuestring);
  return TUNE_MSG_INVALID;
}
