/* top_model.h - what `keel top` shows, computed from two scrapes of /metrics: per route
 * requests/s, p50/p99 over the interval (from the http_request_duration_seconds bucket
 * deltas, interpolated inside a bucket as Prometheus' histogram_quantile does), 4xx and 5xx
 * per second and the cache hit ratio; the database pool and queue; per shard connections and
 * loop lag. Pure apart from the caller's buffers: a snapshot is a fixed-size struct (routes,
 * buckets and shards beyond the caps are counted, not kept), so hostile /metrics output
 * cannot grow memory. */
#ifndef KL_TOP_MODEL_H
#define KL_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define KL_TOP_MAX_ROUTES 128
#define KL_TOP_MAX_BUCKETS 48
#define KL_TOP_MAX_SHARDS 256
#define KL_TOP_NAME 160

typedef struct {
    char method[16];                    /**< method label ("" when absent) */
    char route[KL_TOP_NAME];            /**< route label: the route pattern */
    double requests;                    /**< http_requests_total summed over status codes */
    double s4xx, s5xx;                  /**< of which status_code 4xx, 5xx */
    size_t nb;                          /**< buckets, by increasing le */
    double le[KL_TOP_MAX_BUCKETS];      /**< upper bounds (seconds; the last may be +Inf) */
    double cum[KL_TOP_MAX_BUCKETS];     /**< cumulative counts summed over status codes */
} kl_top_route_t;

typedef struct {
    char route[KL_TOP_NAME]; /**< route label */
    double hits;             /**< cache_requests_total{result="hit"} */
    double total;            /**< every result (hit, miss, stale, coalesced) */
} kl_top_cache_t;

typedef struct {
    char id[16];   /**< shard label */
    double conns;  /**< keel_shard_connections */
    double lag;    /**< keel_shard_loop_lag_seconds; NAN when not reported */
} kl_top_shard_t;

typedef struct {
    kl_top_route_t routes[KL_TOP_MAX_ROUTES]; /**< (method, route) pairs seen */
    size_t nroutes;
    kl_top_cache_t caches[KL_TOP_MAX_ROUTES]; /**< routes with cache counters */
    size_t ncaches;
    kl_top_shard_t shards[KL_TOP_MAX_SHARDS]; /**< in the order first seen */
    size_t nshards;
    size_t dropped;         /**< series not kept because a cap was reached */
    double pool_busy, pool_idle, pool_connecting; /**< db_pool_connections{state}; NAN when absent */
    double queue_depth;     /**< db_queue_depth; NAN when absent */
    double db_errors;       /**< db_errors_total summed over sqlstates; NAN when absent */
    double cpu_seconds;     /**< process_cpu_seconds_total; NAN when absent */
    double rss_bytes;       /**< process_resident_memory_bytes; NAN when absent */
    double start_time;      /**< process_start_time_seconds; NAN when absent */
    char version[32];       /**< keel_build_info{version} */
    size_t samples;         /**< sample lines read */
} kl_top_snapshot_t;

/** One row of the route table. Figures that need a previous scrape are NAN without one. */
typedef struct {
    const char *method, *route; /**< point into the current snapshot */
    double rps;                 /**< requests/s over the interval */
    double p50, p99;            /**< seconds, over the interval's requests; NAN when there were none */
    double e4xx, e5xx;          /**< 4xx and 5xx responses/s */
    double hit_ratio;           /**< cache hits / cache lookups over the interval (since start when none); NAN: no cache */
    double requests;            /**< requests since keel started */
} kl_top_row_t;

/** Parses a whole /metrics body (body[0..len), text format 0.0.4; a last line without '\n'
 * is read too) into s. Unknown families are ignored. Returns 0, or -EINVAL with the line
 * number and a reason in err when a line is not valid. */
int kl_top_snapshot_parse(kl_top_snapshot_t *s, const char *body, size_t len, char *err, size_t errcap);

/** Rows for every route of cur (prev NULL: the first scrape, rates unknown), dt seconds after
 * prev, sorted by requests/s then requests, most first. Returns how many (<= cap). */
size_t kl_top_rows(const kl_top_snapshot_t *prev, const kl_top_snapshot_t *cur, double dt, kl_top_row_t *rows, size_t cap);

/** The q-quantile (0..1) of the requests counted between two cumulative histograms (le
 * ascending; prev NULL or prev_nb 0: since start): histogram_quantile's interpolation, the
 * largest finite bound when it falls in +Inf. NAN when no request fell in between. */
double kl_top_quantile(const double *le, const double *cum, size_t nb, const double *prev_le, const double *prev_cum,
                       size_t prev_nb, double q);

#endif
