/* hist.c - log-linear histogram; see hist.h for the bucket layout and its error bound. */
#include "hist.h"

#include <string.h>

#define P KB_HIST_PRECISION_BITS
#define HALF (1u << (P - 1))

static uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

void kb_hist_init(kb_hist_t *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t kb_hist_index(uint64_t v) {
    if (v > KB_HIST_MAX_VALUE) v = KB_HIST_MAX_VALUE;
    if (v < (1u << P)) return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= P */
    unsigned shift = msb - P + 1;                       /* >= 1 */
    uint64_t top = v >> shift;                          /* in [2^(P-1), 2^P) */
    return (size_t)((1u << P) + (shift - 1) * HALF + (top - HALF));
}

uint64_t kb_hist_bucket_low(size_t idx) {
    if (idx < (1u << P)) return idx;
    size_t rel = idx - (1u << P);
    unsigned shift = (unsigned)(rel / HALF) + 1;
    uint64_t top = HALF + rel % HALF;
    return top << shift;
}

uint64_t kb_hist_bucket_width(size_t idx) {
    if (idx < (1u << P)) return 1;
    return (uint64_t)1 << ((idx - (1u << P)) / HALF + 1);
}

void kb_hist_record(kb_hist_t *h, uint64_t v) {
    if (v > KB_HIST_MAX_VALUE) v = KB_HIST_MAX_VALUE;
    h->counts[kb_hist_index(v)]++;
    h->count++;
    h->sum = sat_add(h->sum, v);
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void kb_hist_merge(kb_hist_t *dst, const kb_hist_t *src) {
    if (!src->count) return;
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) dst->counts[i] = sat_add(dst->counts[i], src->counts[i]);
    dst->count = sat_add(dst->count, src->count);
    dst->sum = sat_add(dst->sum, src->sum);
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t kb_hist_percentile(const kb_hist_t *h, double pct) {
    if (!h->count) return 0;
    if (pct <= 0) return h->min;
    if (pct >= 100) return h->max;
    /* rank = ceil(pct/100 * count), computed so that e.g. 50% of 10 is exactly 5 */
    double want = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want - 1e-9) rank++;
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) {
        seen = sat_add(seen, h->counts[i]);
        if (seen >= rank) return kb_hist_bucket_value(h, i);
    }
    return h->max;
}

uint64_t kb_hist_bucket_value(const kb_hist_t *h, size_t idx) {
    /* the midpoint is within half a bucket width of any value in the bucket */
    uint64_t v = kb_hist_bucket_low(idx) + kb_hist_bucket_width(idx) / 2;
    if (v < h->min) v = h->min;
    if (v > h->max) v = h->max;
    return v;
}

uint64_t kb_hist_correct_points(uint64_t v, uint64_t interval) {
    /* the last k with v - k*I >= I is floor(v/I) - 1 */
    if (!interval || v / interval < 2) return 0;
    return v / interval - 1;
}

/* c values at each of v - I, ..., v - K*I, one at a time: K steps. */
static void add_pointwise(kb_hist_t *h, uint64_t v, uint64_t c, uint64_t interval, uint64_t k_max) {
    for (uint64_t k = 1; k <= k_max; k++) {
        size_t j = kb_hist_index(v - k * interval);
        h->counts[j] = sat_add(h->counts[j], c);
    }
}

/* The same values counted per target bucket: the k whose v - k*I falls in [lo, hi] of bucket
 * j are ceil((v - hi) / I) .. floor((v - lo) / I), clipped to [1, K]. One step per bucket
 * from the one holding v - K*I to the one holding v - I. */
static void add_bucketwise(kb_hist_t *h, uint64_t v, uint64_t c, uint64_t interval, uint64_t k_max) {
    size_t first = kb_hist_index(v - k_max * interval), last = kb_hist_index(v - interval);
    for (size_t j = first; j <= last; j++) {
        uint64_t lo = kb_hist_bucket_low(j), hi = lo + kb_hist_bucket_width(j) - 1;
        uint64_t k_lo = hi >= v ? 1 : (v - hi + interval - 1) / interval; /* no overflow: v < 2^48, I <= v/2 */
        uint64_t k_hi = (v - lo) / interval;                              /* lo <= v - I */
        if (k_lo < 1) k_lo = 1;
        if (k_hi > k_max) k_hi = k_max;
        if (k_hi >= k_lo) h->counts[j] = sat_add(h->counts[j], sat_mul(c, k_hi - k_lo + 1));
    }
}

void kb_hist_correct(kb_hist_t *dst, const kb_hist_t *raw, uint64_t interval) {
    memcpy(dst, raw, sizeof *dst);
    if (!interval || !raw->count) return;
    /* only raw's buckets are read, so an added value is never itself corrected again */
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) {
        uint64_t c = raw->counts[i];
        if (!c) continue;
        uint64_t v = kb_hist_bucket_value(raw, i);
        if (v > KB_HIST_MAX_VALUE) v = KB_HIST_MAX_VALUE;
        uint64_t k_max = kb_hist_correct_points(v, interval);
        if (!k_max) continue;
        uint64_t targets = kb_hist_index(v - interval) - kb_hist_index(v - k_max * interval) + 1;
        if (k_max > targets) add_bucketwise(dst, v, c, interval, k_max);
        else add_pointwise(dst, v, c, interval, k_max);
        /* sum of v - k*I over k = 1..K is K*v - I*K*(K+1)/2 < K*v <= 2^96: exact in 128 bits */
        unsigned __int128 each = (unsigned __int128)k_max * v - (unsigned __int128)interval * k_max * (k_max + 1) / 2;
        dst->sum = sat_add(dst->sum, each > UINT64_MAX ? UINT64_MAX : sat_mul(c, (uint64_t)each));
        dst->count = sat_add(dst->count, sat_mul(c, k_max));
        if (v - k_max * interval < dst->min) dst->min = v - k_max * interval;
    }
}

double kb_hist_mean(const kb_hist_t *h) {
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

double kb_hist_error_bound(void) {
    return 1.0 / (double)(1u << P);
}

#undef P
#undef HALF
