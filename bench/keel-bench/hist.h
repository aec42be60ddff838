/* hist.h - a log-linear (HDR-style) latency histogram with a bounded relative error.
 *
 * Values below 2^P are counted exactly; each power-of-two range above is split into 2^(P-1)
 * equal buckets, so a bucket is never wider than 1/2^(P-1) of its lower edge. Percentiles
 * report the bucket's midpoint (clamped into [min, max]), hence within 2^-P of the true
 * value (P = KB_HIST_PRECISION_BITS = 10: 0.098%). Fixed size, no allocation, mergeable:
 * each thread records into its own and the totals are merged at the end.
 * Self-contained (no other keel-bench module) so a unit test can #include "hist.c".
 */
#ifndef KB_HIST_H
#define KB_HIST_H

#include <stddef.h>
#include <stdint.h>

/** Bits of precision: the relative error bound is 2^-KB_HIST_PRECISION_BITS. */
#define KB_HIST_PRECISION_BITS 10
/** Largest recordable value (ns: about 78 hours); larger values are recorded as this. */
#define KB_HIST_MAX_VALUE (((uint64_t)1 << 48) - 1)
/** 2^P exact buckets, then 2^(P-1) buckets for each of the (48 - P) power-of-two ranges. */
#define KB_HIST_BUCKETS ((1u << KB_HIST_PRECISION_BITS) + (48u - KB_HIST_PRECISION_BITS) * (1u << (KB_HIST_PRECISION_BITS - 1)))

typedef struct {
    uint64_t count;                     /**< values recorded */
    uint64_t min;                       /**< smallest value recorded (UINT64_MAX when empty) */
    uint64_t max;                       /**< largest value recorded (0 when empty) */
    uint64_t sum;                       /**< sum of recorded values, for the mean */
    uint64_t counts[KB_HIST_BUCKETS];   /**< per-bucket counts, see kb_hist_index */
} kb_hist_t;

/** Empties h. */
void kb_hist_init(kb_hist_t *h);

/** Records one value (clamped to KB_HIST_MAX_VALUE). */
void kb_hist_record(kb_hist_t *h, uint64_t v);

/** Adds every count of src into dst (dst and src may not alias). */
void kb_hist_merge(kb_hist_t *dst, const kb_hist_t *src);

/** The value at percentile pct (0..100): the smallest recorded value v such that at least
 * ceil(pct/100 * count) values are <= v, within the relative error bound. 0 when empty. */
uint64_t kb_hist_percentile(const kb_hist_t *h, double pct);

/** Arithmetic mean of the recorded values (exact, from the sum); 0 when empty. */
double kb_hist_mean(const kb_hist_t *h);

/** The bucket index a value falls in. */
size_t kb_hist_index(uint64_t v);

/** The smallest value of bucket idx. */
uint64_t kb_hist_bucket_low(size_t idx);

/** The number of distinct values bucket idx covers (1 in the exact range). */
uint64_t kb_hist_bucket_width(size_t idx);

/** The relative error bound of kb_hist_percentile: 2^-KB_HIST_PRECISION_BITS. */
double kb_hist_error_bound(void);

#endif
