/// Diagnostics from the engine. Messages go to stderr prefixed "tunelua:";
/// debug messages only when TUNE_DEBUG is set in the environment.
#ifndef TUNE_LOG_H
#define TUNE_LOG_H

typedef enum { TUNE_LOG_DEBUG, TUNE_LOG_INFO, TUNE_LOG_WARN, TUNE_LOG_ERROR } tune_log_level_t;

void tune_log(tune_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tune_log_debug_enabled(void);
/// Whether a TUNE_DEBUG value turns debug messages on: non-empty and not "0".
int tune_log_debug_value(const char *v);

#define TUNE_DEBUG(...) do { if (tune_log_debug_enabled()) tune_log(TUNE_LOG_DEBUG, __VA_ARGS__); } while (0)
#define TUNE_WARN(...) tune_log(TUNE_LOG_WARN, __VA_ARGS__)

#endif
