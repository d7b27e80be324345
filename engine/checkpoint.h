/// Checkpoint directories. A worker writes into a temporary directory the
/// driver names; the driver adds `.tune_metadata.json` (the counters at the
/// time of the save), syncs the tree when the checkpoint is persistent, and
/// renames it into place atomically, so a crash leaves the previous
/// checkpoint or the new one, never a torn one.
#ifndef TUNE_CHECKPOINT_H
#define TUNE_CHECKPOINT_H

#include <cjson/cJSON.h>

#define TUNE_CKPT_META "/.tune_metadata.json"

/// Temporary sibling of `final` for the worker to write into. Caller owns it.
char *tune_ckpt_tmp_path(const char *final);
/// Adds metadata to `tmp` and moves it to `final`. With `persistent`, every
/// file is fsynced first. 0 or a negative errno (then `tmp` is removed).
int tune_ckpt_commit(const char *tmp, const char *final, const cJSON *meta, int persistent);
/// The metadata of a checkpoint directory, or NULL. Caller owns it.
cJSON *tune_ckpt_read_meta(const char *dir);

#endif
