/// Workers' protocol channels over TCP (docs/architecture.md, "Backends";
/// docs/guide/slurm.md, "The protocol's channel"). A backend whose
/// launcher relays stdio slowly (srun relays a step's output through
/// slurmstepd over TCP, where Nagle's algorithm and the peer's delayed ACK
/// hold a small line for up to 40 ms) lets the worker connect back to the
/// driver instead: the server listens on every address of this host, each
/// expected worker gets a random token, and the first line a connection
/// sends must be that token. Both ends set TCP_NODELAY.
#ifndef TUNE_CHANNEL_H
#define TUNE_CHANNEL_H

#include <stddef.h>

struct uv_loop_s;

typedef struct tune_chan_server tune_chan_server_t;
typedef struct tune_chan tune_chan_t;

/// Protocol bytes from the worker; len 0 (once): the connection ended.
typedef void (*tune_chan_data_cb)(void *ud, const char *data, size_t len);

/// What a channel is doing.
enum { TUNE_CHAN_WAITING = 0, TUNE_CHAN_OPEN = 1, TUNE_CHAN_ENDED = 2 };

/// A server on `loop`, listening on an ephemeral port of every address.
/// `touch(touch_ud)` runs whenever a callback of a channel ran (the
/// caller's wait() must then return). NULL with why in `err`.
tune_chan_server_t *tune_chan_server_new(struct uv_loop_s *loop, void (*touch)(void *), void *touch_ud,
                                         char *err, size_t errlen);
/// The port it listens on.
int tune_chan_server_port(const tune_chan_server_t *s);
/// Close the listener and every connection; every channel must have been
/// freed. Its handles close on the loop's next run.
void tune_chan_server_free(tune_chan_server_t *s);

/// A channel for one worker, waiting for its connection; `token` gets the
/// 32 hex digits the worker must send first. Owned by the caller.
tune_chan_t *tune_chan_expect(tune_chan_server_t *s, tune_chan_data_cb cb, void *ud, char token[33]);
/// Queue bytes for the worker (held until it connects). -EPIPE once ended.
int tune_chan_send(tune_chan_t *c, const char *data, size_t len);
int tune_chan_state(const tune_chan_t *c);
/// End it: no callback runs again; the connection closes.
void tune_chan_free(tune_chan_t *c);

#endif
