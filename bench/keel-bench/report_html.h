/* report_html.h - `--html FILE`: the run as one self-contained HTML page (inline SVG and CSS,
 * no script, no external reference) that a browser opens offline: throughput and p50/p95/p99
 * second by second with the stages marked, the latency percentile curve (HdrHistogram style:
 * percentile on a log "nines" axis), the error breakdown, and the per-stage table. */
#ifndef KB_REPORT_HTML_H
#define KB_REPORT_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"
#include "series.h"

/** Series colours, one per plotted quantity (tests look for them in a rendering). */
#define KB_HTML_RPS "#1f77b4"
#define KB_HTML_FAILED "#d6616b"
#define KB_HTML_P50 "#2ca02c"
#define KB_HTML_P95 "#ff7f0e"
#define KB_HTML_P99 "#d62728"
#define KB_HTML_CURVE "#6a3d9a"
#define KB_HTML_ERRBAR "#8c564b"

/** Writes the page for report r, whose second-by-second results are series and which lasted
 * run_ns, to f. Returns 0 or -EIO when writing failed. */
int kb_report_html(FILE *f, const kb_report_t *r, const kb_series_t *series, uint64_t run_ns);

#endif
