/* series.h - what a run did second by second, for the --html report: responses, failures by
 * cause and a coarse latency histogram per second of the run (by completion time).
 *
 * The histogram is log-linear like hist.h but with 16 buckets per power of two (6% relative
 * error): enough for a plotted p50/p95/p99, at 2.9 kB a second instead of 160 kB. Each worker
 * thread fills its own series (growing it as the run goes on, up to KB_SERIES_MAX_SECONDS);
 * they are merged when the threads have ended. Self-contained apart from stats.h's error kinds. */
#ifndef KB_SERIES_H
#define KB_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

/** Buckets per power of two of the per-second histogram. */
#define KB_SERIES_SUB 16
/** 16 exact buckets (values below 16 ns), then 16 for each power of two up to 2^48. */
#define KB_SERIES_BUCKETS (KB_SERIES_SUB * 45)
/** Seconds recorded at most (4 h); later completions are counted in `truncated` only. */
#define KB_SERIES_MAX_SECONDS 14400

typedef struct {
    uint64_t responses;            /**< complete responses, any status */
    uint64_t ok;                   /**< of which status < 400 */
    uint64_t errors[KB_ERR_KINDS]; /**< transport errors by cause */
    uint64_t status_4xx;           /**< responses 400..499 */
    uint64_t status_5xx;           /**< responses 500..599 */
    uint32_t hist[KB_SERIES_BUCKETS]; /**< latencies of the complete responses (ns) */
} kb_second_t;

typedef struct {
    kb_second_t *sec;   /**< sec[i]: completions in [i, i+1) s after the run's start */
    size_t n;           /**< seconds in use */
    size_t cap;         /**< seconds allocated */
    uint64_t truncated; /**< completions past KB_SERIES_MAX_SECONDS, not recorded */
    int oom;            /**< growing failed: later seconds are counted in truncated */
} kb_series_t;

/** Empties s (no allocation until the first record). */
void kb_series_init(kb_series_t *s);

/** Frees s's seconds. */
void kb_series_free(kb_series_t *s);

/** Counts a complete response with status that took ns, completed at t_ns after the start. */
void kb_series_response(kb_series_t *s, uint64_t t_ns, int status, uint64_t ns);

/** Counts a transport error of kind at t_ns after the start. */
void kb_series_error(kb_series_t *s, uint64_t t_ns, kb_err_kind_t kind);

/** Adds src into dst. Returns 0 or -ENOMEM. */
int kb_series_merge(kb_series_t *dst, const kb_series_t *src);

/** The latency at percentile pct (0..100) of second sec (within 6%); 0 when it has no response. */
uint64_t kb_series_percentile(const kb_second_t *sec, double pct);

/** The bucket a value falls in. */
size_t kb_series_index(uint64_t v);

/** The value that stands for bucket idx: its midpoint (exact below 16 ns). */
uint64_t kb_series_bucket_value(size_t idx);

#endif
