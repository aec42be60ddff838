/* test_capacity.c - the --capacity objective parser and the rate search. */
#include <errno.h>
#include <math.h>

#include "kt.h"

#include "capacity.c"

static char err[256];

static kb_objective_t ok(const char *s) {
    kb_objective_t o;
    int rc = kb_objective_parse(s, &o, err, sizeof err);
    if (rc) fprintf(stderr, "  '%s': %s\n", s, err);
    KT_EQ(rc, 0);
    return o;
}

static void bad(const char *s, const char *why) {
    kb_objective_t o;
    err[0] = 0;
    KT_EQ(kb_objective_parse(s, &o, err, sizeof err), -EINVAL);
    if (!strstr(err, why)) {
        fprintf(stderr, "  '%s': got '%s', want '%s'\n", s ? s : "(null)", err, why);
        KT_CHECK(!"wrong reason");
    }
}

static void test_objectives(void) {
    kb_objective_t o = ok("p99<10ms");
    KT_CHECK(o.pct == 99);
    KT_CHECK(!o.inclusive);
    KT_CHECK(o.limit == 10e6);
    KT_STREQ(o.text, strlen(o.text), "p99<10ms");
    o = ok("p50<250us");
    KT_CHECK(o.pct == 50 && o.limit == 250e3);
    o = ok("p90 <= 1.5s");
    KT_CHECK(o.pct == 90 && o.inclusive && o.limit == 1.5e9);
    o = ok("p95<0.5ms");
    KT_CHECK(o.pct == 95 && o.limit == 0.5e6);
    o = ok("p999<20ms");
    KT_CHECK(fabs(o.pct - 99.9) < 1e-9);
    o = ok("p9999<1s");
    KT_CHECK(fabs(o.pct - 99.99) < 1e-9);
    o = ok("p99.5<3ms");
    KT_CHECK(fabs(o.pct - 99.5) < 1e-9);
    /* strict and inclusive bounds */
    o = ok("p99<10ms");
    KT_CHECK(kb_objective_met(&o, 9.99e6));
    KT_CHECK(!kb_objective_met(&o, 10e6));
    o = ok("p99<=10ms");
    KT_CHECK(kb_objective_met(&o, 10e6));
    KT_CHECK(!kb_objective_met(&o, 10.01e6));
}

static void test_bad_objectives(void) {
    bad("", "empty objective");
    bad(NULL, "empty objective");
    bad("99<10ms", "latency percentile");
    bad("errors<1%", "latency percentile");
    bad("p<10ms", "no percentile");
    bad("p99<10", "needs a unit");
    bad("p99<10 ms", "unknown unit");
    bad("p99<10min", "unknown unit");
    bad("p99>10ms", "upper bound");
    bad("p99=10ms", "expected '<'");
    bad("p99<ms", "expected a duration");
    bad("p99<-1ms", "expected a duration");
    bad("p99<0ms", "positive");
    bad("p100<1ms", "below 100");
    bad("p0<1ms", "above 0");
    bad("p123<1ms", "below 100");
    bad("p99<2h", "unknown unit");
    bad("p99<4000s", "between");
    bad("p99<10msx", "unknown unit");
    bad("p99999999999999999<1ms", "too long");
}

/* Drives a search against a server whose capacity is `limit` req/s: rates at or below pass. */
static double search(double start, unsigned steps, double limit, unsigned *used, double *hi) {
    kb_capacity_t c;
    kb_capacity_init(&c, start, steps, 1e7);
    double r, prev = -1;
    *used = 0;
    while ((r = kb_capacity_next(&c)) > 0) {
        KT_CHECK(r != prev); /* every step moves */
        prev = r;
        kb_capacity_record(&c, r, r <= limit);
        (*used)++;
        if (*used > 100) break;
    }
    *hi = c.hi;
    return c.lo;
}

static void test_search(void) {
    unsigned used;
    double hi;
    /* doubling from 100: 100 200 400 800 1600 pass, 3200 fails, then bisection to 5% */
    double lo = search(100, 12, 2000, &used, &hi);
    KT_CHECK(lo <= 2000 && lo >= 2000 / 1.05 - 1);
    KT_CHECK(hi > 2000 && hi <= lo * 1.05 + 1);
    KT_CHECK(used <= 12);
    /* the step bound holds, and what was found is still true */
    lo = search(100, 4, 2000, &used, &hi);
    KT_EQ(used, 4u);
    KT_CHECK(lo == 800 && hi == 0);
    /* the first rate fails: halve until one passes */
    lo = search(1000, 12, 130, &used, &hi);
    KT_CHECK(lo <= 130 && lo >= 130 / 1.05 - 1);
    /* nothing passes: the search ends at 1 req/s instead of running on */
    lo = search(100, 50, 0.1, &used, &hi);
    KT_CHECK(lo == 0);
    KT_CHECK(used <= 8);
    /* never above the rate cap */
    kb_capacity_t c;
    kb_capacity_init(&c, 6e6, 10, 1e7);
    KT_CHECK(kb_capacity_next(&c) == 6e6);
    kb_capacity_record(&c, 6e6, true);
    KT_CHECK(kb_capacity_next(&c) == 1e7);
    kb_capacity_record(&c, 1e7, true);
    KT_CHECK(kb_capacity_next(&c) == 0);
}

int main(void) {
    KT_RUN(test_objectives);
    KT_RUN(test_bad_objectives);
    KT_RUN(test_search);
    return KT_DONE();
}
