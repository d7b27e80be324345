/// JSON reading and writing around cJSON trees.
///
/// cJSON is the tree every engine file works with. Two things cJSON does not
/// do the way the product needs (docs/architecture.md, "JSON"):
///  - its printer rounds doubles (about one in six does not round-trip), so
///    numbers are written here in the shortest form that reads back exactly;
///  - its parser rejects NaN, Infinity and -Infinity, which Ray's logs contain
///    and which a diverging trial reports, so the reader here accepts them.
/// The reader also remembers whether a number was written as an integer
/// (flag TUNE_JSON_INT on the item), so Lua integers stay integers.
#ifndef TUNE_JSON_H
#define TUNE_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/// Type flag on a cJSON_Number item whose value is an integer.
#define TUNE_JSON_INT (1 << 12)
/// With TUNE_JSON_INT: an integer beyond +-2^53, which a double does not
/// hold exactly; valueint holds what the double misses (tune_json_int).
#define TUNE_JSON_BIG (1 << 13)
/// Deepest nesting the reader accepts.
#define TUNE_JSON_MAX_DEPTH 200

/// Parse `len` bytes. Returns a tree the caller owns (cJSON_Delete), or NULL
/// with a message in `err` (at most `errlen` bytes, NUL-terminated).
cJSON *tune_json_parse(const char *text, size_t len, char *err, size_t errlen);

/// Append the compact JSON text of `item` to `out`.
void tune_json_write(tune_buf_t *out, const cJSON *item);
/// Append a double: shortest text that reads back bit for bit; integral
/// values get a ".0" so they read back as floats; NaN and +-Infinity as Ray
/// writes them.
void tune_json_write_double(tune_buf_t *out, double v);
void tune_json_write_int(tune_buf_t *out, int64_t v);
/// Append a quoted, escaped JSON string.
void tune_json_write_string(tune_buf_t *out, const char *s, size_t len);
/// Serialise `item` to a fresh string. Caller owns the result.
char *tune_json_print(const cJSON *item);

/// An integer-valued number item (flagged TUNE_JSON_INT).
cJSON *tune_json_new_int(int64_t v);
/// True when `item` is a number flagged as an integer.
int tune_json_is_int(const cJSON *item);
/// The exact value of a number flagged as an integer (all of int64's
/// range: valuedouble is the nearest double, for the code that reads it).
int64_t tune_json_int(const cJSON *item);
/// cJSON_GetObjectItemCaseSensitive, comparing a key's first byte before
/// its strcmp: a key absent from a result (Ray's "__duplicate__", looked
/// up twice a result) cost a strcmp for each of its ~17 members.
cJSON *tune_json_get(const cJSON *object, const char *key);
/// Replace or add `key` in `object`, taking ownership of `value`.
void tune_json_set(cJSON *object, const char *key, cJSON *value);
/// Number at `key`, or `dflt` when absent or not a number.
double tune_json_get_number(const cJSON *object, const char *key, double dflt);
/// String at `key`, or NULL. The tree owns the result.
const char *tune_json_get_string(const cJSON *object, const char *key);

#endif
