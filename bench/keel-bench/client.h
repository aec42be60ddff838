/* client.h - one worker thread of a run: its own io_uring (SINGLE_ISSUER, DEFER_TASKRUN where
 * the kernel has them), its share of the connections, and per-stage statistics.
 *
 * Closed model: each virtual user is one connection sending a request (or a --pipeline batch)
 * as soon as the previous response is complete; latency runs from the start of the request
 * (including the connect when the connection had to be opened). Open model: requests are
 * scheduled at a constant rate and given to a free connection of the pool; latency runs from
 * the intended send time (coordinated omission corrected, as wrk2 does), a request that
 * waited 1 ms or more for a connection is counted late, one that never got one is dropped.
 * Every request is accounted to the stage it was scheduled in. Every wait is bounded:
 * --timeout per request, the stage plan, --requests.
 */
#ifndef KB_CLIENT_H
#define KB_CLIENT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "scenario.h"
#include "series.h"
#include "stages.h"
#include "stats.h"

/** Most requests one connection has in flight with --pipeline. */
#define KB_MAX_PIPELINE 64
/** Most worker threads. */
#define KB_MAX_THREADS 256

typedef struct {
    struct sockaddr_storage addr;  /**< the server, resolved once */
    socklen_t addrlen;             /**< its length */
    char host[300];                /**< Host header value (host, plus :port unless 80) */
    const kb_scenario_t *scenario; /**< the request mix; borrowed, lives for the run */
    kb_stage_t stages[KB_MAX_STAGES]; /**< the plan */
    size_t nstages;                /**< >= 1 */
    bool open_model;               /**< stages carry rates instead of user counts */
    uint32_t connections;          /**< open model: connection pool size over all threads */
    unsigned threads;              /**< worker threads, 1..KB_MAX_THREADS */
    uint64_t timeout_ns;           /**< per request: from send (or connect) to complete response */
    uint64_t max_requests;         /**< stop after this many requests over all threads; 0: no bound */
    unsigned pipeline;             /**< closed model: requests per batch on a connection, 1..KB_MAX_PIPELINE */
    uint64_t seed;                 /**< random seed for request picks and templates */
} kb_config_t;

/** State shared by the workers of one run; the atomics are the only cross-thread traffic. */
typedef struct {
    const kb_config_t *cfg;   /**< the run's configuration */
    uint64_t t0_ns;           /**< run start on CLOCK_MONOTONIC, common to every worker */
    _Atomic uint64_t started; /**< requests begun over all threads, checked against max_requests */
    _Atomic int stop;         /**< set (by the main thread on SIGINT) to end the run at once */
} kb_shared_t;

/** A worker's running totals for the progress line (written by the worker, read by main). */
typedef struct {
    _Atomic uint64_t responses; /**< complete responses so far */
    _Atomic uint64_t failures;  /**< transport errors plus status >= 400 so far */
    _Atomic unsigned stage;     /**< index of the stage the worker is in */
    _Atomic int done;           /**< set when the worker has returned */
} kb_progress_t;

/** Runs worker `index` of sh->cfg->threads until the plan ends, the request bound is reached
 * or sh->stop is set, then drains its in-flight requests (each bounded by the timeout).
 * stats has one entry per stage, routes one per scenario route (the whole run), initialised
 * by the caller. series (NULL: not kept) gets every completion by its second since
 * sh->t0_ns. Returns 0, or -errno with a reason in err when the worker could not start
 * (ring setup, memory). */
int kb_worker_run(kb_shared_t *sh, unsigned index, kb_stats_t *stats, kb_route_stats_t *routes, kb_series_t *series,
                  kb_progress_t *prog, char *err, size_t errcap);

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t kb_now_ns(void);

#endif
