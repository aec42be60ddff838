/* hist.h - a log-linear (HDR-style) latency histogram with a bounded relative error.
 *
 * Values below 2^P are counted exactly; each power-of-two range above is split into 2^(P-1)
 * equal buckets, so a bucket is never wider than 1/2^(P-1) of its lower edge. Percentiles
 * report the bucket's midpoint (clamped into [min, max]), hence within 2^-P of the true
 * value (P = KB_HIST_PRECISION_BITS = 10: 0.098%). Fixed size, no allocation, mergeable:
 * each thread records into its own and the totals are merged at the end. Counts and the sum
 * saturate at UINT64_MAX instead of wrapping (only kb_hist_correct can get near that).
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

/** Coordinated-omission correction, as HdrHistogram's recordValueWithExpectedInterval and
 * wrk's stats_correct do it: dst = raw plus, for every bucket of raw with count c and
 * representative value v (kb_hist_bucket_value), c synthetic values at each of v-I, v-2I,
 * ... down to the last one >= I (none when v < 2I): the requests a closed-loop user would
 * have sent during a stall had it not been waiting. interval 0: dst = raw. max is unchanged;
 * min, count, sum and the bucket counts take the added values in (count and sum saturate).
 * dst and raw may not alias. Bounded whatever the input: a bucket's values are added one by
 * one or, when there are more of them than buckets they fall in, bucket by bucket, so the
 * work is at most (non-empty buckets of raw) x KB_HIST_BUCKETS steps (every bucket filled and
 * I = 1 ns: ~1.4 s at -O2; a real run: milliseconds). */
void kb_hist_correct(kb_hist_t *dst, const kb_hist_t *raw, uint64_t interval);

/** Synthetic values kb_hist_correct adds for one value v: v/I - 1 when v >= 2I, else 0. */
uint64_t kb_hist_correct_points(uint64_t v, uint64_t interval);

/** The value at percentile pct (0..100): the smallest recorded value v such that at least
 * ceil(pct/100 * count) values are <= v, within the relative error bound. 0 when empty. */
uint64_t kb_hist_percentile(const kb_hist_t *h, double pct);

/** Arithmetic mean of the recorded values (exact, from the sum); 0 when empty. */
double kb_hist_mean(const kb_hist_t *h);

/** The value that stands for bucket idx of h (what kb_hist_percentile reports for it): the
 * bucket's midpoint clamped into [h->min, h->max]; exact in the exact range. */
uint64_t kb_hist_bucket_value(const kb_hist_t *h, size_t idx);

/** The bucket index a value falls in. */
size_t kb_hist_index(uint64_t v);

/** The smallest value of bucket idx. */
uint64_t kb_hist_bucket_low(size_t idx);

/** The number of distinct values bucket idx covers (1 in the exact range). */
uint64_t kb_hist_bucket_width(size_t idx);

/** The relative error bound of kb_hist_percentile: 2^-KB_HIST_PRECISION_BITS. */
double kb_hist_error_bound(void);

#endif
