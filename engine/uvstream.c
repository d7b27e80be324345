/// See uvstream.h.
#include "uvstream.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct {
  uv_write_t req;
  char data[];
} write_req_t;

static void write_cb(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

int tune_stream_send(uv_stream_t *s, const char *data, size_t len) {
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write(s, &buf, 1);
  if (n == (int)len) return 0;
  if (n < 0 && n != UV_EAGAIN) return n;
  size_t done = n > 0 ? (size_t)n : 0;
  write_req_t *w = tune_xmalloc(sizeof *w + (len - done));
  memcpy(w->data, data + done, len - done);
  buf = uv_buf_init(w->data, (unsigned)(len - done));
  int rc = uv_write(&w->req, s, &buf, 1, write_cb);
  if (rc < 0) free(w);
  return rc;
}
