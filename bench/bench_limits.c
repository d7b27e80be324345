/// The bare limits the executor figures are read against: the cost of
/// spawning the worker binary (`tunelua --version`, through the local
/// backend, to exit) and of one line round trip through a pipe pair to a
/// child (`cat`). Prints one JSON line with medians over `repeats` runs.
///   bench_limits TUNELUA [spawns] [round_trips] [repeats]
/// And the file system's floor under a trial's logging: `count` copies of
/// one trial directory (its regular files, contents and all), each made
/// with mkdir and one open/write/close per file by this one thread, as the
/// driver's write-behind thread makes them; one JSON line.
///   bench_limits --files TRIAL_DIR OUT_DIR count
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "backend.h"

extern char **environ;

typedef struct {
  int exited;
  size_t got;
} seen_t;

static void on_data(void *ud, int stream, const char *data, size_t len) {
  seen_t *s = ud;
  if (stream == TUNE_STREAM_PROTOCOL)
    for (size_t i = 0; i < len; i++)
      if (data[i] == '\n') s->got++;
}

static void on_exit_cb(void *ud, const tune_exit_t *e) {
  (void)e;
  ((seen_t *)ud)->exited = 1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct {
  char name[256];
  char *data;
  size_t len;
} tfile_t;

static int read_all(const char *path, tfile_t *f) {
  FILE *in = fopen(path, "rb");
  if (!in) return -1;
  f->data = NULL;
  f->len = 0;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    char *d = realloc(f->data, f->len + n);
    if (!d) break;
    f->data = d;
    memcpy(f->data + f->len, buf, n);
    f->len += n;
  }
  fclose(in);
  return 0;
}

static int files_floor(const char *trial_dir, const char *out_dir, int count) {
  tfile_t files[16];
  int nf = 0;
  char path[8192];
  DIR *d = opendir(trial_dir);
  if (!d) {
    perror(trial_dir);
    return 1;
  }
  struct dirent *e;
  while ((e = readdir(d)) && nf < 16) {
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", trial_dir, e->d_name);
    if (stat(path, &st) || !S_ISREG(st.st_mode) || strlen(e->d_name) >= sizeof files[nf].name) continue;
    snprintf(files[nf].name, sizeof files[nf].name, "%s", e->d_name);
    if (read_all(path, &files[nf]) == 0) nf++;
  }
  closedir(d);
  const char *base = strrchr(trial_dir, '/');
  base = base ? base + 1 : trial_dir;
  mkdir(out_dir, 0755);
  uv_update_time(uv_default_loop());
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < count; i++) {
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/%s_%d", out_dir, base, i);
    if (n < 0 || (size_t)n >= sizeof dir || mkdir(dir, 0755)) {
      perror(dir);
      return 1;
    }
    for (int k = 0; k < nf; k++) {
      n = snprintf(path, sizeof path, "%s/%s", dir, files[k].name);
      int fd = n < 0 || (size_t)n >= sizeof path ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || write(fd, files[k].data, files[k].len) != (ssize_t)files[k].len) {
        perror(path);
        return 1;
      }
      close(fd);
    }
  }
  double ms = (double)(uv_hrtime() - t0) / 1e6 / count;
  size_t bytes = 0;
  for (int k = 0; k < nf; k++) {
    bytes += files[k].len;
    free(files[k].data);
  }
  printf("{\"bench\":\"files\",\"trials\":%d,\"files\":%d,\"bytes\":%zu,\"ms_per_trial\":%.4f}\n", count,
         nf, bytes, ms);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--files") == 0) return files_floor(argv[2], argv[3], atoi(argv[4]));
  if (argc < 2) {
    fprintf(stderr, "usage: bench_limits TUNELUA [spawns] [round_trips] [repeats]\n"
                    "       bench_limits --files TRIAL_DIR OUT_DIR count\n");
    return 2;
  }
  const char *exe = argv[1];
  int spawns = argc > 2 ? atoi(argv[2]) : 200;
  int trips = argc > 3 ? atoi(argv[3]) : 20000;
  int repeats = argc > 4 ? atoi(argv[4]) : 5;
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", 1);
  tune_local_opts_t o = {&r, NULL, 0, 0};
  tune_backend_t *b = tune_backend_local_new(&o);
  tune_res_free(&r);
  tune_proc_cb_t cb = {on_data, on_exit_cb, NULL};
  double *spawn_ms = calloc((size_t)repeats, sizeof(double));
  double *rt_us = calloc((size_t)repeats, sizeof(double));
  for (int k = 0; k < repeats; k++) {
    char *args[] = {(char *)exe, "--version", NULL};
    double t0 = b->ops->now(b);
    for (int i = 0; i < spawns; i++) {
      seen_t s = {0, 0};
      tune_proc_t *p;
      tune_spawn_t so = {exe, args, environ, ".", 0, NULL, NULL, 0};
      if (b->ops->spawn(b, &so, &cb, &s, &p) < 0) {
        fprintf(stderr, "spawn %s failed\n", exe);
        return 1;
      }
      while (!s.exited) b->ops->wait(b, 10);
    }
    spawn_ms[k] = (b->ops->now(b) - t0) * 1000.0 / spawns;

    char *cat[] = {"/bin/cat", NULL};
    seen_t s = {0, 0};
    tune_proc_t *p;
    tune_spawn_t so = {"/bin/cat", cat, environ, ".", 0, NULL, NULL, 0};
    if (b->ops->spawn(b, &so, &cb, &s, &p) < 0) return 1;
    t0 = b->ops->now(b);
    for (int i = 0; i < trips; i++) {
      size_t want = s.got + 1;
      b->ops->send(p, "{\"type\":\"ping\"}\n", 16);
      while (s.got < want) b->ops->wait(b, 10);
    }
    rt_us[k] = (b->ops->now(b) - t0) * 1e6 / trips;
    b->ops->kill(p);
    while (!s.exited) b->ops->wait(b, 10);
  }
  printf("{\"bench\":\"limits\",\"repeats\":%d,\"spawns\":%d,\"round_trips\":%d,"
         "\"spawn_ms\":%.4f,\"pipe_round_trip_us\":%.3f}\n",
         repeats, spawns, trips, median(spawn_ms, repeats), median(rt_us, repeats));
  free(spawn_ms);
  free(rt_us);
  return b->ops->destroy(b) == 0 ? 0 : 1;
}
