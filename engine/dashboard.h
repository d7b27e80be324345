/// The live dashboard's HTTP server (libmicrohttpd, in its own thread):
/// read-only, it serves one page, the experiment state the driver last
/// published, and the tails of the trials' result.json files, read from
/// disk. The driver's loop never waits on it: publishing swaps a string
/// under a mutex (docs/guide/output.md, "Dashboard").
#ifndef TUNE_DASHBOARD_H
#define TUNE_DASHBOARD_H

#include <stddef.h>

typedef struct tune_dashboard tune_dashboard_t;

/// Starts serving on host:port (IPv4 address; port 0 picks a free one).
/// `root` is the experiment directory; `token`, when not NULL, must be the
/// `token` query argument of every request. NULL with a message in `err`
/// (or when built without libmicrohttpd).
tune_dashboard_t *tune_dashboard_start(const char *host, int port, const char *token, const char *root,
                                       const char *page, size_t page_len, char *err, size_t errlen);
/// The port it listens on.
int tune_dashboard_port(const tune_dashboard_t *d);
/// Replaces the state JSON that /api/state serves (copied).
int tune_dashboard_publish(tune_dashboard_t *d, const char *json, size_t len);
/// Whether /api/state was asked for since the last publish.
int tune_dashboard_wanted(tune_dashboard_t *d);
/// Requests served so far.
unsigned long tune_dashboard_requests(tune_dashboard_t *d);
/// Seconds since the last request (-1: none yet); `poll_s` gets the
/// longest gap between polls the last page announced (/api/state?poll=;
/// 0 when none did).
double tune_dashboard_idle(tune_dashboard_t *d, double *poll_s);
/// Blocks until something happened (a request, a read of the state) since
/// the count `seen`, or `timeout_s` passed; returns the count now (pass 0
/// as timeout_s to read it).
unsigned long tune_dashboard_wait(tune_dashboard_t *d, unsigned long seen, double timeout_s);
/// Stops the server and frees everything.
void tune_dashboard_stop(tune_dashboard_t *d);

#endif
