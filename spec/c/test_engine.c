/// C unit tests of the engine: resource arithmetic, placement, the
/// placement-group manager, protocol framing, JSON exactness, atomic files
/// and the local backend. A plain list of tests in one runner.
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "pg_manager.h"
#include "cluster.h"
#include "fsutil.h"
#include "jpack.h"
#include "json.h"
#include "log.h"
#include "loggers.h"
#include "fsprep.h"
#include "writebehind.h"
#include "numfmt.h"
#include "pg_manager.h"
#include "pgf.h"
#include "proto.h"
#include "resources.h"
#include "signals.h"

static int failures;
static const char *current;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "FAIL %s: %s:%d: %s\n", current, __FILE__, __LINE__, #cond); \
      failures++;                                                                \
      return;                                                                    \
    }                                                                            \
  } while (0)

static tune_pgf_t *pgf(const char *json) {
  char err[256];
  cJSON *j = tune_json_parse(json, strlen(json), err, sizeof err);
  if (!j) {
    fprintf(stderr, "bad test json: %s\n", err);
    abort();
  }
  tune_pgf_t *f = tune_pgf_from_json(j, err, sizeof err);
  cJSON_Delete(j);
  if (!f) {
    fprintf(stderr, "bad pgf: %s\n", err);
    abort();
  }
  return f;
}

static void node(tune_cluster_t *c, const char *name, double cpu, double gpu, const char *custom, double n) {
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", cpu);
  tune_res_set(&r, "GPU", gpu);
  if (custom) tune_res_set(&r, custom, n);
  tune_cluster_add_node(c, name, &r, NULL, 0);
  tune_res_free(&r);
}

static void test_resources_arithmetic(void) {
  tune_res_t a, b;
  tune_res_init(&a);
  tune_res_init(&b);
  tune_res_set(&a, "CPU", 0.1);
  for (int i = 0; i < 2; i++) tune_res_add(&b, &a, 1);
  tune_res_set(&a, "CPU", 0.2);
  CHECK(tune_res_equal(&a, &b)); /* no floating-point drift: 0.1 + 0.1 == 0.2 */
  tune_res_set(&a, "custom", 3);
  CHECK(!tune_res_fits(&a, &b));
  tune_res_set(&b, "custom", 3);
  tune_res_set(&b, "zeta", 1);
  CHECK(tune_res_fits(&a, &b));
  tune_res_add(&b, &a, -1);
  CHECK(tune_res_get(&b, "CPU") == 0);
  CHECK(tune_res_get(&b, "custom") == 0);
  CHECK(tune_res_get(&b, "zeta") == 1);
  CHECK(b.ncustom == 2 && !strcmp(b.custom[0].name, "custom")); /* sorted */
  tune_buf_t out = TUNE_BUF_INIT;
  tune_res_format(&a, &out);
  CHECK(strstr(out.data, "0.2 CPUs") && strstr(out.data, "3 custom"));
  tune_buf_free(&out);
  tune_res_free(&a);
  tune_res_free(&b);
}

static void test_pgf_parse(void) {
  char err[256];
  const char *bad = "{\"bundles\": [{\"CPU\": -1}]}";
  cJSON *j = tune_json_parse(bad, strlen(bad), NULL, 0);
  CHECK(tune_pgf_from_json(j, err, sizeof err) == NULL);
  CHECK(strstr(err, "non-negative"));
  cJSON_Delete(j);
  const char *bad2 = "{\"bundles\": [{\"CPU\": 1}], \"strategy\": \"SIDEWAYS\"}";
  j = tune_json_parse(bad2, strlen(bad2), NULL, 0);
  CHECK(tune_pgf_from_json(j, err, sizeof err) == NULL);
  CHECK(strstr(err, "SIDEWAYS"));
  cJSON_Delete(j);
  tune_pgf_t *a = pgf("{\"bundles\": [{\"CPU\": 1, \"GPU\": 0}], \"strategy\": \"PACK\"}");
  tune_pgf_t *b = pgf("{\"bundles\": [{\"cpu\": 1}]}");
  CHECK(!strcmp(a->key, b->key)); /* equal factories, equal keys */
  tune_pgf_free(a);
  tune_pgf_free(b);
}

static void test_cluster_gpus(void) {
  tune_cluster_t c;
  tune_cluster_init(&c);
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", 8);
  tune_res_set(&r, "GPU", 2);
  const char *ids[] = {"3", "7"};
  tune_cluster_add_node(&c, "n", &r, ids, 2);
  tune_res_free(&r);
  tune_pgf_t *one = pgf("{\"bundles\": [{\"CPU\": 1, \"GPU\": 1}]}");
  tune_pgf_t *half = pgf("{\"bundles\": [{\"CPU\": 1, \"GPU\": 0.5}]}");
  tune_placement_t p1, p2, p3, p4;
  CHECK(tune_cluster_reserve(&c, one, &p1) == 0);
  char *g1 = tune_placement_gpu_ids(&c, &p1, 0);
  CHECK(!strcmp(g1, "3"));
  CHECK(tune_cluster_reserve(&c, half, &p2) == 0);
  CHECK(tune_cluster_reserve(&c, half, &p3) == 0);
  char *g2 = tune_placement_gpu_ids(&c, &p2, 0), *g3 = tune_placement_gpu_ids(&c, &p3, 0);
  CHECK(!strcmp(g2, "7") && !strcmp(g3, "7")); /* two halves share one GPU */
  CHECK(tune_cluster_reserve(&c, half, &p4) < 0); /* no GPU share left */
  CHECK(p4.nbundles == 0 && p4.bundles == NULL); /* refused: nothing placed */
  tune_cluster_release(&c, half, &p2);
  CHECK(tune_cluster_reserve(&c, half, &p4) == 0);
  tune_cluster_release(&c, one, &p1);
  tune_cluster_release(&c, half, &p3);
  tune_cluster_release(&c, half, &p4);
  tune_res_t avail;
  tune_cluster_total(&c, &avail, 1);
  CHECK(tune_res_get(&avail, "GPU") == 2 && tune_res_get(&avail, "CPU") == 8);
  tune_res_free(&avail);
  char err[512];
  tune_pgf_t *frac = pgf("{\"bundles\": [{\"GPU\": 1.5}]}");
  CHECK(tune_cluster_feasible(&c, frac, err, sizeof err) < 0);
  CHECK(strstr(err, "whole numbers"));
  free(g1);
  free(g2);
  free(g3);
  tune_pgf_free(one);
  tune_pgf_free(half);
  tune_pgf_free(frac);
  tune_cluster_free(&c);
}

static void test_cluster_strategies(void) {
  tune_cluster_t c;
  tune_cluster_init(&c);
  node(&c, "a", 4, 0, NULL, 0);
  node(&c, "b", 4, 0, NULL, 0);
  char err[512];
  tune_pgf_t *spread = pgf("{\"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}, {\"CPU\": 1}], \"strategy\": \"STRICT_SPREAD\"}");
  CHECK(tune_cluster_feasible(&c, spread, err, sizeof err) < 0); /* 3 bundles, 2 nodes */
  CHECK(strstr(err, "STRICT_SPREAD") && strstr(err, "a: "));
  tune_pgf_t *pack = pgf("{\"bundles\": [{\"CPU\": 3}, {\"CPU\": 3}], \"strategy\": \"STRICT_PACK\"}");
  CHECK(tune_cluster_feasible(&c, pack, err, sizeof err) < 0); /* 6 CPUs on one 4-CPU node */
  tune_pgf_t *loose = pgf("{\"bundles\": [{\"CPU\": 3}, {\"CPU\": 3}], \"strategy\": \"PACK\"}");
  tune_placement_t p;
  CHECK(tune_cluster_reserve(&c, loose, &p) == 0);
  CHECK(p.bundles[0].node != p.bundles[1].node); /* PACK falls back to two nodes */
  tune_cluster_release(&c, loose, &p);
  tune_pgf_t *sp = pgf("{\"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}], \"strategy\": \"SPREAD\"}");
  CHECK(tune_cluster_reserve(&c, sp, &p) == 0);
  CHECK(p.bundles[0].node != p.bundles[1].node);
  tune_cluster_release(&c, sp, &p);
  tune_pgf_t *sp2 = pgf("{\"bundles\": [{\"CPU\": 1}, {\"CPU\": 1}, {\"CPU\": 1}], \"strategy\": \"SPREAD\"}");
  CHECK(tune_cluster_reserve(&c, sp2, &p) == 0); /* SPREAD is best effort */
  tune_cluster_release(&c, sp2, &p);
  /* All or nothing: a group that does not fit takes nothing. */
  tune_pgf_t *big = pgf("{\"bundles\": [{\"CPU\": 4}, {\"CPU\": 4}, {\"CPU\": 1}]}");
  CHECK(tune_cluster_reserve(&c, big, &p) < 0);
  tune_res_t avail;
  tune_cluster_total(&c, &avail, 1);
  CHECK(tune_res_get(&avail, "CPU") == 8);
  tune_res_free(&avail);
  tune_pgf_free(spread);
  tune_pgf_free(pack);
  tune_pgf_free(loose);
  tune_pgf_free(sp);
  tune_pgf_free(sp2);
  tune_pgf_free(big);
  tune_cluster_free(&c);
}

