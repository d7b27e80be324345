#pragma once
// Number formatting for JSON and CSV: integers without printf, and
// doubles as the shortest of 15, 16 and 17 significant digits that reads
// back exactly, formatted as printf's %.Ng would, with one printf (and
// none for one of the last 256 doubles formatted on this thread).
#include <stddef.h>
#include <stdint.h>

/// Writes v in decimal to out (at least 21 bytes); returns the length.
size_t tune_fmt_int(char *out, int64_t v);

/// Writes the finite double v to out (at least 32 bytes) as the first of
/// "%.15g", "%.16g", "%.17g" that strtod reads back as v; returns the
/// length. The text is identical to printf's.
size_t tune_fmt_double(char *out, double v);
