/// Small helpers shared by every engine file: checked allocation and
/// unreachable-state aborts. Out-of-memory is treated as "cannot happen"
/// (as Neovim's xmalloc does): the process aborts with a message.
#ifndef TUNE_COMMON_H
#define TUNE_COMMON_H

#include <stddef.h>
#include <stdint.h>

/// Allocate or abort. Caller owns the result; free with free().
void *tune_xmalloc(size_t n);
void *tune_xcalloc(size_t n, size_t size);
void *tune_xrealloc(void *p, size_t n);
char *tune_xstrdup(const char *s);
char *tune_xstrndup(const char *s, size_t n);
/// printf into a fresh string. Caller owns the result.
char *tune_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/// Abort with a message: for states that cannot happen.
_Noreturn void tune_abort(const char *file, int line, const char *msg);
#define TUNE_ASSERT(cond) \
  do { if (!(cond)) tune_abort(__FILE__, __LINE__, #cond); } while (0)

#define TUNE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/// The longest wait or virtual time span, in seconds: a double past it
/// cast to an integer (milliseconds, time_t) is undefined, and a virtual
/// clock past it no longer moves by a one-second timeout.
#define TUNE_MAX_WAIT_S 1e9

#endif