/* A backend that only reserves, over a cluster model; with `later`, every
   request completes when the test says so (asynchronous reservations). */
typedef struct {
  tune_backend_t base;
  int later;
  tune_reservation_t *pending[8];
  size_t npending;
  int cancelled;
} test_backend_t;

static int tb_reserve(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  test_backend_t *t = (test_backend_t *)b;
  if (tune_cluster_reserve(&b->cluster, f, &r->placement) < 0) return TUNE_RESERVE_NO_ROOM;
  if (!t->later) return TUNE_RESERVE_OK;
  t->pending[t->npending++] = r;
  return TUNE_RESERVE_LATER;
}
static void tb_forget(test_backend_t *t, tune_reservation_t *r) {
  for (size_t i = 0; i < t->npending; i++)
    if (t->pending[i] == r) t->pending[i] = t->pending[--t->npending];
}
static void tb_cancel(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  test_backend_t *t = (test_backend_t *)b;
  tb_forget(t, r);
  t->cancelled++;
  tune_cluster_release(&b->cluster, f, &r->placement);
}
static void tb_release(tune_backend_t *b, const tune_pgf_t *f, tune_reservation_t *r) {
  tune_cluster_release(&b->cluster, f, &r->placement);
}
static const tune_backend_ops_t tb_ops = {.name = "test", .reserve = tb_reserve, .cancel = tb_cancel,
                                          .release = tb_release};

typedef struct {
  int failures;
  char why[128];
} failed_seen_t;
static void on_failed(void *ud, tune_pgf_entry_t *fe, const char *why) {
  failed_seen_t *s = ud;
  (void)fe;
  s->failures++;
  snprintf(s->why, sizeof s->why, "%s", why);
}

static void test_pg_manager_staging(void) {
  test_backend_t tb = {{&tb_ops, {NULL, 0}}, 0, {0}, 0, 0};
  tune_cluster_t *cp = &tb.base.cluster;
  tune_cluster_init(cp);
  node(cp, "n", 8, 4, "custom", 16);
  tune_pg_manager_t m;
  tune_pg_reserver_t r = {&tb.base, NULL, NULL};
  tune_pgm_init(&m, r, 1);
  tune_pgf_entry_t *f8 = tune_pgm_intern(&m, pgf("{\"bundles\": [{\"CPU\": 8}]}"));
  tune_pgf_entry_t *same = tune_pgm_intern(&m, pgf("{\"bundles\": [{\"CPU\": 8}]}"));
  CHECK(f8 == same);
  tune_pgf_entry_t *f7 = tune_pgm_intern(&m, pgf("{\"bundles\": [{\"CPU\": 7}]}"));
  CHECK(tune_pgm_stage_trial(&m, "t1", f8) == 1);
  CHECK(tune_pgm_stage_trial(&m, "t1", f8) == 2);
  CHECK(tune_pgm_stage_trial(&m, "t2", f8) == 0); /* staging is full */
  CHECK(tune_pgm_update(&m) == 1);
  CHECK(f8->ready.n == 1 && m.staging.n == 0);
  CHECK(tune_pgm_stage_trial(&m, "t2", f8) == 1);
  CHECK(tune_pgm_update(&m) == 0); /* no CPUs left */
  tune_pg_t *pg = tune_pgm_take_ready(&m, "t1", f8);
  CHECK(pg && pg->state == TUNE_PG_IN_USE && tune_pgm_in_use(&m, "t1") == pg);
  CHECK(!tune_pgm_is_staged(&m, "t1"));
  /* Caching drops one staging group of the same factory. */
  tune_pgm_cache(&m, pg, NULL);
  CHECK(m.staging.n == 0 && f8->cached.n == 1);
  /* Reconcile: two trials of f8 expect groups; the cached one counts. */
  tune_pgm_trial_t trials[] = {{"t1", f8, 1}, {"t2", f8, 1}, {"t3", f7, 0}};
  tune_pgm_reconcile(&m, trials, 3);
  CHECK(m.staging.n == 1);
  CHECK(!tune_pgm_can_stage(&m));
  /* Fewer expected: the unused staging group goes. */
  trials[1].expected = 0;
  tune_pgm_reconcile(&m, trials, 3);
  CHECK(m.staging.n == 0);
  tune_pgm_counts_t counts;
  tune_pgm_counts(&m, &counts);
  CHECK(counts.cached == 1 && counts.in_use == 0 && counts.ready == 0);
  tune_pgm_free(&m);
  tune_res_t avail;
  tune_cluster_total(cp, &avail, 1);
  CHECK(tune_res_get(&avail, "CPU") == 8); /* every reservation given back */
  tune_res_free(&avail);
  tune_cluster_free(cp);
}

/* Reservations that complete later: the group stays staging until the
   backend reports back (from its wait, which only queues); a failure fails
   the factory's staged trials with the reason; removing a staged group
   withdraws its request. */
static void test_pg_manager_async(void) {
  test_backend_t tb = {{&tb_ops, {NULL, 0}}, 1, {0}, 0, 0};
  tune_cluster_t *cp = &tb.base.cluster;
  tune_cluster_init(cp);
  node(cp, "n", 8, 0, NULL, 0);
  failed_seen_t seen = {0, ""};
  tune_pg_manager_t m;
  tune_pg_reserver_t r = {&tb.base, on_failed, &seen};
  tune_pgm_init(&m, r, 4);
  tune_pgf_entry_t *f2 = tune_pgm_intern(&m, pgf("{\"bundles\": [{\"CPU\": 2}]}"));
  CHECK(tune_pgm_stage_trial(&m, "a", f2) == 1);
  CHECK(tune_pgm_stage_trial(&m, "b", f2) == 1);
  CHECK(tune_pgm_update(&m) == 0);
  tune_pgm_counts_t counts;
  tune_pgm_counts(&m, &counts);
  CHECK(counts.staging == 2 && counts.reserving == 2 && tb.npending == 2);
  CHECK(tune_pgm_update(&m) == 0 && tb.npending == 2); /* not asked twice */
  /* The backend completes the first: ready only after update. */
  tune_reservation_t *first = tb.pending[0];
  tb_forget(&tb, first);
  first->done(first, 0, NULL);
  CHECK(f2->ready.n == 0);
  CHECK(tune_pgm_update(&m) == 1 && f2->ready.n == 1);
  /* The second fails: its staged trials are failed with the reason. */
  tune_reservation_t *second = tb.pending[0];
  tb_forget(&tb, second);
  tune_cluster_release(cp, f2->pgf, &second->placement);
  second->done(second, -EINVAL, "no such partition");
  tune_pgm_update(&m);
  CHECK(seen.failures == 1 && !strcmp(seen.why, "no such partition"));
  tune_pgm_counts(&m, &counts);
  CHECK(counts.staging == 0 && counts.reserving == 0 && counts.ready == 1);
  /* A request withdrawn before it completes is cancelled. */
  CHECK(tune_pgm_stage_trial(&m, "c", f2) == 1);
  tune_pgm_update(&m);
  CHECK(tb.npending == 1);
  tune_pgm_unstage_unused(&m, f2);
  CHECK(tb.cancelled == 1 && tb.npending == 0);
  tune_pgm_free(&m);
  tune_res_t avail;
  tune_cluster_total(cp, &avail, 1);
  CHECK(tune_res_get(&avail, "CPU") == 8);
  tune_res_free(&avail);
  tune_cluster_free(cp);
}

typedef struct {
  int n;
  char lines[8][64];
} lines_seen_t;

static int collect(void *ud, const char *line, size_t len) {
  lines_seen_t *s = ud;
  snprintf(s->lines[s->n++ % 8], 64, "%.*s", (int)len, line);
  return 0;
}

