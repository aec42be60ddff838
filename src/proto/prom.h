/* prom.h - the Prometheus text exposition format 0.0.4, written into a caller's buffer:
 * HELP/TYPE lines, samples, label sets with escaped values, and histograms whose buckets
 * are made cumulative here, so that the +Inf bucket always equals _count. Never allocates:
 * output that does not fit sets `full` and is cut at a line boundary. */
#ifndef KL_PROM_H
#define KL_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Latency buckets (seconds), upper bounds: prom-client's defaults 0.005 .. 10 with finer
 * ones below 5 ms, where a cached keel answer lives. */
#define KL_PROM_NBUCKETS 14
extern const double kl_prom_buckets[KL_PROM_NBUCKETS];

/** Output buffer: text goes to buf[0..len); cap is fixed. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool full; /**< something did not fit and was left out (whole lines only) */
} kl_prom_out_t;

/** A label set being built, `a="x",b="y"` (values escaped); at most 511 bytes. */
typedef struct {
    char text[512];
    size_t len;
    bool full; /**< a label did not fit: the set is unusable */
} kl_prom_labels_t;

/** Points o at buf (cap bytes, cap > 0), empty. */
void kl_prom_init(kl_prom_out_t *o, char *buf, size_t cap);
/** Writes "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void kl_prom_family(kl_prom_out_t *o, const char *name, const char *type, const char *help);
/** Starts an empty label set. */
void kl_prom_labels_init(kl_prom_labels_t *l);
/** Appends name="value" (value: len bytes, escaped: backslash, double quote, newline). */
void kl_prom_labels_add(kl_prom_labels_t *l, const char *name, const char *value, size_t len);
/** Writes `name{labels} value` with an integer value; labels NULL or empty: none. */
void kl_prom_u64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, uint64_t v);
/** Same with a floating-point value (shortest exact text; +Inf, -Inf, NaN as Prometheus spells them). */
void kl_prom_f64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, double v);
/** Writes a histogram's series: name_bucket{labels,le="b"} cumulative for each of the
 * nbounds bounds and +Inf, then name_sum and name_count. counts has nbounds + 1
 * non-cumulative entries (the last: above every bound); +Inf and _count are their total. */
void kl_prom_histogram(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, const double *bounds,
                       size_t nbounds, const uint64_t *counts, double sum);
/** The index of the bucket (0..nbounds) that a value v falls in: the first bound >= v. */
size_t kl_prom_bucket(const double *bounds, size_t nbounds, double v);

#endif
