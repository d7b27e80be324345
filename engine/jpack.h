/// A cJSON tree packed into bytes, for another thread to rebuild: the
/// loggers pack each result as the driver accepts it (a copy made of
/// memcpy's, the tree freed at once on the thread that made it) and the
/// directory thread rebuilds and encodes it (engine/loggers.c). Packing
/// costs a small part of encoding, and the bytes travel as one buffer:
/// a tree handed to the other thread whole costs more than its encoding,
/// its blocks freed cold or on the wrong thread's free lists.
#ifndef TUNE_JPACK_H
#define TUNE_JPACK_H

#include <cjson/cJSON.h>

#include "buf.h"

/// Appends `item` (with its key, if it has one), packed, to `out`. A
/// member of an object without a key is packed with an empty one.
void tune_json_pack(tune_buf_t *out, const cJSON *item);
/// Rebuilds the item packed at `*p`, and moves `*p` past it; NULL when
/// what is there up to `end` is not a packed item. The caller owns it, and
/// frees it before the packed bytes: its keys and strings are theirs (not
/// copied).
cJSON *tune_json_unpack(const char **p, const char *end);

#endif