static void test_line_framing(void) {
  tune_lines_t l;
  tune_lines_init(&l, 16);
  lines_seen_t s = {0};
  CHECK(tune_lines_feed(&l, "ab", 2, collect, &s) == 0 && s.n == 0);
  CHECK(tune_lines_feed(&l, "c\nde\nf", 6, collect, &s) == 0);
  CHECK(s.n == 2 && !strcmp(s.lines[0], "abc") && !strcmp(s.lines[1], "de"));
  CHECK(tune_lines_pending(&l) == 1);
  CHECK(tune_lines_feed(&l, "0123456789abcdefXYZ", 19, collect, &s) == -E2BIG);
  tune_lines_free(&l);
  char why[128];
  cJSON *m = tune_json_parse("{\"type\":\"teleport\"}", 19, NULL, 0);
  CHECK(tune_msg_classify(m, why, sizeof why) == TUNE_MSG_INVALID && strstr(why, "teleport"));
  cJSON_Delete(m);
  m = tune_json_parse("[1]", 3, NULL, 0);
  CHECK(tune_msg_classify(m, why, sizeof why) == TUNE_MSG_INVALID && strstr(why, "not a JSON object"));
  cJSON_Delete(m);
  m = tune_json_parse("{\"type\":\"result\",\"re\":1}", 24, NULL, 0);
  CHECK(tune_msg_classify(m, why, sizeof why) == TUNE_MSG_RESULT);
  cJSON_Delete(m);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/// The formatting tune_fmt_double replaces: printf three times over
/// (a subnormal: the fewest digits that read back, as Python's repr).
static void old_fmt_double(char *tmp, double v) {
  if (v != 0 && fabs(v) < DBL_MIN) {
    for (int k = 1; k <= 17; k++) {
      snprintf(tmp, 40, "%.*g", k, v);
      if (strtod(tmp, NULL) == v) return;
    }
  }
  snprintf(tmp, 40, "%.15g", v);
  if (strtod(tmp, NULL) != v) {
    snprintf(tmp, 40, "%.16g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, 40, "%.17g", v);
  }
}

static void check_fmt(double d) {
  if (!isfinite(d)) return;
  char want[40], got[40];
  old_fmt_double(want, d);
  size_t n = tune_fmt_double(got, d);
  if (strcmp(want, got) || n != strlen(got)) fprintf(stderr, "fmt %.17g: want %s got %s\n", d, want, got);
  CHECK(!strcmp(want, got) && n == strlen(got));
}

static void test_debug_value(void) {
  /* TUNE_DEBUG: on when non-empty and not "0", as the Lua side reads it. */
  CHECK(!tune_log_debug_value(NULL) && !tune_log_debug_value("") && !tune_log_debug_value("0"));
  CHECK(tune_log_debug_value("1") && tune_log_debug_value("01") && tune_log_debug_value("00") &&
        tune_log_debug_value("yes"));
}

static void test_number_format(void) {
  /* Identical text to printf's %.15g/%.16g/%.17g choice, for random bit
     patterns, uniforms, quotients, short decimals, ties and every
     exponent around %g's switch points. */
  for (int i = 0; i < 300000; i++) {
    uint64_t bits = next_rand();
    double d;
    memcpy(&d, &bits, sizeof d);
    check_fmt(d);
    double u = (double)(next_rand() >> 11) / 9007199254740992.0;
    check_fmt(u);
    check_fmt(u / (double)(1 + i % 100));
    check_fmt((double)(int64_t)(next_rand() % 2000001 - 1000000) / 1000.0);
    check_fmt(u * pow(10, (double)(i % 40) - 20));
    check_fmt(-u * 1e16);
  }
  const double fixed[] = {0.5, 0.1, 0.2, 0.3, 1e-5, 1e-4, 9.9999999999999995e-5, 1e15 + 0.5, 123456789012345.6,
                          1e16, 1.5e17, 99999999999999999.0, 0.999999999999999999, 5e-324, 1.7976931348623157e308,
                          2.2250738585072014e-308, 0.30000000000000004, 1.0 / 3, 2.0 / 3, 1e21, 1e22, 1e-7,
                          1e-310, 2.225073858507201e-308, 4.9406564584124654e-324 * 3};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    check_fmt(fixed[i]);
    check_fmt(-fixed[i]);
  }
  char sub[40];
  CHECK(tune_fmt_double(sub, -5e-324) == 7 && !strcmp(sub, "-5e-324"));
  CHECK(tune_fmt_double(sub, 1e-310) == 6 && !strcmp(sub, "1e-310"));
  /* tune_fmt_double keeps recent texts by the double's bits: repeats
     (hits) and values that share a slot (evictions) give the same text. */
  double seen[1000];
  for (int i = 0; i < 1000; i++) {
    uint64_t bits = next_rand();
    memcpy(&seen[i], &bits, sizeof bits);
  }
  for (int pass = 0; pass < 3; pass++)
    for (int i = 0; i < 1000; i++) check_fmt(seen[(i * 7 + pass) % 1000]);
  /* Integers two digits at a time: every length and sign. */
  for (int i = 0; i < 100000; i++) {
    int64_t v = (int64_t)(next_rand() >> (next_rand() % 64));
    if (i & 1) v = -v;
    char want[32], got[32];
    snprintf(want, sizeof want, "%" PRId64, v);
    CHECK(tune_fmt_int(got, v) == strlen(want) && !strcmp(want, got));
  }
  const int64_t ints[] = {0, 1, -1, 9, 10, -10, 99, 100, -100, 123456789, INT64_MAX, INT64_MIN, 1000000000000000LL};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    char want[32], got[32];
    snprintf(want, sizeof want, "%" PRId64, ints[i]);
    CHECK(tune_fmt_int(got, ints[i]) == strlen(want) && !strcmp(want, got));
  }
}

/// tune_scan_double gives strtod's double, or declines (0).
static int check_scan(const char *text) {
  double want = strtod(text, NULL), got = 0;
  int fast = tune_scan_double(text, strlen(text), &got);
  if (fast && memcmp(&want, &got, sizeof want)) {
    fprintf(stderr, "FAIL %s: scan %s: want %.17g got %.17g\n", current, text, want, got);
    failures++;
  }
  return fast;
}

static void test_number_fast_paths(void) {
  /* Formatting: the values results and snapshots are made of (times of
     day, durations, quotients, values next to powers of ten and two),
     against printf. */
  for (int i = 0; i < 200000; i++) {
    double u = (double)(next_rand() >> 11) / 9007199254740992.0;
    check_fmt(1.7e9 + u * 1e8);
    check_fmt(u * 0.001);
    check_fmt(1.0 / (double)(1 + i));
    check_fmt((double)(i % 1000) / (double)(1 + i % 97));
    double p10 = pow(10, (double)(i % 56) - 12);
    check_fmt(nextafter(p10, 0));
    check_fmt(nextafter(p10, INFINITY));
    check_fmt(ldexp(1.0, i % 180 - 40) * (1 + u * 1e-15));
    check_fmt(ldexp(1.0, i % 180 - 40));
  }
  /* Reading: what the writer makes (15, 16 and 17 digits), other digit
     strings with the point and the exponent anywhere, and near-halfway
     cases; count how often the fast path decides. */
  int decided = 0, tried = 0;
  char text[80];
  for (int i = 0; i < 200000; i++) {
    double u = (double)(next_rand() >> 11) / 9007199254740992.0;
    double v = u * pow(10, (double)(i % 40) - 15);
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(text, sizeof text, "%.*g", prec, i & 1 ? -v : v);
      int fast = check_scan(text);
      if (fabs(v) >= 1e-9 && fabs(v) < 1e10) { /* exponents within +-27 at 17 digits */
        decided += fast;
        tried++;
      }
    }
    int nd = 1 + (int)(next_rand() % 22), point = (int)(next_rand() % (uint64_t)(nd + 1));
    size_t n = 0;
    for (int d = 0; d < nd; d++) {
      if (d == point && d > 0) text[n++] = '.';
      text[n++] = (char)('0' + next_rand() % 10);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "e%d", (int)(next_rand() % 70) - 35);
    check_scan(text);
    /* Halfway between two doubles, written with 17 to 19 digits. */
    double a = 1 + u, b = nextafter(a, 2);
    snprintf(text, sizeof text, "%.18g", a / 2 + b / 2);
    check_scan(text);
  }
  const char *fixed[] = {"0.0", "-0.0", "0.1", "1e-27", "1e27", "9.999999999999999e26", "1.7976931348623157e308",
                         "5e-324", "0.30000000000000004", "123456789012345678.9", "1234567890123456789000e-3",
                         "0.000000000000000000000000000001", "9007199254740993.0", "9007199254740993e0"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check_scan(fixed[i]);
#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64
  /* Where long doubles carry 64 bits (not under valgrind, which computes
     them as doubles), nearly all are read without strtod. */
  volatile long double one = 1.0L, tiny = 0x1p-60L;
  if (one + tiny != one) {
    if (decided <= tried * 99 / 100) fprintf(stderr, "fast path decided %d of %d\n", decided, tried);
    CHECK(decided > tried * 99 / 100);
  }
#else
  (void)decided;
  (void)tried;
#endif
}

