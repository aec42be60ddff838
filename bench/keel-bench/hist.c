/* hist.c - log-linear histogram; see hist.h for the bucket layout and its error bound. */
#include "hist.h"

#include <string.h>

#define P KB_HIST_PRECISION_BITS
#define HALF (1u << (P - 1))

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
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void kb_hist_merge(kb_hist_t *dst, const kb_hist_t *src) {
    if (!src->count) return;
    for (size_t i = 0; i < KB_HIST_BUCKETS; i++) dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
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
        seen += h->counts[i];
        if (seen >= rank) {
            /* the midpoint is within half a bucket width of any value in the bucket */
            uint64_t v = kb_hist_bucket_low(i) + kb_hist_bucket_width(i) / 2;
            if (v < h->min) v = h->min;
            if (v > h->max) v = h->max;
            return v;
        }
    }
    return h->max;
}

double kb_hist_mean(const kb_hist_t *h) {
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

double kb_hist_error_bound(void) {
    return 1.0 / (double)(1u << P);
}

#undef P
#undef HALF
