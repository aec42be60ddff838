/* metrics.h - keel's counters for /metrics, kept per shard and summed when scraped.
 *
 * No lock and no shared cache line on the request path: every counter lives in its shard's
 * kl_metrics_t and is written only by that shard's thread, with relaxed atomic stores of
 * plain 64-bit words (an ordinary `add` on x86-64, no lock prefix). A scrape, on whichever
 * shard serves it, reads every shard's counters with relaxed atomic loads: each word is
 * whole, and a histogram's count is the sum of its buckets as read, so +Inf equals _count
 * in every scrape. New series (an HTTP method/route/status triple seen for the first time,
 * an SQLSTATE) are appended in chunks that are never moved, and published with a release
 * store of the series count, which the scrape reads with acquire. */
#ifndef KL_METRICS_H
#define KL_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"
#include "proto/prom.h"

/** Route slots: the label a request is counted under. Route i of the table keel started with
 * is KL_MX_SLOT_ROUTES + i for the process's life (the per-shard arrays are sized once, and
 * scrapes read them from other threads); a route a reload added counts under
 * KL_MX_SLOT_RELOADED (route="reloaded") until the next restart. */
enum { KL_MX_SLOT_UNMATCHED, KL_MX_SLOT_HEALTH, KL_MX_SLOT_READY, KL_MX_SLOT_METRICS, KL_MX_SLOT_RELOADED,
       KL_MX_SLOT_ROUTES };
/** A request that is not counted at all (the admin listener's own). */
#define KL_MX_SLOT_NONE (-1)

/** How a cached route answered (cache_requests_total's result label; the access log's cache). */
typedef enum { KL_MX_CACHE_NONE, KL_MX_CACHE_HIT, KL_MX_CACHE_MISS, KL_MX_CACHE_STALE, KL_MX_CACHE_COALESCED } kl_mx_cache_t;

#define KL_MX_HTTP_CHUNK 64     /* series per chunk */
#define KL_MX_HTTP_CHUNKS 64    /* at most 4096 method/route/status series per shard */
#define KL_MX_HTTP_INDEX 8192   /* shard-private hash index over them (power of two) */
#define KL_MX_SQLSTATES 64      /* distinct SQLSTATEs counted per shard */

/** A latency histogram over kl_prom_buckets: b[i] non-cumulative, b[KL_PROM_NBUCKETS] above all. */
typedef struct {
    uint64_t b[KL_PROM_NBUCKETS + 1];
    uint64_t sum_ns;
} kl_mx_hist_t;

/** One http_request_duration_seconds / http_requests_total series. */
typedef struct {
    uint32_t key; /**< slot << 14 | method << 10 | status */
    kl_mx_hist_t h;
} kl_mx_http_t;

/** Per route slot. */
typedef struct {
    kl_mx_hist_t db;        /**< db_query_duration_seconds */
    uint64_t cache[5];      /**< cache_requests_total by kl_mx_cache_t (0 unused) */
    uint64_t rate_rejected; /**< ratelimit_rejected_total */
} kl_mx_route_t;

typedef struct {
    char code[8];           /**< SQLSTATE, or "none" for failures keel raised itself */
    uint64_t n;
} kl_mx_sqlstate_t;

/** Gauges and counters a shard copies from its pool and cache (kl_admin_tick). */
enum {
    KL_MX_PUB_DB_BUSY, KL_MX_PUB_DB_IDLE, KL_MX_PUB_DB_CONNECTING, KL_MX_PUB_DB_QUEUE, KL_MX_PUB_DB_RECONNECTS, KL_MX_PUB_DB_BATCHES, KL_MX_PUB_DB_BATCHED,
    KL_MX_PUB_CACHE_BYTES, KL_MX_PUB_CACHE_ENTRIES, KL_MX_PUB_EVICT_LRU, KL_MX_PUB_EVICT_TTL, KL_MX_PUB_EVICT_TAG,
    KL_MX_PUB_N
};

/** One shard's counters. */
typedef struct kl_metrics {
    kl_mx_http_t *_chunks[KL_MX_HTTP_CHUNKS];
    _Atomic uint32_t _nhttp;        /* published series; release by the shard, acquire by scrapes */
    uint16_t _index[KL_MX_HTTP_INDEX]; /* shard-private: series index + 1, 0 empty */
    uint64_t http_dropped;          /**< requests not counted: every series slot was taken */
    kl_mx_route_t *routes;          /**< nslots entries */
    unsigned nslots;
    const int *stmt_slot;           /**< statement index -> route slot (-1: keel's own); shared */
    unsigned nstmts;
    kl_mx_hist_t db_wait;           /**< db_queue_wait_seconds */
    kl_mx_sqlstate_t _sqlstates[KL_MX_SQLSTATES];
    _Atomic uint32_t _nsqlstates;
    uint64_t sqlstate_dropped;      /**< errors whose SQLSTATE found no free slot (counted as "other") */
    uint64_t invalidations[2];      /**< cache_invalidations_total: [0] local, [1] notify */
    uint64_t alog_dropped;          /**< access-log lines dropped because the writer fell behind */
    uint64_t pub[KL_MX_PUB_N];      /**< published by kl_admin_tick */
    uint64_t _pub_ms;               /* shard-private: when pub was last refreshed */
    _Atomic uint64_t loop_lag_ns;   /**< longest loop turn of the last second */
    _Atomic uint32_t conns;         /**< open connections, published once per loop turn */
    _Atomic uint64_t gathered;      /**< the shard's gathered waits, published with conns */
    uint64_t _turn_max_ns, _turn_start_ns; /* shard-private: this second's longest turn */
} kl_metrics_t;

/** Adds v to a counter written only by the calling shard (a plain add; see above). */
static inline void kl_mx_add(uint64_t *c, uint64_t v) {
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
/** Reads a counter another shard writes. */
static inline uint64_t kl_mx_load(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }

/** Sets m up for nslots route slots; stmt_slot maps nstmts statements to slots (shared). */
void kl_mx_init(kl_metrics_t *m, unsigned nslots, const int *stmt_slot, unsigned nstmts);
/** Frees what kl_mx_init allocated. Only once no scrape can read m (after every shard stopped). */
void kl_mx_free(kl_metrics_t *m);
/** Adds one observation of ns nanoseconds to h. */
void kl_mx_observe(kl_mx_hist_t *h, uint64_t ns);
/** Counts one answered request of route slot (KL_MX_SLOT_NONE: not counted). */
void kl_mx_request(kl_metrics_t *m, int slot, kl_str_t method, int status, uint64_t ns);
/** Counts one cache lookup of a route slot. */
void kl_mx_cache(kl_metrics_t *m, int slot, kl_mx_cache_t result);
/** Counts one database error by SQLSTATE ("" = raised by keel: no connection, timeout). */
void kl_mx_db_error(kl_metrics_t *m, const char *sqlstate);
/** The method label index of a request method (GET .. OPTIONS, else OTHER). */
unsigned kl_mx_method_index(kl_str_t method);
/** The label text of method index i. */
const char *kl_mx_method_name(unsigned i);
/** The label text of a cache result. */
const char *kl_mx_cache_name(kl_mx_cache_t c);

#endif
