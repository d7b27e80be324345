/// The worker protocol (docs/protocol.md): newline-delimited JSON objects,
/// one per line, on a dedicated pipe pair. This file frames lines and
/// names the message types; the executor gives them meaning.
#ifndef TUNE_PROTO_H
#define TUNE_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "buf.h"

#define TUNE_PROTOCOL_VERSION 1
/// Default limit on one message line (TUNE_MAX_MESSAGE_BYTES).
#define TUNE_MAX_MESSAGE_DEFAULT (16u * 1024u * 1024u)

/// Splits a byte stream into lines of at most `max` bytes.
typedef struct {
  tune_buf_t buf;
  size_t max;
} tune_lines_t;

void tune_lines_init(tune_lines_t *l, size_t max);
void tune_lines_free(tune_lines_t *l);
/// Feed bytes; `on_line` is called for every complete line (without the
/// newline). Returns 0, -E2BIG when a line exceeds the limit, or the first
/// non-zero value `on_line` returned (feeding stops there).
int tune_lines_feed(tune_lines_t *l, const char *data, size_t len,
                    int (*on_line)(void *ud, const char *line, size_t len), void *ud);
/// Bytes held that do not end with a newline yet.
size_t tune_lines_pending(const tune_lines_t *l);

/// Messages from a worker.
typedef enum {
  TUNE_MSG_HELLO,     ///< {v, pid, hostname, node_ip}
  TUNE_MSG_READY,     ///< {re, resettable}: the trainable is loaded
  TUNE_MSG_RESULT,    ///< {re, results: [{m, dt, ts}], finished}
  TUNE_MSG_SAVED,     ///< {re}
  TUNE_MSG_RESTORED,  ///< {re}
  TUNE_MSG_RESET,     ///< {re, ok}
  TUNE_MSG_ERROR,     ///< {re?, message, traceback}
  TUNE_MSG_STOPPED,   ///< {re}
  TUNE_MSG_INVALID,
} tune_msg_type_t;

/// Classifies a parsed message. TUNE_MSG_INVALID with a reason in `why`
/// when it is not an object with a known "type".
tune_msg_type_t tune_msg_classify(const cJSON *msg, char *why, size_t whylen);

#endif
