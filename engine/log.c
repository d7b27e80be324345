#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tune_log_debug_value(const char *v) { return v && *v && strcmp(v, "0") != 0; } /* as the Lua side: "01" is on */

int tune_log_debug_enabled(void) {
  static int enabled = -1;
  if (enabled < 0) enabled = tune_log_debug_value(getenv("TUNE_DEBUG"));
  return enabled;
}

void tune_log(tune_log_level_t level, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warning", "error"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tunelua %s: %s\n", names[level], msg);
}
