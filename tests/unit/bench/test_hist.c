/* test_hist.c - the log-linear histogram: bucket layout, error bound, merge, percentiles, and
 * the coordinated-omission correction against a point-by-point reference. */
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

/* The correction by its definition: every value of every bucket added one by one. */
static void reference_correct(kb_hist_t *dst, const kb_hist_t *raw, uint64_t interval) {
    *dst = *raw;
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) {
        uint64_t c = raw->counts[i];
        if (!c) continue;
        uint64_t v = kb_hist_bucket_value(raw, i);
        for (uint64_t p = v - interval; interval && v >= 2 * interval && p >= interval; p -= interval) {
            dst->counts[kb_hist_index(p)] += c;
            dst->count += c;
            dst->sum += c * p;
            if (p < dst->min) dst->min = p;
            if (p < interval * 2) break; /* the next would be < I (and p - I must not wrap) */
        }
    }
}

static void expect_same(const kb_hist_t *a, const kb_hist_t *b, const char *what) {
    if (a->count != b->count || a->sum != b->sum || a->min != b->min || a->max != b->max ||
        memcmp(a->counts, b->counts, sizeof a->counts)) {
        fprintf(stderr, "  %s: count %llu/%llu sum %llu/%llu min %llu/%llu max %llu/%llu\n", what,
                (unsigned long long)a->count, (unsigned long long)b->count, (unsigned long long)a->sum,
                (unsigned long long)b->sum, (unsigned long long)a->min, (unsigned long long)b->min,
                (unsigned long long)a->max, (unsigned long long)b->max);
        KT_CHECK(!"histograms differ");
    }
}

static uint64_t sum_counts(const kb_hist_t *h) {
    uint64_t n = 0;
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) n += h->counts[i];
    return n;
}

static kb_hist_t raw, got, want;

static void test_correct_matches_reference(void) {
    /* random histograms (a body and a tail, from a few values to thousands) and intervals
     * from 1 ns up; the interval is raised until the reference has at most 2e6 values to add */
    int bucketwise = 0, pointwise = 0, rounds = 0;
    while (rounds < 50) {
        kb_hist_init(&raw);
        int n = rnd() % 2 ? 1 + (int)(rnd() % 8) : 1 + (int)(rnd() % 3000);
        uint64_t scale = (uint64_t)1 << (10 + rnd() % 24); /* 1 us .. 8 s */
        for (int k = 0; k < n; k++) kb_hist_record(&raw, rnd() % 4 ? rnd() % scale : rnd() % (scale * 16));
        uint64_t interval = 1 + rnd() % ((uint64_t)1 << (rnd() % 30));
        for (;;) {
            uint64_t work = 0;
            unsigned __int128 weighted = 0;
            for (size_t i = 0; i < KB_HIST_BUCKETS; i++) {
                if (!raw.counts[i]) continue;
                uint64_t k = kb_hist_correct_points(kb_hist_bucket_value(&raw, i), interval);
                work += k;
                weighted += (unsigned __int128)k * raw.counts[i] * raw.max;
            }
            if (work <= 2000000 && weighted < ((unsigned __int128)1 << 63)) break; /* the reference's sum cannot wrap */
            interval *= 2;
        }
        for (size_t i = 0; i < KB_HIST_BUCKETS; i++) {
            if (!raw.counts[i]) continue;
            uint64_t v = kb_hist_bucket_value(&raw, i), k = kb_hist_correct_points(v, interval);
            if (!k) continue;
            if (k > kb_hist_index(v - interval) - kb_hist_index(v - k * interval) + 1) bucketwise++;
            else pointwise++;
        }
        reference_correct(&want, &raw, interval);
        kb_hist_correct(&got, &raw, interval);
        expect_same(&got, &want, "random");
        KT_EQ(sum_counts(&got), got.count);
        KT_CHECK(got.count >= raw.count);
        for (double pc = 1; pc < 100; pc += 7) KT_EQ(kb_hist_percentile(&got, pc), kb_hist_percentile(&want, pc));
        rounds++;
    }
    /* both ways of adding a bucket's values were compared with the reference */
    KT_CHECK(bucketwise > 0 && pointwise > 0);
    fprintf(stderr, "  %d buckets added bucket by bucket, %d value by value\n", bucketwise, pointwise);
}

static void test_correct_bucketwise_equals_pointwise(void) {
    /* one bucket's values added both ways, for counts of values on both sides of the switch */
    for (int round = 0; round < 3000; round++) {
        uint64_t v = 2 + rnd() % ((uint64_t)1 << (11 + rnd() % 26)); /* up to 2^37 */
        uint64_t interval = 1 + rnd() % (v / 2);
        if (round % 3 == 0) interval = 1 + rnd() % 4096; /* many values: dense in the exact range */
        uint64_t k = kb_hist_correct_points(v, interval);
        if (!k || k > 200000) continue;
        uint64_t c = 1 + rnd() % 1000;
        kb_hist_init(&got);
        kb_hist_init(&want);
        add_pointwise(&want, v, c, interval, k);
        add_bucketwise(&got, v, c, interval, k);
        if (memcmp(got.counts, want.counts, sizeof got.counts)) {
            fprintf(stderr, "  v %llu I %llu K %llu\n", (unsigned long long)v, (unsigned long long)interval,
                    (unsigned long long)k);
            KT_CHECK(!"bucket-wise counts differ from point-wise");
            break;
        }
        KT_EQ(sum_counts(&got), c * k);
    }
}

