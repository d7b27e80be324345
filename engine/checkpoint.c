#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fsutil.h"
#include "json.h"

char *tune_ckpt_tmp_path(const char *final) {
  static unsigned counter;
  char *dir = tune_fs_dirname(final);
  const char *base = strrchr(final, '/');
  base = base ? base + 1 : final;
  char *tmp = tune_xasprintf("%s/.%s.tmp-%ld-%u", dir, base, (long)getpid(), ++counter);
  free(dir);
  return tmp;
}

int tune_ckpt_commit(const char *tmp, const char *final, const cJSON *meta, int persistent) {
  int rc = 0;
  if (!tune_fs_exists(tmp)) {
    /* The trainable wrote nothing: an empty checkpoint is still a checkpoint. */
    rc = tune_fs_mkdir_p(tmp);
    if (rc < 0) return rc;
  }
  char *meta_path = tune_xasprintf("%s%s", tmp, TUNE_CKPT_META);
  char *text = tune_json_print(meta);
  /* A persistent checkpoint's tree is synced below, the metadata with it. */
  rc = tune_fs_write_replace(meta_path, text, strlen(text));
  free(text);
  free(meta_path);
  if (rc == 0 && persistent) rc = tune_fs_sync_tree(tmp);
  if (rc == 0) rc = tune_fs_commit_dir(tmp, final);
  if (rc < 0) tune_fs_remove_tree(tmp);
  return rc;
}

cJSON *tune_ckpt_read_meta(const char *dir) {
  char *path = tune_xasprintf("%s%s", dir, TUNE_CKPT_META);
  char *text = NULL;
  size_t len = 0;
  cJSON *meta = NULL;
  if (tune_fs_read(path, 1 << 20, &text, &len) == 0) meta = tune_json_parse(text, len, NULL, 0);
  free(text);
  free(path);
  return meta;
}
