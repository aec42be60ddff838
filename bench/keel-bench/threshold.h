/* threshold.h - pass/fail criteria for CI: `p95<500ms`, `p99.9<=1s`, `errors<1%`,
 * `rps>=1000`, `mean<20ms`, `max<2s`, `min>1ms`, `late<0.5%`.
 *
 * Latency metrics take a duration (bare numbers are milliseconds, as in k6); errors and
 * late take a percentage ("1%") or a fraction ("0.01"); rps takes requests per second.
 * Parsing and comparison only: the caller computes each metric's value from its results.
 * A latency threshold over a run with no successful response is never met: there was
 * nothing to measure, and an empty histogram's 0 would pass `p99<1ms` vacuously.
 * Pure, self-contained apart from units.c. */
#ifndef KB_THRESHOLD_H
#define KB_THRESHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    KB_METRIC_PERCENTILE, /**< latency at percentile `pct` */
    KB_METRIC_MIN,        /**< smallest latency */
    KB_METRIC_MAX,        /**< largest latency */
    KB_METRIC_MEAN,       /**< mean latency */
    KB_METRIC_ERRORS,     /**< failed / finished requests, a fraction */
    KB_METRIC_LATE,       /**< open model: requests sent late or dropped / scheduled, a fraction */
    KB_METRIC_RPS,        /**< responses per second */
} kb_metric_t;

typedef enum { KB_OP_LT, KB_OP_LE, KB_OP_GT, KB_OP_GE } kb_op_t;

typedef struct {
    kb_metric_t metric; /**< what is compared */
    double pct;         /**< KB_METRIC_PERCENTILE: the percentile, e.g. 95 or 99.9 */
    kb_op_t op;         /**< how */
    double limit;       /**< latency metrics: nanoseconds; errors/late: fraction; rps: req/s */
    char text[64];      /**< the expression as given, for the report */
} kb_threshold_t;

typedef enum {
    KB_VERDICT_PASS,    /**< the threshold held */
    KB_VERDICT_FAIL,    /**< the value breached it */
    KB_VERDICT_NO_DATA, /**< a latency threshold and no successful response: not met */
} kb_verdict_t;

/** Parses one expression (spaces allowed around the operator). Returns 0, or -EINVAL with
 * a reason in err. */
int kb_threshold_parse(const char *s, kb_threshold_t *t, char *err, size_t errcap);

/** True when value (in the metric's unit, see limit) satisfies the threshold. */
bool kb_threshold_pass(const kb_threshold_t *t, double value);

/** The verdict on t for a run with `ok` successful responses (complete, status < 400) whose
 * metric value is value: KB_VERDICT_NO_DATA for a latency threshold when ok is 0, whatever
 * value is; otherwise PASS or FAIL as kb_threshold_pass says. */
kb_verdict_t kb_threshold_verdict(const kb_threshold_t *t, double value, uint64_t ok);

/** True when the metric is a latency (value and limit in nanoseconds). */
bool kb_threshold_is_latency(const kb_threshold_t *t);

#endif