static void test_json_exact(void) {
  /* Random bit patterns: every finite double reads back bit for bit. */
  for (int i = 0; i < 200000; i++) {
    uint64_t bits = next_rand();
    double d;
    memcpy(&d, &bits, sizeof d);
    if (!isfinite(d)) continue;
    tune_buf_t b = TUNE_BUF_INIT;
    tune_json_write_double(&b, d);
    cJSON *v = tune_json_parse(b.data, b.len, NULL, 0);
    CHECK(v && cJSON_IsNumber(v) && !tune_json_is_int(v));
    CHECK(memcmp(&v->valuedouble, &d, sizeof d) == 0);
    cJSON_Delete(v);
    tune_buf_free(&b);
  }
  const char *text = "{\"a\":NaN,\"b\":Infinity,\"c\":-Infinity,\"d\":1,\"e\":1.0,\"f\":-0.0,"
                     "\"g\":\"\\u00e9\\ud83d\\ude00\\n\",\"h\":[],\"i\":{},\"j\":9007199254740993}";
  char err[128];
  cJSON *v = tune_json_parse(text, strlen(text), err, sizeof err);
  CHECK(v);
  CHECK(isnan(cJSON_GetObjectItem(v, "a")->valuedouble));
  CHECK(isinf(cJSON_GetObjectItem(v, "b")->valuedouble) && cJSON_GetObjectItem(v, "b")->valuedouble > 0);
  CHECK(cJSON_GetObjectItem(v, "c")->valuedouble < 0);
  CHECK(tune_json_is_int(cJSON_GetObjectItem(v, "d")));
  CHECK(!tune_json_is_int(cJSON_GetObjectItem(v, "e")));
  /* An integer beyond 2^53 stays exact (the double alone would round it). */
  CHECK(tune_json_is_int(cJSON_GetObjectItem(v, "j")));
  CHECK(tune_json_int(cJSON_GetObjectItem(v, "j")) == 9007199254740993LL);
  const int64_t starts[] = {INT64_MAX - 3000, INT64_MIN, (1LL << 53) - 1500, -(1LL << 53) - 1500, (1LL << 62) - 1500};
  for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
    for (int64_t k = 0; k <= 3000; k++) {
      cJSON *n = tune_json_new_int(starts[i] + k);
      CHECK(tune_json_int(n) == starts[i] + k);
      cJSON_Delete(n);
    }
  }
  char *out = tune_json_print(v);
  CHECK(!strcmp(out, "{\"a\":NaN,\"b\":Infinity,\"c\":-Infinity,\"d\":1,\"e\":1.0,\"f\":-0.0,"
                     "\"g\":\"\xc3\xa9\xf0\x9f\x98\x80\\n\",\"h\":[],\"i\":{},\"j\":9007199254740993}"));
  free(out);
  cJSON_Delete(v);
  const char *bad[] = {"{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "nul", "[1] x", "\"\\ud800\"", "-"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *x = tune_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
    CHECK(x == NULL && strstr(err, "at byte"));
  }
  /* Depth limit. */
  char deep[1000];
  memset(deep, '[', sizeof deep);
  CHECK(tune_json_parse(deep, sizeof deep, err, sizeof err) == NULL && strstr(err, "too deep"));
}

/* A packed tree (engine/jpack.h) rebuilds to one that encodes the same,
   types, integer flags, key order and strings included; packed trees
   follow each other in one buffer; a cut one rebuilds to nothing. */
static void test_json_pack(void) {
  const char *text = "{\"a\":NaN,\"b\":Infinity,\"c\":-Infinity,\"d\":1,\"e\":1.0,\"f\":-0.0,"
                     "\"g\":\"\\u00e9\\n\\\"q,\\\"\",\"h\":[],\"i\":{},\"j\":[1,2.5,[true,false,null]],"
                     "\"k/l\":{\"m\":{\"n\":\"\"}},\"\":-9007199254740991,\"o\":true}";
  cJSON *v = tune_json_parse(text, strlen(text), NULL, 0);
  CHECK(v);
  cJSON_AddItemToObject(v, "raw", cJSON_CreateRaw("[1,2]"));
  cJSON *w = cJSON_CreateArray();
  cJSON_AddItemToArray(w, tune_json_new_int(7));
  tune_buf_t b = TUNE_BUF_INIT;
  tune_json_pack(&b, v);
  size_t first = b.len;
  tune_json_pack(&b, w);
  const char *p = b.data, *end = b.data + b.len;
  cJSON *v2 = tune_json_unpack(&p, end);
  CHECK(v2 && p == b.data + first);
  cJSON *w2 = tune_json_unpack(&p, end);
  CHECK(w2 && p == end);
  char *s1 = tune_json_print(v), *s2 = v2 ? tune_json_print(v2) : NULL;
  CHECK(s2 && !strcmp(s1, s2));
  CHECK(tune_json_is_int(cJSON_GetObjectItem(v2, "d")) && !tune_json_is_int(cJSON_GetObjectItem(v2, "e")));
  free(s1);
  free(s2);
  s1 = tune_json_print(w2);
  CHECK(s1 && !strcmp(s1, "[7]"));
  free(s1);
  CHECK(tune_json_unpack(&p, end) == NULL);
  for (size_t cut = 0; cut < first; cut++) {
    p = b.data;
    CHECK(tune_json_unpack(&p, b.data + cut) == NULL);
  }
  cJSON_Delete(v2);
  cJSON_Delete(w2);
  tune_buf_free(&b);
  cJSON_Delete(v);
  cJSON_Delete(w);
}

static void test_dirs_made_ahead(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  tune_fsprep_t *s = tune_fsprep_new();
  CHECK(s);
  enum { N = 200 };
  tune_fsprep_job_t *jobs[N];
  char path[64], text[32];
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, "%s/t%d", dir, i);
    int n = snprintf(text, sizeof text, "{\"i\":%d}", i);
    jobs[i] = tune_fsprep_submit(s, path, text, (size_t)n, 0);
    CHECK(jobs[i]);
  }
  /* Waited for from the last: those the thread has not reached are done
     by the waiter, the others waited for; every one made once, in full. */
  for (int i = N - 1; i >= 0; i--) CHECK(tune_fsprep_wait(jobs[i]) == 0);
  for (int i = 0; i < N; i++) {
    CHECK(tune_fsprep_wait(jobs[i]) == 0);
    tune_fsprep_release(jobs[i]);
    snprintf(path, sizeof path, "%s/t%d/params.json", dir, i);
    char *data;
    size_t len;
    int n = snprintf(text, sizeof text, "{\"i\":%d}", i);
    CHECK(tune_fs_read(path, 100, &data, &len) == 0 && len == (size_t)n && !memcmp(data, text, len));
    free(data);
    snprintf(path, sizeof path, "%s/t%d/progress.csv", dir, i);
    CHECK(tune_fs_read(path, 100, &data, &len) == 0 && len == 0);
    free(data);
  }
  /* A directory that is there: -EEXIST, and nothing in it touched. */
  snprintf(path, sizeof path, "%s/t0", dir);
  tune_fsprep_job_t *j = tune_fsprep_submit(s, path, "{}", 2, 0);
  CHECK(tune_fsprep_wait(j) == -EEXIST);
  tune_fsprep_release(j);
  /* A file that cannot be made: what was made is removed again. */
  snprintf(path, sizeof path, "%s/no/such", dir);
  j = tune_fsprep_submit(s, path, "{}", 2, 0);
  CHECK(tune_fsprep_wait(j) == -ENOENT);
  tune_fsprep_release(j);
  /* Stopping with jobs queued: each is done or cancelled, never half. */
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, "%s/u%d", dir, i);
    jobs[i] = tune_fsprep_submit(s, path, "{}", 2, 0);
  }
  tune_fsprep_free(s);
  for (int i = 0; i < N; i++) {
    int rc = tune_fsprep_wait(jobs[i]);
    CHECK(rc == 0 || rc == -ECANCELED);
    snprintf(path, sizeof path, "%s/u%d/progress.csv", dir, i);
    struct stat st;
    CHECK((stat(path, &st) == 0) == (rc == 0));
    tune_fsprep_release(jobs[i]);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

static int open_fds(void) {
  int n = 0;
  char path[64];
  for (int fd = 0; fd < 4096; fd++) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (access(path, F_OK) == 0) n++;
  }
  return n;
}

