/* app_shard.h - what keel keeps per shard above the runtime: settings, limits, the open
 * HTTP connections (for draining), the cached Date header and counters. Touched only by
 * the shard's own thread. */
#ifndef KL_APP_SHARD_H
#define KL_APP_SHARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "app/auth.h"
#include "app/config.h"
#include "app/db.h"
#include "app/cache.h"
#include "app/gzip.h"
#include "app/metrics.h"
#include "app/router.h"
#include "core/list.h"
#include "core/shard.h"
#include "proto/http1.h"

typedef struct {
    uint64_t requests;        /**< requests answered */
    uint64_t status_class[6]; /**< responses by status class (index 1..5) */
    uint64_t parse_errors;    /**< requests rejected by the parser */
    uint64_t timeouts;        /**< connections closed by a deadline */
    /* @rate and the connection cap count per instance, not across instances */
    uint64_t rate_limited;    /**< 429s from @rate (rate_full included) */
    uint64_t rate_full;       /**< of those, for want of a free slot in the shared table */
    uint64_t conns_refused;   /**< connections answered 503 over KEEL_MAX_CONNS_PER_IP */
} kl_app_stats_t;

typedef struct kl_app_shard kl_app_shard_t;

struct kl_app_shard {
    kl_shard_t *shard;        /**< the runtime shard this state belongs to */
    kl_db_t *db;              /**< this shard's PostgreSQL connections; NULL without a database.
                                   Its own shard's only: the pool is freed while peers still run */
    _Atomic int db_live;      /**< kl_db_live(db) as of this shard's last loop turn (0 once it
                                   stops): what other threads read instead of db */
    struct kl_replicas *replicas; /**< shared replica state (replica.h); NULL without KEEL_REPLICA_URLS */
    struct kl_replica_shard *replica; /**< this shard's replica pools; NULL without replicas */
    int replica_probe_stmt;   /**< index of the lag probes in dbcfg's statements */
    const kl_db_config_t *dbcfg; /**< shared, read-only; NULL without a database */
    const kl_route_table_t *routes; /**< shared, read-only; NULL without route files */
    const kl_route_table_t *mx_routes; /**< the table keel started with: names the metrics
                                            slots (metrics.h) for the process's life */
    kl_auth_t *auth_process;  /**< shared JWT keys and policy (auth.h); NULL without JWT keys */
    kl_auth_shard_t *auth;    /**< this shard's @auth state (its token cache); NULL without JWT keys */
    kl_cache_t *cache;        /**< this shard's response cache */
    kl_gzip_t *gzip;          /**< this shard's compressor */
    struct kl_sql_fills *fills; /**< in-flight cache fills (sql_cache.c owns it) */
    /* Every shard's state, for /ready (which reads only their db_live). Written before the
     * acceptor starts, so any request (which reaches a shard only through the acceptor)
     * sees them initialised. */
    kl_app_shard_t *peers;
    unsigned npeers;
    const kl_config_t *cfg;   /**< process-wide settings (read-only) */
    struct kl_rate *rate;     /**< @rate counts, shared by every shard (rate_check.h); NULL
                                   when no route has @rate */
    struct kl_clients *clients; /**< peer addresses and the per-address connection cap,
                                     shared (clients.h); NULL when neither is needed */
    size_t rate_sweep_at;     /**< this shard's place in sweeping the @rate table */
    kl_http1_limits_t limits; /**< parser limits from cfg */
    kl_list_t conns;          /**< every open HTTP connection */
    kl_http1_header_t *hdrs;  /**< scratch for the parser: cfg->max_headers fields */
    char date[40];            /**< "Date: <IMF-fixdate>\r\n", refreshed once a second */
    size_t date_len;
    time_t date_sec;
    uint64_t next_req_id;     /**< per-shard counter for generated request ids */
    char id_prefix[32];       /**< "<start time>-<pid>-<shard>-": makes generated ids unique */
    kl_app_stats_t stats;
    char allow[160];          /**< scratch for a 405's Allow value (used at once) */
    kl_db_query_t purge;      /**< shard 0: the expired idempotency keys' purge, once a minute */
    bool purging;             /**< that query is under way */
    time_t purged_at;         /**< wall-clock second it last started */
    kl_io_t reload_io;        /**< MSG_RING target of a route reload (routes_reload.c) */
    _Atomic(struct kl_routes_post *) reload_post; /**< what that reload installs */
    _Atomic unsigned test_stall_ms; /**< set by the main thread (KEEL_TEST_STALL_SHARD_MS test
                                         hook): the loop sleeps this long once, then clears it */
    struct kl_alog *alog;     /**< the access log's writer (access_log.h); NULL when off */
    kl_metrics_t mx;          /**< this shard's counters; other shards read them (metrics.h) */
};

/** Refreshes the cached Date header when the wall-clock second changed. */
void kl_app_shard_tick_date(kl_app_shard_t *as);

#endif
