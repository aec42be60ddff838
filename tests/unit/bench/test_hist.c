/* test_hist.c - the log-linear histogram: bucket layout, error bound, merge, percentiles. */
#include <math.h>
#include <stdint.h>

#include "kt.h"

#include "hist.c"

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static kb_hist_t h1, h2, h3;

static void test_buckets_tile_the_range(void) {
    /* consecutive buckets touch, and every value lands in the bucket that covers it */
    for (size_t i = 0; i + 1 < KB_HIST_BUCKETS; i++) {
        if (kb_hist_bucket_low(i) + kb_hist_bucket_width(i) != kb_hist_bucket_low(i + 1)) {
            KT_CHECK(!"buckets do not tile");
            break;
        }
    }
    KT_EQ(kb_hist_index(KB_HIST_MAX_VALUE), KB_HIST_BUCKETS - 1);
    KT_EQ(kb_hist_bucket_low(KB_HIST_BUCKETS - 1) + kb_hist_bucket_width(KB_HIST_BUCKETS - 1) - 1, KB_HIST_MAX_VALUE);
    for (int k = 0; k < 200000; k++) {
        uint64_t v = rnd() >> (rnd() % 64);
        if (v > KB_HIST_MAX_VALUE) v = KB_HIST_MAX_VALUE;
        size_t i = kb_hist_index(v);
        if (!(kb_hist_bucket_low(i) <= v && v - kb_hist_bucket_low(i) < kb_hist_bucket_width(i))) {
            KT_CHECK(!"value outside its bucket");
            break;
        }
        /* the width never exceeds 2^-(P-1) of the bucket's lower edge */
        if (kb_hist_bucket_width(i) > 1 && kb_hist_bucket_width(i) * (1u << (KB_HIST_PRECISION_BITS - 1)) > kb_hist_bucket_low(i)) {
            KT_CHECK(!"bucket too wide");
            break;
        }
    }
    for (uint64_t v = 0; v < 1024; v++) KT_EQ(kb_hist_index(v), v); /* exact range */
}

static void test_error_bound(void) {
    enum { N = 100000 };
    static uint64_t vals[N];
    static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99};
    double bound = kb_hist_error_bound();
    KT_CHECK(bound > 0 && bound < 0.001);
    for (int dist = 0; dist < 3; dist++) {
        kb_hist_init(&h1);
        for (int i = 0; i < N; i++) {
            uint64_t v;
            if (dist == 0) v = 1000 + rnd() % 50000000;              /* uniform 1 us .. 50 ms */
            else if (dist == 1) v = (uint64_t)exp2(10 + (double)(rnd() % 30000) / 1000.0); /* log-uniform 1 us .. 1000 s */
            else v = 20000000 + rnd() % 200000;                       /* narrow: 20 ms +- 1% */
            vals[i] = v;
            kb_hist_record(&h1, v);
        }
        qsort(vals, N, sizeof vals[0], cmp_u64);
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            uint64_t rank = (uint64_t)ceil(ps[k] / 100.0 * N);
            double want = (double)vals[rank - 1], got = (double)kb_hist_percentile(&h1, ps[k]);
            if (fabs(got - want) > want * bound) {
                fprintf(stderr, "  dist %d p%g: got %.0f want %.0f (bound %.0f)\n", dist, ps[k], got, want, want * bound);
                KT_CHECK(!"percentile outside the error bound");
            }
        }
        KT_EQ(kb_hist_percentile(&h1, 0), vals[0]);
        KT_EQ(kb_hist_percentile(&h1, 100), vals[N - 1]);
        KT_EQ(h1.min, vals[0]);
        KT_EQ(h1.max, vals[N - 1]);
    }
}

static void test_exact_small_values(void) {
    kb_hist_init(&h1);
    for (uint64_t v = 1; v <= 10; v++) kb_hist_record(&h1, v);
    KT_EQ(kb_hist_percentile(&h1, 50), 5);
    KT_EQ(kb_hist_percentile(&h1, 90), 9);
    KT_EQ(kb_hist_percentile(&h1, 91), 10);
    KT_EQ(kb_hist_percentile(&h1, 10), 1);
    KT_EQ(kb_hist_percentile(&h1, 100), 10);
    KT_CHECK(fabs(kb_hist_mean(&h1) - 5.5) < 1e-9);
}

