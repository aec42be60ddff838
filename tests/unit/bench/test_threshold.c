/* test_threshold.c - threshold expressions and the duration/number parsing under them. */
#include <errno.h>
#include <math.h>

#include "kt.h"

#include "threshold.c"
#include "units.c"

static char err[256];

static kb_threshold_t ok(const char *s) {
    kb_threshold_t t;
    int rc = kb_threshold_parse(s, &t, err, sizeof err);
    if (rc) fprintf(stderr, "  '%s': %s\n", s, err);
    KT_EQ(rc, 0);
    return t;
}

static void bad(const char *s, const char *why) {
    kb_threshold_t t;
    err[0] = 0;
    KT_EQ(kb_threshold_parse(s, &t, err, sizeof err), -EINVAL);
    if (!strstr(err, why)) {
        fprintf(stderr, "  '%s': got '%s', want '%s'\n", s, err, why);
        KT_CHECK(!"wrong reason");
    }
}

static void test_latency_thresholds(void) {
    kb_threshold_t t = ok("p95<500ms");
    KT_EQ(t.metric, KB_METRIC_PERCENTILE);
    KT_CHECK(t.pct == 95);
    KT_EQ(t.op, KB_OP_LT);
    KT_CHECK(t.limit == 500e6);
    KT_STREQ(t.text, strlen(t.text), "p95<500ms");
    KT_CHECK(kb_threshold_is_latency(&t));

    t = ok("p99.9 <= 1.5s");
    KT_CHECK(fabs(t.pct - 99.9) < 1e-9);
    KT_EQ(t.op, KB_OP_LE);
    KT_CHECK(t.limit == 1.5e9);

    t = ok("p50<250"); /* bare numbers are milliseconds, as in k6 */
    KT_CHECK(t.limit == 250e6);
    t = ok("p100<800us");
    KT_CHECK(t.pct == 100 && t.limit == 800e3);
    t = ok("mean<20ms");
    KT_EQ(t.metric, KB_METRIC_MEAN);
    t = ok("avg<20ms");
    KT_EQ(t.metric, KB_METRIC_MEAN);
    t = ok("max<2s");
    KT_EQ(t.metric, KB_METRIC_MAX);
    t = ok("min>=1ms");
    KT_EQ(t.metric, KB_METRIC_MIN);
    KT_EQ(t.op, KB_OP_GE);
}

static void test_rate_thresholds(void) {
    kb_threshold_t t = ok("errors<1%");
    KT_EQ(t.metric, KB_METRIC_ERRORS);
    KT_CHECK(fabs(t.limit - 0.01) < 1e-12);
    KT_CHECK(!kb_threshold_is_latency(&t));
    t = ok("errors<0.05");
    KT_CHECK(fabs(t.limit - 0.05) < 1e-12);
    t = ok("error_rate <= 0%");
    KT_CHECK(t.limit == 0 && t.op == KB_OP_LE);
    t = ok("late<0.5%");
    KT_EQ(t.metric, KB_METRIC_LATE);
    KT_CHECK(fabs(t.limit - 0.005) < 1e-12);
    t = ok("rps>1000");
    KT_EQ(t.metric, KB_METRIC_RPS);
    KT_EQ(t.op, KB_OP_GT);
    KT_CHECK(t.limit == 1000);
    t = ok("rps >= 2500.5");
    KT_CHECK(t.limit == 2500.5);
}

static void test_bad_thresholds(void) {
    bad("p95", "expected METRIC<VALUE");
    bad("", "expected METRIC<VALUE");
    bad("p0<5ms", "percentile must be in (0, 100]");
    bad("p101<5ms", "percentile must be in (0, 100]");
    bad("pxx<5ms", "unknown metric");
    bad("latency<5ms", "unknown metric 'latency'");
    bad("p95<5 parsecs", "bad duration");
    bad("p95<", "bad duration");
    bad("p95<-5ms", "bad duration");
    bad("p95<1e3ms", "bad duration");
    bad("errors<150%", "bad rate");
    bad("errors<2", "bad rate");
    bad("errors<abc", "bad rate");
    bad("rps>lots", "bad rate");
    bad("p95<500ms-and-some-more-text-to-exceed-the-buffer-of-sixty-four-bytes", "too long");
}

static void test_pass_semantics(void) {
    kb_threshold_t t = ok("p95<500ms");
    KT_CHECK(kb_threshold_pass(&t, 499e6));
    KT_CHECK(!kb_threshold_pass(&t, 500e6));
    t = ok("p95<=500ms");
    KT_CHECK(kb_threshold_pass(&t, 500e6));
    KT_CHECK(!kb_threshold_pass(&t, 500.001e6));
    t = ok("rps>100");
    KT_CHECK(!kb_threshold_pass(&t, 100));
    KT_CHECK(kb_threshold_pass(&t, 100.5));
    t = ok("rps>=100");
    KT_CHECK(kb_threshold_pass(&t, 100));
    t = ok("errors<1%");
    KT_CHECK(kb_threshold_pass(&t, 0.0099));
    KT_CHECK(!kb_threshold_pass(&t, 0.01));
}