/// A directory job keeps result.json and progress.csv open for the
/// loggers, within TUNE_FSPREP_MAX_KEPT files; what is not taken is closed
/// with the job, and the loggers write through what they are given.
static void test_dirs_made_ahead_keep_logs(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  int before = open_fds();
  tune_fsprep_t *s = tune_fsprep_new();
  CHECK(s);
  int max = tune_fsprep_max_kept();
  CHECK(max <= TUNE_FSPREP_MAX_KEPT);
  if (max < 2) max = 0;
  enum { N = TUNE_FSPREP_MAX_KEPT / 2 + 8 };
  tune_fsprep_job_t *jobs[N];
  char path[96];
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, "%s/t%d", dir, i);
    jobs[i] = tune_fsprep_submit(s, path, "{}", 2, 0);
    CHECK(jobs[i]);
  }
  for (int i = 0; i < N; i++) CHECK(tune_fsprep_wait(jobs[i]) == 0);
  CHECK(open_fds() == before + max);
  int fds[2], kept = 0;
  for (int i = 0; i < N; i++) {
    if (tune_fsprep_take_fds(jobs[i], fds) < 0) {
      CHECK(fds[0] == -1 && fds[1] == -1);
      continue;
    }
    kept++;
    CHECK((fcntl(fds[0], F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND));
    CHECK((fcntl(fds[1], F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_RDWR | O_APPEND));
    int again[2];
    CHECK(tune_fsprep_take_fds(jobs[i], again) < 0); /* once */
    if (i > 0) {
      close(fds[0]);
      close(fds[1]);
      continue;
    }
    /* The loggers take them: the rows go to the job's files, not to files
       opened at the logdir they are told (another directory here). */
    tune_loggers_t l;
    tune_loggers_init(&l, 1, 1);
    snprintf(path, sizeof path, "%s/t1", dir);
    tune_loggers_open(&l, "a", path, 1, fds);
    CHECK(fds[0] == -1 && fds[1] == -1);
    cJSON *config = cJSON_Parse("{\"x\":1}");
    cJSON *batch = cJSON_Parse("[{\"loss\":2,\"training_iteration\":1}]");
    tune_log_target_t tg = {"a", "a", path, "0", config, 1};
    tune_loggers_write(&l, &tg, batch, 1, 0);
    tune_loggers_close(&l, "a");
    tune_loggers_free(&l);
    cJSON_Delete(batch);
    cJSON_Delete(config);
    char *data;
    size_t len;
    snprintf(path, sizeof path, "%s/t0/result.json", dir);
    CHECK(tune_fs_read(path, 4096, &data, &len) == 0 && len > 0 && strstr(data, "\"loss\":2"));
    free(data);
    snprintf(path, sizeof path, "%s/t0/progress.csv", dir);
    CHECK(tune_fs_read(path, 4096, &data, &len) == 0 && len > 5 && !strncmp(data, "loss,", 5));
    free(data);
    snprintf(path, sizeof path, "%s/t1/result.json", dir);
    CHECK(tune_fs_read(path, 4096, &data, &len) == 0 && len == 0);
    free(data);
  }
  CHECK(kept == max / 2);
  CHECK(open_fds() == before);
  /* Below the limit again: a new job keeps its files, and one let go
     without taking them closes them (once the thread let go of it too:
     the service is freed first). */
  snprintf(path, sizeof path, "%s/u", dir);
  tune_fsprep_job_t *j = tune_fsprep_submit(s, path, "{}", 2, 0);
  CHECK(tune_fsprep_wait(j) == 0);
  int held = max ? 2 : 0;
  CHECK(open_fds() == before + held);
  for (int i = 0; i < N; i++) tune_fsprep_release(jobs[i]);
  tune_fsprep_free(s);
  CHECK(open_fds() == before + held);
  tune_fsprep_release(j);
  CHECK(open_fds() == before);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

/// Waits (up to 5 s) until the service's thread waits with nothing queued.
static int wait_idle(tune_fsprep_t *s) {
  for (int i = 0; i < 50000; i++) {
    if (tune_fsprep_state(s, NULL)) return 1;
    usleep(100);
  }
  return 0;
}

/// Lazy directory jobs wake a waiting thread once per TUNE_FSPREP_BATCH;
/// one waited for before that is done by the waiter; a job that is not
/// lazy wakes it at once, for the lazy ones queued before it too.
static unsigned long wakeups(tune_fsprep_t *s) {
  unsigned long n;
  (void)tune_fsprep_state(s, &n);
  return n;
}

static void test_dirs_made_ahead_lazy(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  tune_fsprep_t *s = tune_fsprep_new();
  CHECK(s);
  char path[96];
  struct stat st;
  snprintf(path, sizeof path, "%s/first", dir);
  tune_fsprep_job_t *j = tune_fsprep_submit(s, path, "{}", 2, 0);
  CHECK(tune_fsprep_wait(j) == 0);
  tune_fsprep_release(j);
  CHECK(wait_idle(s));
  unsigned long w0 = wakeups(s);
  enum { B = TUNE_FSPREP_BATCH };
  tune_fsprep_job_t *jobs[B];
  for (int i = 0; i < B; i++) {
    snprintf(path, sizeof path, "%s/lazy%d", dir, i);
    jobs[i] = tune_fsprep_submit(s, path, "{}", 2, 1);
    CHECK(jobs[i]);
    if (i < B - 1) {
      /* Not woken: nothing made yet. */
      CHECK(wakeups(s) == w0);
      CHECK(stat(path, &st) < 0);
    }
  }
  CHECK(wakeups(s) == w0 + 1);
  for (int i = 0; i < B; i++) {
    CHECK(tune_fsprep_wait(jobs[i]) == 0);
    tune_fsprep_release(jobs[i]);
  }
  /* One lazy job waited for while still queued: made by the waiter. */
  CHECK(wait_idle(s));
  w0 = wakeups(s);
  snprintf(path, sizeof path, "%s/waited", dir);
  j = tune_fsprep_submit(s, path, "{}", 2, 1);
  CHECK(tune_fsprep_wait(j) == 0);
  CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(wakeups(s) == w0);
  tune_fsprep_release(j);
  /* Two lazy jobs, then one that is not: one wake-up makes all three. */
  CHECK(wait_idle(s));
  w0 = wakeups(s);
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/mixed%d", dir, i);
    jobs[i] = tune_fsprep_submit(s, path, "{}", 2, i < 2);
  }
  CHECK(wakeups(s) == w0 + 1);
  for (int i = 0; i < 3; i++) {
    CHECK(tune_fsprep_wait(jobs[i]) == 0);
    tune_fsprep_release(jobs[i]);
  }
  /* Freed with a lazy job queued: it is cancelled, nothing made. */
  CHECK(wait_idle(s));
  snprintf(path, sizeof path, "%s/dropped", dir);
  j = tune_fsprep_submit(s, path, "{}", 2, 1);
  tune_fsprep_free(s);
  CHECK(tune_fsprep_wait(j) == -ECANCELED);
  CHECK(stat(path, &st) < 0);
  tune_fsprep_release(j);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

static void test_atomic_files(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *f = tune_fs_join(dir, "state.json");
  CHECK(tune_fs_write_atomic(f, "one", 3) == 0);
  CHECK(tune_fs_write_atomic(f, "two", 3) == 0);
  char *data;
  size_t len;
  CHECK(tune_fs_read(f, 100, &data, &len) == 0 && len == 3 && !memcmp(data, "two", 3));
  free(data);
  CHECK(tune_fs_append(f, "+", 1, 1) == 0);
  CHECK(tune_fs_read(f, 2, &data, &len) == -EFBIG);
  /* Committing a directory over an existing one swaps it in whole. */
  char *a = tune_fs_join(dir, "ck.tmp"), *b = tune_fs_join(dir, "ck");
  char *af = tune_fs_join(a, "x"), *bf = tune_fs_join(b, "old");
  CHECK(tune_fs_mkdir_p(a) == 0 && tune_fs_mkdir_p(b) == 0);
  CHECK(tune_fs_write_atomic(af, "new", 3) == 0 && tune_fs_write_atomic(bf, "old", 3) == 0);
  CHECK(tune_fs_commit_dir(a, b) == 0);
  char *bx = tune_fs_join(b, "x");
  CHECK(tune_fs_exists(bx) && !tune_fs_exists(bf) && !tune_fs_exists(a));
  /* A piece copied from another file (a snapshot's unchanged entries)
     lands between buffered pieces; a source of another size is refused
     and leaves the file as it was. */
  int rc;
  tune_atomic_file_t *w = tune_fs_atomic_open(f, &rc);
  CHECK(w && rc == 0);
  CHECK(tune_fs_atomic_write(w, "[", 1) == 0 && tune_fs_atomic_size(w) == 1);
  CHECK(tune_fs_atomic_copy(w, f, 1, 2, 4) == 0 && tune_fs_atomic_size(w) == 3); /* "two+" -> "wo" */
  CHECK(tune_fs_atomic_copy(w, f, 0, 2, 5) == -ESTALE && tune_fs_atomic_size(w) == 3);
  CHECK(tune_fs_atomic_copy(w, f, 3, 2, 4) == -ESTALE);
  CHECK(tune_fs_atomic_write(w, "]", 1) == 0 && tune_fs_atomic_size(w) == 4);
  CHECK(tune_fs_atomic_commit(w, 1) == 0);
  CHECK(tune_fs_read(f, 100, &data, &len) == 0 && len == 4 && !memcmp(data, "[wo]", 4));
  free(data);
  CHECK(tune_fs_remove_tree(dir) == 0 && !tune_fs_exists(dir));
  free(f);
  free(a);
  free(b);
  free(af);
  free(bf);
  free(bx);
}

/// The size of `path`, or -1.
static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The journal (tune_appendbuf_t) as the loggers' `ahead`: its entries wait
   in memory and reach the disk no later than any row written after them. */
static void test_journal_ahead_of_rows(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *jpath = tune_fs_join(dir, "journal.jsonl"), *tdir = tune_fs_join(dir, "t");
  char *rpath = tune_fs_join(tdir, "result.json");
  CHECK(tune_fs_mkdir_p(tdir) == 0);
  tune_appendbuf_t j = {open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666), TUNE_BUF_INIT, 0, NULL};
  CHECK(j.fd >= 0);
  tune_loggers_t l;
  tune_loggers_init(&l, 1, 1);
  l.ahead = &j;
  cJSON *config = cJSON_Parse("{\"x\":1}");
  tune_log_target_t t = {"t1", "t1", tdir, "tag", config, 1};
  const char *e1 = "{\"event\":\"finishing\"}\n", *e2 = "{\"event\":\"status\"}\n";
  tune_buf_puts(&j.pending, e1);
  cJSON *batch = cJSON_Parse("[{\"loss\":1.5,\"training_iteration\":1}]");
  tune_loggers_write(&l, &t, batch, 1, 1);
  /* Grouped: neither the entry nor the row is written yet. */
  CHECK(file_size(jpath) == 0 && file_size(rpath) <= 0);
  /* Closing the trial's files writes its rows, the journal first. */
  tune_loggers_close(&l, "t1");
  CHECK(file_size(jpath) == (long)strlen(e1) && j.pending.len == 0);
  CHECK(file_size(rpath) > 0);
  /* With no rows pending, a flush (the driver about to wait) writes it. */
  tune_buf_puts(&j.pending, e2);
  tune_loggers_flush(&l);
  CHECK(file_size(jpath) == (long)(strlen(e1) + strlen(e2)) && j.pending.len == 0);
  /* A closed journal: what was pending is dropped, the error kept. */
  close(j.fd);
  j.fd = -1;
  tune_buf_puts(&j.pending, "x\n");
  CHECK(tune_appendbuf_flush(&j) == -EBADF && j.error == -EBADF && j.pending.len == 0);
  CHECK(tune_appendbuf_flush(&j) == 0);
  cJSON_Delete(batch);
  cJSON_Delete(config);
  tune_loggers_free(&l);
  tune_buf_free(&j.pending);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(jpath);
  free(tdir);
  free(rpath);
}

/* A task that looks at the files when the writer's thread reaches it:
   after everything queued before it. */
typedef struct {
  tune_fsprep_task_t task;
  const char *paths[3];
  long sizes[3];
  int ran;
} probe_t;

static void run_probe(tune_fsprep_task_t *task) {
  probe_t *p = (probe_t *)task;
  for (int i = 0; i < 3; i++) p->sizes[i] = p->paths[i] ? file_size(p->paths[i]) : -1;
  p->ran = 1;
}

/* With a writer (engine/fsprep.h), the journal's flushes, the rows and the
   files' closes are done by its thread in the order they were made: a task
   queued after a trial's close finds the journal entry made before its
   rows, and every row, on disk. tune_loggers_sync returns with all of it
   written. */
static void test_rows_written_behind(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *jpath = tune_fs_join(dir, "journal.jsonl"), *tdir = tune_fs_join(dir, "t");
  char *rpath = tune_fs_join(tdir, "result.json"), *cpath = tune_fs_join(tdir, "progress.csv");
  CHECK(tune_fs_mkdir_p(tdir) == 0);
  tune_fsprep_t *svc = tune_fsprep_new();
  CHECK(svc != NULL);
  tune_appendbuf_t j = {open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666), TUNE_BUF_INIT, 0,
                        tune_fsprep_retain(svc)};
  CHECK(j.fd >= 0);
  tune_loggers_t l;
  tune_loggers_init(&l, 1, 1);
  l.ahead = &j;
  l.writer = svc;
  cJSON *config = cJSON_Parse("{\"x\":1}");
  tune_log_target_t t = {"t1", "t1", tdir, "tag", config, 1};
  const char *e1 = "{\"event\":\"finishing\"}\n";
  cJSON *b1 = cJSON_Parse("[{\"loss\":1.5,\"training_iteration\":1}]");
  cJSON *b2 = cJSON_Parse("[{\"loss\":1.25,\"training_iteration\":2}]");
  tune_loggers_write(&l, &t, b1, 1, 0);
  tune_buf_puts(&j.pending, e1);
  tune_loggers_write(&l, &t, b2, 1, 1);
  tune_loggers_close(&l, "t1");
  /* Taken by the tasks: nothing is left pending in the driver. */
  CHECK(j.pending.len == 0 && l.pending == 0);
  probe_t p = {{run_probe}, {jpath, rpath, cpath}, {0, 0, 0}, 0};
  tune_fsprep_task(svc, &p.task);
  tune_fsprep_drain(svc);
  CHECK(p.ran);
  CHECK(p.sizes[0] == (long)strlen(e1));
  char *text = NULL;
  size_t len = 0;
  CHECK(tune_fs_read(rpath, 1 << 20, &text, &len) == 0);
  CHECK(p.sizes[1] == (long)len && text && strstr(text, "\"training_iteration\":2") && strstr(text, "\"done\":true"));
  free(text);
  CHECK(p.sizes[2] > 0 && p.sizes[2] == file_size(cpath));
  /* Without a writer the same tasks run at once. */
  p.ran = 0;
  tune_fsprep_task(NULL, &p.task);
  CHECK(p.ran);
  /* A trial forgotten (its state gone, its rows still queued) that logs
     again reads its progress.csv's header back from the file once they are
     written: one header, three rows. */
  tune_log_target_t t3 = {"t3", "t3", tdir, "tag", config, 1};
  char *c3 = tune_fs_join(tdir, "progress.csv");
  CHECK(unlink(c3) == 0 && unlink(rpath) == 0);
  tune_loggers_write(&l, &t3, b1, 1, 0);
  tune_loggers_forget(&l, "t3");
  tune_loggers_write(&l, &t3, b2, 1, 0);
  tune_loggers_write(&l, &t3, b2, 1, 0);
  tune_loggers_close(&l, "t3");
  tune_loggers_sync(&l);
  text = NULL;
  CHECK(tune_fs_read(c3, 1 << 20, &text, &len) == 0);
  int nlines = 0, headers = 0;
  for (char *q = text; q && *q; q++) nlines += *q == '\n';
  for (char *q = text; q && (q = strstr(q, "loss,")); q++) headers++;
  CHECK(nlines == 4 && headers == 1);
  free(text);
  free(c3);
  cJSON_Delete(b1);
  cJSON_Delete(b2);
  cJSON_Delete(config);
  tune_loggers_free(&l);
  tune_wb_append_flush(&j, 0);
  tune_fsprep_drain(j.writer);
  close(j.fd);
  tune_fsprep_free(j.writer);
  tune_fsprep_free(svc);
  tune_buf_free(&j.pending);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(jpath);
  free(tdir);
  free(rpath);
  free(cpath);
}

