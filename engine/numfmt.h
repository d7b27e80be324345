#pragma once
// Number formatting and reading for JSON and CSV: integers without printf,
// and doubles as the shortest of 15, 16 and 17 significant digits that
// reads back exactly, formatted as printf's %.Ng would. Where the CPU has
// 64-bit extended precision (x86), doubles between 1e-11 and 1e43 are
// formatted and read without printf or strtod (a few hundred instructions
// against some 5,000); the text and the values are the same.
#include <stddef.h>
#include <stdint.h>

/// Writes v in decimal to out (at least 21 bytes); returns the length.
size_t tune_fmt_int(char *out, int64_t v);

/// Writes the finite double v to out (at least 32 bytes) as the first of
/// "%.15g", "%.16g", "%.17g" that strtod reads back as v; returns the
/// length. The text is identical to printf's.
size_t tune_fmt_double(char *out, double v);

/// Reads the number text s[0..n) (JSON's grammar, already checked) as
/// strtod would, into *out; returns 1, or 0 where only strtod can tell
/// (more than 19 significant digits, an exponent beyond +-27, a value
/// exactly between two doubles after the first rounding, no fast path on
/// this CPU).
int tune_scan_double(const char *s, size_t n, double *out);
