/* run.h - one whole run: the worker threads, the live progress line, the merged results. */
#ifndef KB_RUN_H
#define KB_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "stats.h"

/** Runs cfg's plan on cfg->threads workers and merges their results into stages[0..nstages)
 * and routes[0..cfg->scenario->nroutes) (initialised here). progress: redraw a one-line status on stderr every second. interrupt:
 * polled every 100 ms; once non-zero the workers stop and the partial results are kept
 * (*interrupted set). series (NULL: not kept) gets the run second by second, merged from the
 * workers' own; *run_ns the run's length from its start to the last worker's end. Returns 0,
 * or -errno with a reason in err when a worker failed. */
int kb_run(const kb_config_t *cfg, kb_stats_t *stages, kb_route_stats_t *routes, kb_series_t *series, uint64_t *run_ns,
           bool progress, volatile sig_atomic_t *interrupt, bool *interrupted, char *err, size_t errcap);

#endif