/* Files bigger than `limit` bytes cannot be written until fsize_restore
   (a write past it fails with EFBIG, as a full disk fails with ENOSPC). */
typedef struct {
  struct rlimit old;
  void (*prev)(int);
} fsize_t;

static void fsize_limit(fsize_t *f, rlim_t limit) {
  CHECK(getrlimit(RLIMIT_FSIZE, &f->old) == 0);
  f->prev = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = f->old;
  small.rlim_cur = limit;
  CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
}

static void fsize_restore(const fsize_t *f) {
  CHECK(setrlimit(RLIMIT_FSIZE, &f->old) == 0);
  signal(SIGXFSZ, f->prev);
}

/* The failed row writes the loggers report (tune_loggers_take_faults). */
typedef struct {
  int n;
  char id[64], msg[1024];
} faults_seen_t;

static void see_fault(void *ud, const char *trial_id, const char *msg) {
  faults_seen_t *f = ud;
  f->n++;
  snprintf(f->id, sizeof f->id, "%s", trial_id);
  snprintf(f->msg, sizeof f->msg, "%s", msg);
}

/* A write that fails (here: beyond RLIMIT_FSIZE, as a full disk fails)
   leaves no partial line, is reported once for the driver (naming the
   file, the error and the first result lost), and the trial's later rows
   are dropped until its files close, so the file never has a hole; then
   (a trial retried) it logs again, and a progress.csv header the failed
   write carried goes with those rows, so the file's first line stays its
   header; with a writer and without. */
static void lost_header_case(tune_fsprep_t *svc) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *cpath = tune_fs_join(dir, "progress.csv"), *rpath = tune_fs_join(dir, "result.json");
  tune_loggers_t l;
  tune_loggers_init(&l, 1, 1);
  l.writer = svc;
  cJSON *config = cJSON_Parse("{\"x\":1}");
  tune_log_target_t t = {"t2", "t2", dir, "tag", config, 1};
  cJSON *b1 = cJSON_Parse("[{\"loss\":1.5,\"training_iteration\":1}]");
  cJSON *b2 = cJSON_Parse("[{\"loss\":1.75,\"training_iteration\":2}]");
  cJSON *b3 = cJSON_Parse("[{\"loss\":1.25,\"training_iteration\":1}]");
  tune_loggers_write(&l, &t, b1, 1, 0);
  unsigned attempt = tune_loggers_attempt(&l, "t2");
  CHECK(attempt > 0);
  char why[512];
  CHECK(!tune_loggers_failed(&l, "t2", attempt, why, sizeof why));
  fsize_t saved;
  fsize_limit(&saved, 10);
  tune_loggers_sync(&l);
  fsize_restore(&saved);
  CHECK(file_size(cpath) == 0 && file_size(rpath) == 0);
  CHECK(tune_loggers_failed(&l, "t2", attempt, why, sizeof why) && strstr(why, "progress.csv: File too large"));
  /* The rest of that attempt is dropped, though the disk has room again. */
  tune_loggers_write(&l, &t, b2, 1, 0);
  tune_loggers_sync(&l);
  CHECK(file_size(cpath) == 0 && file_size(rpath) == 0);
  faults_seen_t seen = {0, "", ""};
  tune_loggers_take_faults(&l, see_fault, &seen);
  CHECK(seen.n == 1 && !strcmp(seen.id, "t2"));
  CHECK(strstr(seen.msg, "progress.csv: File too large") && strstr(seen.msg, "from training_iteration 1 on"));
  tune_loggers_take_faults(&l, see_fault, &seen);
  CHECK(seen.n == 1);
  /* Its files close (the trial fails) and open again (retried). */
  tune_loggers_close(&l, "t2");
  CHECK(tune_loggers_attempt(&l, "t2") != attempt);
  CHECK(!tune_loggers_failed(&l, "t2", tune_loggers_attempt(&l, "t2"), why, sizeof why));
  tune_loggers_write(&l, &t, b3, 1, 1);
  tune_loggers_close(&l, "t2");
  tune_loggers_sync(&l);
  tune_loggers_take_faults(&l, see_fault, &seen);
  CHECK(seen.n == 1);
  char *text = NULL;
  size_t len = 0;
  CHECK(tune_fs_read(cpath, 1 << 20, &text, &len) == 0);
  CHECK(text && !strncmp(text, "loss,training_iteration,config/x\n", 33));
  const char *nl = text ? strchr(text, '\n') : NULL;
  CHECK(nl && !strncmp(nl + 1, "1.25,", 5) && strchr(nl + 1, '\n') == text + len - 1);
  free(text);
  CHECK(tune_fs_read(rpath, 1 << 20, &text, &len) == 0);
  CHECK(text && strstr(text, "\"loss\":1.25") && !strstr(text, "\"loss\":1.5,") && !strstr(text, "1.75") &&
        text[len - 1] == '\n');
  free(text);
  cJSON_Delete(b1);
  cJSON_Delete(b2);
  cJSON_Delete(b3);
  cJSON_Delete(config);
  tune_loggers_free(&l);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(cpath);
  free(rpath);
}