/* A run in which every request failed has an empty histogram, whose percentiles, max and
 * mean read 0: a latency threshold must not pass on that. */
static void test_latency_over_no_successful_response_fails(void) {
    static const char *const lat[] = {"p99<1us", "p50<=10s", "max<1s", "mean<1s", "min>=0ms", "p100<1h"};
    for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++) {
        kb_threshold_t t = ok(lat[i]);
        KT_EQ(kb_threshold_verdict(&t, 0, 0), KB_VERDICT_NO_DATA);
        /* responses that all had status >= 400 leave latencies, but still no successful one */
        KT_EQ(kb_threshold_verdict(&t, 1000, 0), KB_VERDICT_NO_DATA);
        KT_EQ(kb_threshold_verdict(&t, 0, 1), KB_VERDICT_PASS);
    }
    kb_threshold_t t = ok("p99<1ms");
    KT_EQ(kb_threshold_verdict(&t, 2e6, 5), KB_VERDICT_FAIL);
    KT_EQ(kb_threshold_verdict(&t, 0.5e6, 5), KB_VERDICT_PASS);
    /* the other metrics have a value without any success: they are judged on it */
    t = ok("errors<1%");
    KT_EQ(kb_threshold_verdict(&t, 1.0, 0), KB_VERDICT_FAIL);
    KT_EQ(kb_threshold_verdict(&t, 0.0, 0), KB_VERDICT_PASS);
    t = ok("rps<10");
    KT_EQ(kb_threshold_verdict(&t, 0, 0), KB_VERDICT_PASS);
    t = ok("rps>10");
    KT_EQ(kb_threshold_verdict(&t, 0, 0), KB_VERDICT_FAIL);
}

static void test_durations(void) {
    uint64_t ns;
    KT_EQ(kb_parse_duration("30s", 1, &ns), 0);
    KT_EQ(ns, 30000000000ull);
    KT_EQ(kb_parse_duration("1.5m", 1, &ns), 0);
    KT_EQ(ns, 90000000000ull);
    KT_EQ(kb_parse_duration("2h", 1, &ns), 0);
    KT_EQ(ns, 7200000000000ull);
    KT_EQ(kb_parse_duration("250us", 1, &ns), 0);
    KT_EQ(ns, 250000);
    KT_EQ(kb_parse_duration("7ns", 1, &ns), 0);
    KT_EQ(ns, 7);
    KT_EQ(kb_parse_duration("10", 1000000000ull, &ns), 0);
    KT_EQ(ns, 10000000000ull);
    KT_EQ(kb_parse_duration(".5s", 1, &ns), 0);
    KT_EQ(ns, 500000000);
    KT_EQ(kb_parse_duration("", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("s", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("5 s", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("5sec", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("-1s", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("0x10s", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("inf", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("101d", 1, &ns), -EINVAL);
    KT_EQ(kb_parse_duration("3000h", 1, &ns), -EINVAL); /* beyond 100 days */
}

static void test_counts_and_numbers(void) {
    uint64_t v;
    double d;
    KT_EQ(kb_parse_count("0", 10, &v), 0);
    KT_EQ(v, 0);
    KT_EQ(kb_parse_count("10", 10, &v), 0);
    KT_EQ(kb_parse_count("11", 10, &v), -EINVAL);
    KT_EQ(kb_parse_count("18446744073709551615", UINT64_MAX, &v), 0);
    KT_CHECK(v == UINT64_MAX);
    KT_EQ(kb_parse_count("18446744073709551616", UINT64_MAX, &v), -EINVAL);
    KT_EQ(kb_parse_count("", 10, &v), -EINVAL);
    KT_EQ(kb_parse_count("+1", 10, &v), -EINVAL);
    KT_EQ(kb_parse_count("1 ", 10, &v), -EINVAL);
    KT_EQ(kb_parse_count("5", 0, &v), -EINVAL);
    KT_EQ(kb_parse_number("12.25", &d), 0);
    KT_CHECK(d == 12.25);
    KT_EQ(kb_parse_number("1.", &d), 0);
    KT_EQ(kb_parse_number(".", &d), -EINVAL);
    KT_EQ(kb_parse_number("nan", &d), -EINVAL);
    KT_EQ(kb_parse_number("1,5", &d), -EINVAL);
}

int main(void) {
    KT_RUN(test_latency_thresholds);
    KT_RUN(test_rate_thresholds);
    KT_RUN(test_bad_thresholds);
    KT_RUN(test_pass_semantics);
    KT_RUN(test_latency_over_no_successful_response_fails);
    KT_RUN(test_durations);
    KT_RUN(test_counts_and_numbers);
    return KT_DONE();
}
