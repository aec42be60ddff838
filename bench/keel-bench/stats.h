/* stats.h - what one stage of a run measured: latencies, counts, the error breakdown.
 * Each worker thread fills its own; they are merged once the threads have ended. */
#ifndef KB_STATS_H
#define KB_STATS_H

#include <stdint.h>

#include "hist.h"

typedef enum {
    KB_ERR_CONNECT,  /**< the connection could not be established */
    KB_ERR_WRITE,    /**< sending the request failed */
    KB_ERR_READ,     /**< the connection failed or closed before the response was complete */
    KB_ERR_PROTOCOL, /**< the response was not valid HTTP/1.x */
    KB_ERR_TIMEOUT,  /**< no complete response within --timeout */
    KB_ERR_KINDS,
} kb_err_kind_t;

/** Names of the error kinds as used in the report and the JSON ("connect", ...). */
extern const char *const kb_err_names[KB_ERR_KINDS];

typedef struct {
    kb_hist_t hist;                  /**< latency (ns) of every complete response, any status; after
                                          kb_stats_co_correct, corrected for coordinated omission */
    kb_hist_t hist_ok;               /**< latency (ns) of the successful responses (status < 400)
                                          alone, never corrected: what accepted requests saw
                                          when others were refused (e.g. shed with 503) */
    uint64_t sent;                   /**< requests begun (connect or send started) */
    uint64_t responses;              /**< complete responses, any status */
    uint64_t errors[KB_ERR_KINDS];   /**< requests that got no complete response, by cause */
    uint64_t status[600];            /**< responses by status code (100..599) */
    uint64_t bytes_rx;               /**< bytes received */
    uint64_t bytes_tx;               /**< bytes sent */
    uint64_t scheduled;              /**< open model: requests whose intended time fell in the stage */
    uint64_t late;                   /**< open model: sent 1 ms or more after their intended time */
    uint64_t dropped;                /**< open model: scheduled but never sent (no free connection) */
    uint64_t max_lag_ns;             /**< open model: largest send delay behind schedule */
    uint64_t start_ns;               /**< stage start (monotonic clock) */
    uint64_t end_ns;                 /**< when the stage's last request finished, capped at the stage's end */
} kb_stats_t;

/** What one route of a scenario (its request lines of one name) got over the whole run. */
typedef struct {
    kb_hist_t hist;                  /**< latency (ns) of its complete responses, any status, as measured */
    uint64_t sent;                   /**< requests begun */
    uint64_t responses;              /**< complete responses, any status */
    uint64_t errors[KB_ERR_KINDS];   /**< requests that got no complete response, by cause */
    uint64_t classes[6];             /**< responses by status class: [2] 2xx ... [5] 5xx ([1] unused) */
} kb_route_stats_t;

/** Empties s. */
void kb_stats_init(kb_stats_t *s);

/** Empties r. */
void kb_route_init(kb_route_stats_t *r);

/** Counts one complete response with status (100..599) that took ns. */
void kb_route_response(kb_route_stats_t *r, int status, uint64_t ns);

/** Adds src into dst. */
void kb_route_merge(kb_route_stats_t *dst, const kb_route_stats_t *src);

/** Requests of r that failed: transport errors plus responses with status >= 400. */
uint64_t kb_route_failed(const kb_route_stats_t *r);

/** Requests of r that finished (a response, or a transport error). */
uint64_t kb_route_finished(const kb_route_stats_t *r);

/** Adds src into dst; the window becomes the union of both. */
void kb_stats_merge(kb_stats_t *dst, const kb_stats_t *src);

/** Responses with status >= 400. */
uint64_t kb_stats_http_errors(const kb_stats_t *s);

/** Successful responses: complete, with a status below 400 (the JSON's `ok`). */
uint64_t kb_stats_ok(const kb_stats_t *s);

/** Requests that finished (a response, or a transport error). */
uint64_t kb_stats_finished(const kb_stats_t *s);

/** Failed requests (transport errors plus status >= 400) / finished; 0 when none finished. */
double kb_stats_error_rate(const kb_stats_t *s);

/** Seconds the stage's window spans (at least 1 ms). */
double kb_stats_seconds(const kb_stats_t *s);

/** Closed model: the expected interval (ns) for s's coordinated-omission correction, the mean
 * time one request slot takes per request: concurrency * seconds / responses, i.e.
 * concurrency / RPS (concurrency: VUs x pipeline depth; wrk's runtime / (complete /
 * connections)). 0 when there were no responses. */
uint64_t kb_stats_co_interval(const kb_stats_t *s, uint64_t concurrency);

/** Closed model, after the run: copies the as-measured latencies of s into *measured and
 * replaces s->hist with them corrected for coordinated omission with interval_ns
 * (kb_hist_correct); interval 0 leaves s->hist as measured. */
void kb_stats_co_correct(kb_stats_t *s, uint64_t interval_ns, kb_hist_t *measured);

#endif