/* An append that fails part-way (beyond RLIMIT_FSIZE, as a disk that fills
   up) is undone: the journal's next entry does not follow half a line,
   which resume refuses. */
static void test_append_undone(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *path = tune_fs_join(dir, "journal.jsonl");
  tune_appendbuf_t a = {open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666), TUNE_BUF_INIT, 0, NULL};
  CHECK(a.fd >= 0);
  CHECK(tune_appendbuf_write(&a, "{\"seq\":1}\n", 10) == 0);
  fsize_t saved;
  fsize_limit(&saved, 16);
  const char *second = "{\"seq\":2,\"pad\":\"xxxxxxxx\"}\n";
  tune_buf_append(&a.pending, second, strlen(second));
  int rc = tune_appendbuf_flush(&a);
  fsize_restore(&saved);
  CHECK(rc == -EFBIG);
  CHECK(file_size(path) == 10);
  CHECK(tune_appendbuf_write(&a, "{\"seq\":3}\n", 10) == 0);
  char *text = NULL;
  size_t len = 0;
  CHECK(tune_fs_read(path, 1 << 20, &text, &len) == 0);
  CHECK(text && len == 20 && !strcmp(text, "{\"seq\":1}\n{\"seq\":3}\n"));
  free(text);
  close(a.fd);
  tune_buf_free(&a.pending);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(path);
}

/* The same, when the trial's files are closed after the failed write and
   opened again (a trial that failed and is retried): the lost header goes
   with the file's first rows still. */
static void lost_header_reopened_case(tune_fsprep_t *svc) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *cpath = tune_fs_join(dir, "progress.csv");
  tune_loggers_t l;
  tune_loggers_init(&l, 1, 1);
  l.writer = svc;
  cJSON *config = cJSON_Parse("{\"x\":1}");
  tune_log_target_t t = {"t3", "t3", dir, "tag", config, 1};
  cJSON *b1 = cJSON_Parse("[{\"loss\":1.5,\"training_iteration\":1}]");
  cJSON *b2 = cJSON_Parse("[{\"loss\":1.25,\"training_iteration\":1}]");
  tune_loggers_write(&l, &t, b1, 1, 0);
  fsize_t saved;
  fsize_limit(&saved, 10);
  tune_loggers_close(&l, "t3");
  tune_loggers_sync(&l);
  fsize_restore(&saved);
  CHECK(file_size(cpath) == 0);
  tune_loggers_write(&l, &t, b2, 1, 1);
  tune_loggers_close(&l, "t3");
  tune_loggers_sync(&l);
  char *text = NULL;
  size_t len = 0;
  CHECK(tune_fs_read(cpath, 1 << 20, &text, &len) == 0);
  CHECK(text && !strncmp(text, "loss,training_iteration,config/x\n1.25,", 38));
  free(text);
  cJSON_Delete(b1);
  cJSON_Delete(b2);
  cJSON_Delete(config);
  tune_loggers_free(&l);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(cpath);
}

/* A batch result.json cannot take (a disk that fills up between the two
   files) is cut from progress.csv again: the two logs keep the same rows. */
static void test_logs_keep_same_rows(void) {
  char dir[] = "/tmp/tune-test-XXXXXX";
  CHECK(mkdtemp(dir));
  char *cpath = tune_fs_join(dir, "progress.csv"), *rpath = tune_fs_join(dir, "result.json");
  tune_loggers_t l;
  tune_loggers_init(&l, 1, 1);
  cJSON *config = cJSON_Parse("{\"x\":1}");
  tune_log_target_t t = {"t4", "t4", dir, "tag", config, 1};
  cJSON *b1 = cJSON_Parse("[{\"loss\":1,\"training_iteration\":1}]");
  /* A key the CSV does not have: its row is short, the JSON line long. */
  cJSON *b2 = cJSON_Parse("[{\"loss\":2,\"training_iteration\":2,\"big\":\""
                          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]");
  cJSON *b3 = cJSON_Parse("[{\"loss\":3,\"training_iteration\":3}]");
  tune_loggers_write(&l, &t, b1, 1, 0);
  tune_loggers_sync(&l);
  long csv1 = file_size(cpath), json1 = file_size(rpath);
  CHECK(csv1 > 0 && json1 > 0);
  tune_loggers_write(&l, &t, b2, 1, 0);
  fsize_t saved;
  fsize_limit(&saved, (rlim_t)(json1 + 30));
  tune_loggers_sync(&l);
  fsize_restore(&saved);
  CHECK(file_size(cpath) == csv1 && file_size(rpath) == json1);
  /* The next rows of that attempt would leave a hole: dropped. */
  tune_loggers_write(&l, &t, b3, 1, 0);
  tune_loggers_sync(&l);
  CHECK(file_size(cpath) == csv1 && file_size(rpath) == json1);
  faults_seen_t seen = {0, "", ""};
  tune_loggers_take_faults(&l, see_fault, &seen);
  CHECK(seen.n == 1 && !strcmp(seen.id, "t4") && strstr(seen.msg, "result.json: File too large") &&
        strstr(seen.msg, "from training_iteration 2 on"));
  /* Retried from its checkpoint (iteration 1): logged again. */
  tune_loggers_close(&l, "t4");
  tune_loggers_write(&l, &t, b3, 1, 1);
  tune_loggers_close(&l, "t4");
  tune_loggers_sync(&l);
  char *text = NULL;
  size_t len = 0;
  CHECK(tune_fs_read(cpath, 1 << 20, &text, &len) == 0);
  CHECK(text && strstr(text, "\n1.0,1.0,1.0\n3.0,3.0,1.0\n"));
  free(text);
  CHECK(tune_fs_read(rpath, 1 << 20, &text, &len) == 0);
  CHECK(text && strstr(text, "\"loss\":1.0,") && strstr(text, "\"loss\":3.0,") && !strstr(text, "\"loss\":2.0,"));
  CHECK(text && !strstr(strstr(text, "\"loss\":3.0,") + 1, "\"loss\":3.0,")); /* once */
  free(text);
  cJSON_Delete(b1);
  cJSON_Delete(b2);
  cJSON_Delete(b3);
  cJSON_Delete(config);
  tune_loggers_free(&l);
  CHECK(tune_fs_remove_tree(dir) == 0);
  free(cpath);
  free(rpath);
}

static void test_lost_header_sent_again(void) {
  lost_header_reopened_case(NULL);
  lost_header_case(NULL);
  tune_fsprep_t *svc = tune_fsprep_new();
  CHECK(svc != NULL);
  lost_header_case(svc);
  tune_fsprep_free(svc);
}

typedef struct {
  int exited;
  int64_t status;
  tune_buf_t out;
} proc_seen_t;

static void on_data(void *ud, int stream, const char *data, size_t len) {
  proc_seen_t *s = ud;
  if (stream == TUNE_STREAM_PROTOCOL && len) tune_buf_append(&s->out, data, len);
}
static void on_exit_cb(void *ud, const tune_exit_t *e) {
  proc_seen_t *s = ud;
  s->exited = 1;
  s->status = e->status;
}

