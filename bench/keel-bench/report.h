/* report.h - the results as a markdown table (what load-test write-ups show: stage, VUs,
 * RPS, p50, p95, p99, error rate) with per-stage details below it, and as JSON with every
 * figure. Also computes the value a threshold compares.
 *
 * Closed model: the headline latencies (table, details, thresholds, JSON latency_ms) are
 * corrected for coordinated omission (kb_hist_correct, each stage with its own expected
 * interval VUs/RPS, as wrk and HdrHistogram do) unless --no-co-correction; the as-measured
 * ones are shown next to them and written as latency_measured_ms. Open model latencies
 * already run from each request's intended send time and are reported as measured. */
#ifndef KB_REPORT_H
#define KB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "stats.h"
#include "threshold.h"

typedef struct {
    const kb_config_t *cfg;          /**< the run's configuration */
    const char *url;                 /**< the target as given */
    const char *scenario_path;       /**< NULL when the request came from the command line */
    const kb_stats_t *stages;        /**< cfg->nstages merged results; hist holds the headline latencies */
    const kb_stats_t *total;         /**< every stage merged (corrected stage histograms, when corrected) */
    const kb_route_stats_t *routes;  /**< cfg->scenario->nroutes: the whole run by route (latencies as measured) */
    const kb_hist_t *measured;       /**< closed model: cfg->nstages as-measured latencies; NULL in the open model */
    const kb_hist_t *measured_total; /**< closed model: the measured histograms of every stage merged */
    const uint64_t *co_interval_ns;  /**< closed model: each stage's expected interval (kb_stats_co_interval) */
    bool co_corrected;               /**< closed model: the headline latencies are corrected (no --no-co-correction) */
    const kb_threshold_t *thresholds; /**< the --threshold expressions */
    const double *values;            /**< the measured value of each threshold's metric */
    const kb_verdict_t *verdicts;    /**< each threshold's verdict (kb_threshold_verdict) */
    size_t nthresholds;              /**< how many */
    bool interrupted;                /**< the run was stopped early by a signal */
} kb_report_t;

/** The value of t's metric in s (ns for latencies, a fraction for errors/late, req/s). */
double kb_report_metric(const kb_stats_t *s, const kb_threshold_t *t);

/** Writes the markdown table, per-stage details, the per-route table (when the scenario has
 * several routes) and threshold verdicts to f. */
void kb_report_table(FILE *f, const kb_report_t *r);

/** Writes the JSON document to f. Returns 0 or -EIO when writing failed. */
int kb_report_json(FILE *f, const kb_report_t *r);

#endif
