/* test_series.c - the per-second results behind --html: bucketing, percentiles, merging. */
#include <errno.h>

#include "kt.h"

#include "series.c"

static void test_buckets(void) {
    /* exact below 16 ns; above, each bucket's value is within 1/16 of everything in it */
    for (uint64_t v = 0; v < 16; v++) KT_EQ(kb_series_bucket_value(kb_series_index(v)), v);
    uint64_t vals[] = {16, 17, 31, 32, 1000, 123456, 999999999, 1ull << 40, (1ull << 48) - 1};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t idx = kb_series_index(vals[i]);
        KT_CHECK(idx < KB_SERIES_BUCKETS);
        double rep = (double)kb_series_bucket_value(idx), v = (double)vals[i];
        KT_CHECK(rep >= v * (1 - 1.0 / 16) && rep <= v * (1 + 1.0 / 16));
    }
    KT_CHECK(kb_series_index(UINT64_MAX) == KB_SERIES_BUCKETS - 1);
    /* monotone */
    size_t last = 0;
    for (uint64_t v = 1; v < (1ull << 30); v = v * 3 / 2 + 1) {
        KT_CHECK(kb_series_index(v) >= last);
        last = kb_series_index(v);
    }
}

static void test_seconds_and_percentiles(void) {
    kb_series_t s;
    kb_series_init(&s);
    /* second 0: 99 fast responses and one slow; second 2: two errors and a 503 */
    for (int i = 0; i < 99; i++) kb_series_response(&s, 100000000ull + (uint64_t)i, 200, 1000000);
    kb_series_response(&s, 999999999ull, 200, 50000000);
    kb_series_error(&s, 2500000000ull, KB_ERR_TIMEOUT);
    kb_series_error(&s, 2500000001ull, KB_ERR_CONNECT);
    kb_series_response(&s, 2999999999ull, 503, 2000000);
    kb_series_response(&s, 2100000000ull, 404, 2000000);
    KT_EQ(s.n, (size_t)3);
    KT_EQ(s.sec[0].responses, 100u);
    KT_EQ(s.sec[0].ok, 100u);
    KT_EQ(s.sec[1].responses, 0u);
    KT_EQ(kb_series_percentile(&s.sec[1], 99), 0u);
    uint64_t p50 = kb_series_percentile(&s.sec[0], 50), p99 = kb_series_percentile(&s.sec[0], 99),
             p100 = kb_series_percentile(&s.sec[0], 100);
    KT_CHECK(p50 > 940000 && p50 < 1070000);
    KT_CHECK(p99 > 940000 && p99 < 1070000); /* the 99th of 100 is still a fast one */
    KT_CHECK(p100 > 47000000 && p100 < 53000000);
    KT_EQ(s.sec[2].errors[KB_ERR_TIMEOUT], 1u);
    KT_EQ(s.sec[2].errors[KB_ERR_CONNECT], 1u);
    KT_EQ(s.sec[2].status_5xx, 1u);
    KT_EQ(s.sec[2].status_4xx, 1u);
    KT_EQ(s.sec[2].ok, 0u);

    /* merging adds second by second and grows the destination */
    kb_series_t d;
    kb_series_init(&d);
    kb_series_response(&d, 0, 200, 5);
    KT_EQ(kb_series_merge(&d, &s), 0);
    KT_EQ(d.n, (size_t)3);
    KT_EQ(d.sec[0].responses, 101u);
    KT_EQ(d.sec[2].errors[KB_ERR_TIMEOUT], 1u);
    KT_EQ(kb_series_percentile(&d.sec[0], 0.5), 5u);
    kb_series_free(&d);
    kb_series_free(&s);
}

static void test_bounded(void) {
    kb_series_t s;
    kb_series_init(&s);
    /* past the cap nothing is allocated, only counted */
    kb_series_response(&s, (uint64_t)KB_SERIES_MAX_SECONDS * 1000000000ull, 200, 1);
    kb_series_error(&s, UINT64_MAX, KB_ERR_READ);
    KT_EQ(s.truncated, 2u);
    KT_EQ(s.n, (size_t)0);
    KT_CHECK(s.sec == NULL);
    kb_series_response(&s, (uint64_t)(KB_SERIES_MAX_SECONDS - 1) * 1000000000ull, 200, 1);
    KT_EQ(s.n, (size_t)KB_SERIES_MAX_SECONDS);
    KT_CHECK(s.cap <= KB_SERIES_MAX_SECONDS);
    kb_series_free(&s);
}

int main(void) {
    KT_RUN(test_buckets);
    KT_RUN(test_seconds_and_percentiles);
    KT_RUN(test_bounded);
    return KT_DONE();
}
