/// libmicrohttpd through dlopen: mhd_loader.h.
#include "mhd_loader.h"

#include <dlfcn.h>
#include <stdio.h>

#ifndef TUNE_MHD_SONAME
#define TUNE_MHD_SONAME "libmicrohttpd.so.12"
#endif

static tune_mhd_t fns;
static int loaded;

const tune_mhd_t *tune_mhd(char *err, size_t errlen) {
  if (loaded) return &fns;
  void *h = dlopen(TUNE_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, errlen, "the dashboard needs %s: %s", TUNE_MHD_SONAME, dlerror());
    return NULL;
  }
  struct {
    const char *name;
    void **slot;
  } syms[] = {
      {"MHD_start_daemon", (void **)&fns.start_daemon},
      {"MHD_stop_daemon", (void **)&fns.stop_daemon},
      {"MHD_get_daemon_info", (void **)&fns.get_daemon_info},
      {"MHD_lookup_connection_value", (void **)&fns.lookup_connection_value},
      {"MHD_create_response_from_buffer", (void **)&fns.create_response_from_buffer},
      {"MHD_add_response_header", (void **)&fns.add_response_header},
      {"MHD_queue_response", (void **)&fns.queue_response},
      {"MHD_destroy_response", (void **)&fns.destroy_response},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    *syms[i].slot = dlsym(h, syms[i].name);
    if (!*syms[i].slot) {
      snprintf(err, errlen, "%s has no %s", TUNE_MHD_SONAME, syms[i].name);
      dlclose(h);
      return NULL;
    }
  }
  /* Kept open for the process's life: the daemon's thread runs its code. */
  loaded = 1;
  return &fns;
}
