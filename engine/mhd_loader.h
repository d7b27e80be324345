#pragma once
// libmicrohttpd, opened when a dashboard starts rather than linked: the
// library and the gnutls it pulls in cost every process about 5 ms at
// exec, and every worker is this binary (docs/architecture.md,
// "Dependencies beyond the base").
#include <stddef.h>
#include <microhttpd.h>

typedef struct {
  __typeof__(MHD_start_daemon) *start_daemon;
  __typeof__(MHD_stop_daemon) *stop_daemon;
  __typeof__(MHD_get_daemon_info) *get_daemon_info;
  __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
  __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
  __typeof__(MHD_add_response_header) *add_response_header;
  __typeof__(MHD_queue_response) *queue_response;
  __typeof__(MHD_destroy_response) *destroy_response;
} tune_mhd_t;

/// The library's functions, loaded on the first call (from one thread);
/// NULL with the reason in `err` when the library cannot be opened.
const tune_mhd_t *tune_mhd(char *err, size_t errlen);