static void test_correct_without_stalls_adds_nothing(void) {
    /* every value below 2I: nothing to add, dst is raw */
    kb_hist_init(&raw);
    for (int i = 0; i < 20000; i++) kb_hist_record(&raw, 20000000 + rnd() % 19000000); /* 20..39 ms */
    kb_hist_correct(&got, &raw, 20000000);                                              /* I = 20 ms */
    KT_CHECK(memcmp(&got, &raw, sizeof got) == 0);
    kb_hist_correct(&got, &raw, 0); /* interval 0: a copy */
    KT_CHECK(memcmp(&got, &raw, sizeof got) == 0);
    kb_hist_correct(&got, &raw, UINT64_MAX); /* an interval beyond every value */
    KT_CHECK(memcmp(&got, &raw, sizeof got) == 0);
    kb_hist_init(&raw); /* empty stays empty */
    kb_hist_correct(&got, &raw, 1);
    KT_EQ(got.count, 0);
    KT_EQ(kb_hist_percentile(&got, 50), 0);
    /* exactly 2I: HdrHistogram's ">= I" adds the one value I */
    kb_hist_record(&raw, 2000);
    kb_hist_correct(&got, &raw, 1000);
    KT_EQ(got.count, 2);
    KT_EQ(got.min, 1000);
    KT_EQ(got.sum, 3000);
}

static void test_correct_worked_example(void) {
    /* one 10 ms response with an expected interval of 1 ms: the user would have sent 9 more
     * requests meanwhile, seeing 9, 8, ..., 1 ms */
    kb_hist_init(&raw);
    kb_hist_record(&raw, 10000000);
    kb_hist_correct(&got, &raw, 1000000);
    KT_EQ(got.count, 10);
    KT_EQ(got.sum, 55000000);
    KT_EQ(got.min, 1000000);
    KT_EQ(got.max, 10000000);
    double b = kb_hist_error_bound();
    for (int k = 1; k <= 10; k++) {
        double want_ms = k * 1e6, got_ms = (double)kb_hist_percentile(&got, k * 10.0);
        if (fabs(got_ms - want_ms) > want_ms * b) {
            fprintf(stderr, "  p%d: %.0f, want %.0f\n", k * 10, got_ms, want_ms);
            KT_CHECK(!"worked example percentile");
        }
    }
    /* the same in the exact range: 1000 ns at I = 100 ns adds 900, 800, ..., 100 */
    kb_hist_init(&raw);
    kb_hist_record(&raw, 1000);
    kb_hist_record(&raw, 1000);
    kb_hist_record(&raw, 150); /* < 2I: adds nothing */
    kb_hist_correct(&got, &raw, 100);
    KT_EQ(got.count, 21);
    for (uint64_t v = 100; v < 1000; v += 100) KT_EQ(got.counts[v], 2);
    KT_EQ(got.counts[1000], 2);
    KT_EQ(got.counts[150], 1);
    KT_EQ(got.sum, 2000 + 150 + 2 * 4500);
    KT_EQ(got.min, 100);
}

static void test_correct_extreme_is_bounded(void) {
    /* the largest value at I = 1 ns would be 2.8e14 values one by one: bucket by bucket it
     * is ~20000 steps. No timing assertion: it has to return, with consistent figures. */
    kb_hist_init(&raw);
    kb_hist_record(&raw, KB_HIST_MAX_VALUE);
    kb_hist_correct(&got, &raw, 1);
    KT_EQ(got.count, KB_HIST_MAX_VALUE); /* 1 + (max - 1) */
    KT_EQ(sum_counts(&got), got.count);
    KT_EQ(got.min, 1);
    KT_EQ(got.max, KB_HIST_MAX_VALUE);
    KT_CHECK(got.sum == UINT64_MAX); /* ~2^95: saturated, not wrapped */
    /* a count that overflows once multiplied: the counts saturate instead of wrapping */
    raw.counts[KB_HIST_BUCKETS - 1] = UINT64_MAX / 4;
    raw.count = UINT64_MAX / 4;
    kb_hist_correct(&got, &raw, 1);
    KT_CHECK(got.count == UINT64_MAX);
    KT_CHECK(got.counts[KB_HIST_BUCKETS - 1] == UINT64_MAX);
    KT_CHECK(kb_hist_percentile(&got, 50) >= 1 && kb_hist_percentile(&got, 100) == KB_HIST_MAX_VALUE);
    /* every bucket populated, I = 1 ns: the worst case of the work bound */
    kb_hist_init(&raw);
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) kb_hist_record(&raw, kb_hist_bucket_low(i));
    kb_hist_correct(&got, &raw, 1);
    KT_CHECK(got.count > raw.count);
    KT_EQ(got.min, 0); /* raw's 0 stays the smallest */
    KT_EQ(got.max, raw.max);
    KT_CHECK(got.sum == UINT64_MAX);
    kb_hist_merge(&got, &raw); /* merging into a saturated sum keeps it saturated */
    KT_CHECK(got.sum == UINT64_MAX);
}

int main(void) {
    KT_RUN(test_buckets_tile_the_range);
    KT_RUN(test_error_bound);
    KT_RUN(test_exact_small_values);
    KT_RUN(test_empty_and_single);
    KT_RUN(test_clamps_huge_values);
    KT_RUN(test_merge_equals_recording_everything);
    KT_RUN(test_bimodal_percentiles);
    KT_RUN(test_correct_matches_reference);
    KT_RUN(test_correct_bucketwise_equals_pointwise);
    KT_RUN(test_correct_without_stalls_adds_nothing);
    KT_RUN(test_correct_worked_example);
    KT_RUN(test_correct_extreme_is_bounded);
    return KT_DONE();
}
