#include "backends.h"

#include <stdio.h>
#include <string.h>

#include "common.h"
#include "signals.h"

static tune_backend_t *local_new(const tune_backend_opts_t *o, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  tune_local_opts_t lo = {o->resources, o->gpu_ids, o->ngpu_ids, 0};
  return tune_backend_local_new(&lo);
}

static const struct {
  const char *name;
  tune_backend_t *(*ctor)(const tune_backend_opts_t *o, char *err, size_t errlen);
} registry[] = {
    {"local", local_new},
    {"sim", tune_backend_sim_new},
    {"slurm", tune_backend_slurm_new},
};

const char *tune_backend_names(void) { return "local, sim, slurm"; }

tune_backend_t *tune_backend_new(const char *name, const tune_backend_opts_t *o, char *err, size_t errlen) {
  /* Every backend's driver writes the loggers' files and the event stream. */
  tune_signals_ignore_write_errors();
  for (size_t i = 0; i < TUNE_ARRAY_LEN(registry); i++)
    if (!strcmp(name, registry[i].name)) return registry[i].ctor(o, err, errlen);
  snprintf(err, errlen, "unknown backend '%s' (known: %s)", name, tune_backend_names());
  return NULL;
}
