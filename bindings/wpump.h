/// The worker's output over its TCP channel (the Slurm backend's): the
/// trainable's stdout and stderr go to the driver as `output` messages
/// (docs/protocol.md), in order with the protocol's own messages.
#ifndef TUNE_WPUMP_H
#define TUNE_WPUMP_H

#include <stddef.h>

/// Makes fds 1 and 2 pipes whose bytes a thread forwards to `sock`.
/// 0, or a negative errno (nothing changed then but maybe fds 1 and 2).
int tune_pump_start(int sock);
/// Whether tune_pump_start succeeded in this process.
int tune_pump_active(void);
/// Writes a protocol line to the socket after what stdout and stderr
/// hold now. 0 or a negative errno.
int tune_pump_send(const char *data, size_t len);

#endif
