/// Writing to a libuv stream without blocking and without the caller
/// keeping its buffer: shared by the local backend's worker pipes and the
/// workers' TCP channels.
#ifndef TUNE_UVSTREAM_H
#define TUNE_UVSTREAM_H

#include <stddef.h>
#include <uv.h>

/// Writes at once what the stream takes and queues a copy of the rest
/// (freed when written). 0, or a negative libuv error. A failed queued
/// write is not reported: the peer's end is (its exit or EOF).
int tune_stream_send(uv_stream_t *s, const char *data, size_t len);

#endif