static void test_local_backend(void) {
  tune_res_t r;
  tune_res_init(&r);
  tune_res_set(&r, "CPU", 1);
  tune_local_opts_t o = {&r, NULL, 0, 0};
  tune_backend_t *b = tune_backend_local_new(&o);
  tune_res_free(&r);
  proc_seen_t s = {0, 0, TUNE_BUF_INIT};
  char *argv[] = {"/bin/sh", "-c", "read x; echo \"got $x\"; exit 7", NULL};
  char *env[] = {"PATH=/usr/bin:/bin", NULL};
  tune_proc_cb_t cb = {on_data, on_exit_cb, NULL};
  tune_proc_t *p;
  tune_spawn_t so = {"/bin/sh", argv, env, "/", 0, NULL, NULL, 0};
  CHECK(b->ops->spawn(b, &so, &cb, &s, &p) == 0);
  CHECK(b->ops->send(p, "hi\n", 3) == 0);
  while (!s.exited) b->ops->wait(b, 5);
  CHECK(s.status == 7);
  CHECK(s.out.len && !strcmp(s.out.data, "got hi\n"));
  /* A spawn that fails calls nothing back and leaks no handle. */
  char *bad[] = {"/nonexistent/tunelua", NULL};
  tune_spawn_t so2 = {"/nonexistent/tunelua", bad, env, "/", 0, NULL, NULL, 0};
  CHECK(b->ops->spawn(b, &so2, &cb, &s, &p) < 0);
  tune_buf_free(&s.out);
  CHECK(b->ops->destroy(b) == 0); /* uv_loop_close succeeded: nothing leaked */
}

static void test_json_strings(void) {
  /* Plain strings (one copy) and strings with escapes, controls and
     multi-byte UTF-8 (the byte-by-byte path) read back as written; a
     plain string is written as it is, between quotes. */
  static const char *const pieces[] = {"abc", "/tmp/x_1-2=3,4.5", "\"", "\\", "\n", "\t", "\x01",
                                       "\x1f", "\xc3\xa9", "\xf0\x9f\x98\x80", " ", "~\x7f"};
  const size_t np = sizeof pieces / sizeof pieces[0];
  for (int i = 0; i < 20000; i++) {
    char s[256];
    size_t len = 0;
    int plain = 1;
    for (int k = (int)(next_rand() % 12); k > 0; k--) {
      size_t j = (size_t)(next_rand() % np);
      if (j >= 2 && j != 10 && j != 11) plain = 0;
      size_t pl = strlen(pieces[j]);
      memcpy(s + len, pieces[j], pl);
      len += pl;
    }
    s[len] = '\0';
    tune_buf_t b = TUNE_BUF_INIT;
    tune_buf_puts(&b, "x"); /* not at the start of the buffer */
    tune_json_write_string(&b, s, len);
    if (plain) CHECK(b.len == len + 3 && b.data[1] == '"' && !memcmp(b.data + 2, s, len) && b.data[len + 2] == '"');
    cJSON *v = tune_json_parse(b.data + 1, b.len - 1, NULL, 0);
    CHECK(v && cJSON_IsString(v) && strlen(v->valuestring) == len && !memcmp(v->valuestring, s, len));
    cJSON_Delete(v);
    tune_buf_free(&b);
  }
  /* One character that needs escaping at every offset of a plain string
     (the plain prefix is found eight bytes at a time). */
  static const char *const special[] = {"\"", "\\", "\n", "\x01", "\x1f", "\xc3\xa9"};
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
    for (size_t at = 0; at < 24; at++) {
      char s[64];
      memset(s, 'a', sizeof s);
      size_t sl = strlen(special[k]);
      memcpy(s + at, special[k], sl);
      size_t len = at + sl + 9;
      tune_buf_t b = TUNE_BUF_INIT;
      tune_json_write_string(&b, s, len);
      CHECK(b.len == len + 2 + (k < 3 ? 1 : k < 5 ? 5 : 0));
      cJSON *v = tune_json_parse(b.data, b.len, NULL, 0);
      CHECK(v && cJSON_IsString(v) && strlen(v->valuestring) == len && !memcmp(v->valuestring, s, len));
      cJSON_Delete(v);
      tune_buf_free(&b);
    }
  }
}

/* cJSON's blocks through hooks that tag each one (the tunelua binary
   gives cJSON a pool of its own, bindings/lstate.c): a block the engine
   hands to cJSON from malloc, or frees with free() after cJSON made it,
   fails here instead of corrupting that pool. */
#define TAG_HDR 16
#define TAG_MAGIC 0x6a736f6e706f6f6cull
static long tagged_live;

static void *tagged_malloc(size_t n) {
  unsigned char *b = malloc(n + TAG_HDR);
  if (!b) return NULL;
  unsigned long long m = TAG_MAGIC;
  memcpy(b, &m, sizeof m);
  tagged_live++;
  return b + TAG_HDR;
}

static void tagged_free(void *p) {
  if (!p) return;
  unsigned char *b = (unsigned char *)p - TAG_HDR;
  unsigned long long m;
  memcpy(&m, b, sizeof m);
  if (m != TAG_MAGIC) {
    fprintf(stderr, "FAIL %s: cJSON freed a block it did not allocate\n", current ? current : "?");
    abort();
  }
  memset(b, 0, sizeof m);
  tagged_live--;
  free(b);
}

static void test_json_own_allocator(void) {
  long before = tagged_live;
  char longkey[600];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  char text[1024];
  snprintf(text, sizeof text, "{\"a\":1,\"%s\":\"v\",\"n\":{\"x\":[1,2.5,\"s\",null,true]},\"e\":\"\\u00e9\"}",
           longkey);
  for (int i = 0; i < 100; i++) {
    cJSON *j = tune_json_parse(text, strlen(text), NULL, 0);
    CHECK(j && cJSON_GetObjectItemCaseSensitive(j, longkey));
    cJSON *d = cJSON_Duplicate(j, 1);
    cJSON_AddItemToObject(d, "added", cJSON_CreateString("value"));
    cJSON_Delete(j);
    cJSON_Delete(d);
    /* A parse that fails half-way frees what it made. */
    CHECK(!tune_json_parse("{\"a\":1,\"b\":", 12, NULL, 0));
    CHECK(!tune_json_parse("{\"a\" 1}", 8, NULL, 0));
  }
  CHECK(tagged_live == before);
}

static int woken[3];
static void wake_count(void *ud) { woken[(int *)ud - woken]++; }
static void *sigint_action(void) {
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  return (void *)sa.sa_handler;
}

/// tune.run's signal handlers nest: a run started from another's callback
/// gives the outer one its handlers and wake back, and a level freed out
/// of order (a run in a coroutine never resumed) is taken out alone.
static void test_signals_nest(void) {
  void *orig = sigint_action();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  tune_signals_install(1, wake_count, &woken[0]); /* outer */
  void *ours = sigint_action();
  CHECK(ours != orig);
  tune_signals_install(1, wake_count, &woken[1]); /* inner */
  tune_signals_uninstall(&woken[1]);
  CHECK(sigint_action() == ours); /* the outer's handler, not the original */
  raise(SIGUSR1);
  CHECK(woken[0] == 1 && woken[1] == 0 && tune_signals_pending() == SIGUSR1);
  /* Freed out of order: the outer's level goes first, the inner (SIGINT
     left alone) restores what the outer had replaced. */
  tune_signals_install(0, wake_count, &woken[2]);
  tune_signals_uninstall(&woken[0]);
  CHECK(sigint_action() == ours);
  raise(SIGTERM);
  CHECK(woken[2] == 1 && woken[0] == 1);
  tune_signals_uninstall(&woken[2]);
  CHECK(sigint_action() == orig);
  tune_signals_uninstall(&woken[2]); /* not installed: nothing */
  CHECK(sigint_action() == orig);
}

int main(void) {
  cJSON_Hooks hooks = {tagged_malloc, tagged_free};
  cJSON_InitHooks(&hooks);
  struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"resources_arithmetic", test_resources_arithmetic},
      {"pgf_parse", test_pgf_parse},
      {"cluster_gpus", test_cluster_gpus},
      {"cluster_strategies", test_cluster_strategies},
      {"pg_manager_staging", test_pg_manager_staging},
      {"pg_manager_async", test_pg_manager_async},
      {"line_framing", test_line_framing},
      {"json_exact", test_json_exact},
      {"json_pack", test_json_pack},
      {"number_format", test_number_format},
      {"debug_value", test_debug_value},
      {"number_fast_paths", test_number_fast_paths},
      {"json_strings", test_json_strings},
      {"json_own_allocator", test_json_own_allocator},
      {"atomic_files", test_atomic_files},
      {"dirs_made_ahead", test_dirs_made_ahead},
      {"dirs_made_ahead_keep_logs", test_dirs_made_ahead_keep_logs},
      {"dirs_made_ahead_lazy", test_dirs_made_ahead_lazy},
      {"journal_ahead_of_rows", test_journal_ahead_of_rows},
      {"rows_written_behind", test_rows_written_behind},
      {"lost_header_sent_again", test_lost_header_sent_again},
      {"append_undone", test_append_undone},
      {"logs_keep_same_rows", test_logs_keep_same_rows},
      {"local_backend", test_local_backend},
      {"signals_nest", test_signals_nest},
  };
  int n = (int)(sizeof tests / sizeof tests[0]);
  for (int i = 0; i < n; i++) {
    current = tests[i].name;
    int before = failures;
    tests[i].fn();
    printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
  }
  printf("%d passed, %d failed\n", n - failures, failures);
  return failures ? 1 : 0;
}