static void test_empty_and_single(void) {
    kb_hist_init(&h1);
    KT_EQ(kb_hist_percentile(&h1, 50), 0);
    KT_CHECK(kb_hist_mean(&h1) == 0);
    KT_EQ(h1.count, 0);
    kb_hist_record(&h1, 123456789);
    /* one value: every percentile is that value exactly (clamped into [min, max]) */
    KT_EQ(kb_hist_percentile(&h1, 1), 123456789);
    KT_EQ(kb_hist_percentile(&h1, 50), 123456789);
    KT_EQ(kb_hist_percentile(&h1, 99.9), 123456789);
}

static void test_clamps_huge_values(void) {
    kb_hist_init(&h1);
    kb_hist_record(&h1, UINT64_MAX);
    kb_hist_record(&h1, 0);
    KT_EQ(h1.count, 2);
    KT_EQ(h1.max, KB_HIST_MAX_VALUE);
    KT_EQ(h1.min, 0);
    KT_EQ(kb_hist_percentile(&h1, 100), KB_HIST_MAX_VALUE);
    KT_EQ(kb_hist_percentile(&h1, 50), 0);
}

static void test_merge_equals_recording_everything(void) {
    kb_hist_init(&h1);
    kb_hist_init(&h2);
    kb_hist_init(&h3);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = rnd() % 100000000;
        kb_hist_record(i % 3 ? &h1 : &h2, v);
        kb_hist_record(&h3, v);
    }
    kb_hist_merge(&h1, &h2);
    KT_EQ(h1.count, h3.count);
    KT_EQ(h1.sum, h3.sum);
    KT_EQ(h1.min, h3.min);
    KT_EQ(h1.max, h3.max);
    KT_CHECK(memcmp(h1.counts, h3.counts, sizeof h1.counts) == 0);
    KT_EQ(kb_hist_percentile(&h1, 99), kb_hist_percentile(&h3, 99));
    /* merging an empty histogram changes nothing, merging into one copies */
    kb_hist_init(&h2);
    kb_hist_merge(&h1, &h2);
    KT_EQ(h1.count, h3.count);
    KT_EQ(h1.min, h3.min);
    kb_hist_merge(&h2, &h3);
    KT_EQ(h2.min, h3.min);
    KT_EQ(h2.max, h3.max);
    KT_EQ(kb_hist_percentile(&h2, 50), kb_hist_percentile(&h3, 50));
}

static void test_bimodal_percentiles(void) {
    /* 90% fast (1 ms), 10% slow (100 ms): p50 and p90 fast, p95 and p99 slow */
    kb_hist_init(&h1);
    for (int i = 0; i < 900; i++) kb_hist_record(&h1, 1000000);
    for (int i = 0; i < 100; i++) kb_hist_record(&h1, 100000000);
    double b = kb_hist_error_bound();
    KT_CHECK(fabs((double)kb_hist_percentile(&h1, 50) - 1e6) <= 1e6 * b);
    KT_CHECK(fabs((double)kb_hist_percentile(&h1, 90) - 1e6) <= 1e6 * b);
    KT_CHECK(fabs((double)kb_hist_percentile(&h1, 90.1) - 1e8) <= 1e8 * b);
    KT_CHECK(fabs((double)kb_hist_percentile(&h1, 99) - 1e8) <= 1e8 * b);
    KT_CHECK(fabs(kb_hist_mean(&h1) - 10.9e6) < 1);
}

int main(void) {
    KT_RUN(test_buckets_tile_the_range);
    KT_RUN(test_error_bound);
    KT_RUN(test_exact_small_values);
    KT_RUN(test_empty_and_single);
    KT_RUN(test_clamps_huge_values);
    KT_RUN(test_merge_equals_recording_everything);
    KT_RUN(test_bimodal_percentiles);
    return KT_DONE();
}
