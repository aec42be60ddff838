#include "app/admin.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app/config.h"
#include "app/metrics.h"
#include "app/respond.h"
#include "app/sql_cache.h"
#include "app/tags.h"
#include "core/alloc.h"
#include "proto/json.h"
#include "proto/url.h"

/* Largest /metrics text: past this a scrape says 500 rather than cut families short. */
#define METRICS_MAX (16u << 20)

/* ---- a growable text buffer for JSON answers ------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
} text_t;

static void tprintf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text_t *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n) cap *= 2;
        t->p = kl_realloc(t->p, cap);
        t->cap = cap;
    }
}

/* A JSON string's contents (escaped), at most 4 KiB of them. */
static void tjson(text_t *t, const char *s) {
    char esc[4096 * 6 + 1];
    size_t n = strlen(s);
    kl_json_escape(esc, sizeof(esc), s, n > 4096 ? 4096 : n);
    tprintf(t, "%s", esc);
}

static void send_json(kl_request_t *r, int status, text_t *t) {
    kl_respond(r, status, "application/json", "Cache-Control: no-store\r\n", t->p, t->len);
    kl_free(t->p);
}

/* ---- the label a route slot is counted under --------------------------------------------- */

const char *kl_admin_slot_name(const kl_app_shard_t *as, int slot) {
    switch (slot) {
    case KL_MX_SLOT_NONE: return "admin";
    case KL_MX_SLOT_UNMATCHED: return "unmatched";
    case KL_MX_SLOT_HEALTH: return "/health";
    case KL_MX_SLOT_READY: return "/ready";
    case KL_MX_SLOT_METRICS: return "/metrics";
    case KL_MX_SLOT_RELOADED: return "reloaded";
    default: return as->mx_routes ? as->mx_routes->routes[slot - KL_MX_SLOT_ROUTES].def.path : "?";
    }
}

static const char *slot_name(const kl_app_shard_t *as, unsigned slot) { return kl_admin_slot_name(as, (int)slot); }


/* ---- publishing a shard's gauges ------------------------------------------------------- */

void kl_admin_tick(kl_app_shard_t *as) {
    kl_metrics_t *m = &as->mx;
    kl_shard_t *sh = as->shard;
    if (sh->turn_ns > m->_turn_max_ns) m->_turn_max_ns = sh->turn_ns;
    if (sh->now_ms == m->_pub_ms) return;
    if (sh->now_ms / 1000 != m->_pub_ms / 1000) { /* a new second: last second's longest turn */
        atomic_store_explicit(&m->loop_lag_ns, m->_turn_max_ns, memory_order_relaxed);
        m->_turn_max_ns = 0;
    }
    m->_pub_ms = sh->now_ms;
    atomic_store_explicit(&m->conns, sh->conns, memory_order_relaxed);
    atomic_store_explicit(&m->gathered, sh->gathered_waits, memory_order_relaxed);
    if (as->db) {
        int busy, idle, connecting, queued;
        kl_db_pool_counts(as->db, &busy, &idle, &connecting, &queued);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_BUSY], (uint64_t)busy, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_IDLE], (uint64_t)idle, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_CONNECTING], (uint64_t)connecting, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_QUEUE], (uint64_t)queued, __ATOMIC_RELAXED);
        const kl_db_stats_t *ds = kl_db_stats(as->db);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_RECONNECTS], ds->reconnects, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_BATCHES], ds->batches, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_DB_BATCHED], ds->batched, __ATOMIC_RELAXED);
    }
    if (as->cache) {
        const kl_cache_stats_t *cs = kl_cache_stats(as->cache);
        __atomic_store_n(&m->pub[KL_MX_PUB_CACHE_BYTES], cs->bytes, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_CACHE_ENTRIES], cs->entries, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_EVICT_LRU], cs->evictions, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_EVICT_TTL], cs->expired, __ATOMIC_RELAXED);
        __atomic_store_n(&m->pub[KL_MX_PUB_EVICT_TAG], cs->invalidations, __ATOMIC_RELAXED);
    }
}

static uint64_t pub_sum(const kl_app_shard_t *as, int which) {
    uint64_t s = 0;
    for (unsigned i = 0; i < as->npeers; i++) s += kl_mx_load(&as->peers[i].mx.pub[which]);
    return s;
}

/* ---- /metrics --------------------------------------------------------------------------- */

/* One sample of name with a single label. */
static void u64_labelled(kl_prom_out_t *o, const char *name, const char *label, const char *value, uint64_t v) {
    kl_prom_labels_t l;
    kl_prom_labels_init(&l);
    kl_prom_labels_add(&l, label, value, strlen(value));
    kl_prom_u64(o, name, &l, v);
}

/* Adds src's histogram into the scrape's sum; count is then the sum of the buckets read. */
static void hist_add(uint64_t *counts, uint64_t *sum_ns, const kl_mx_hist_t *h) {
    for (size_t i = 0; i <= KL_PROM_NBUCKETS; i++) counts[i] += kl_mx_load(&h->b[i]);
    *sum_ns += kl_mx_load(&h->sum_ns);
}

typedef struct {
    uint32_t key;
    uint64_t counts[KL_PROM_NBUCKETS + 1];
    uint64_t sum_ns;
} http_sum_t;

static int cmp_http(const void *a, const void *b) {
    uint32_t x = ((const http_sum_t *)a)->key, y = ((const http_sum_t *)b)->key;
    return x < y ? -1 : x > y;
}

static void render_http(kl_app_shard_t *as, kl_prom_out_t *o) {
    /* Every shard's series merged by key: sorted arrays, small (a few per route). */
    size_t cap = 0;
    for (unsigned i = 0; i < as->npeers; i++) cap += atomic_load_explicit(&as->peers[i].mx._nhttp, memory_order_acquire);
    http_sum_t *all = kl_calloc(sizeof(http_sum_t) * (cap ? cap : 1));
    size_t n = 0;
    for (unsigned i = 0; i < as->npeers; i++) {
        kl_metrics_t *m = &as->peers[i].mx;
        uint32_t k = atomic_load_explicit(&m->_nhttp, memory_order_acquire);
        for (uint32_t j = 0; j < k && n < cap; j++) {
            const kl_mx_http_t *s = &m->_chunks[j / KL_MX_HTTP_CHUNK][j % KL_MX_HTTP_CHUNK];
            size_t at = 0;
            while (at < n && all[at].key != s->key) at++;
            if (at == n) all[n++].key = s->key;
            hist_add(all[at].counts, &all[at].sum_ns, &s->h);
        }
    }
    qsort(all, n, sizeof(*all), cmp_http);
    kl_prom_labels_t l;
    char status[8];
    kl_prom_family(o, "http_request_duration_seconds", "histogram",
                   "Time from a request's complete head to its response queued, by method, route pattern and status.");
    for (size_t i = 0; i < n; i++) {
        unsigned slot = all[i].key >> 14, method = all[i].key >> 10 & 15, st = all[i].key & 1023;
        const char *route = slot_name(as, slot), *meth = kl_mx_method_name(method);
        kl_prom_labels_init(&l);
        kl_prom_labels_add(&l, "method", meth, strlen(meth));
        kl_prom_labels_add(&l, "route", route, strlen(route));
        snprintf(status, sizeof(status), "%u", st);
        kl_prom_labels_add(&l, "status_code", status, strlen(status));
        kl_prom_histogram(o, "http_request_duration_seconds", &l, kl_prom_buckets, KL_PROM_NBUCKETS, all[i].counts,
                          (double)all[i].sum_ns / 1e9);
    }
    kl_prom_family(o, "http_requests_total", "counter", "Requests answered, by method, route pattern and status.");
    for (size_t i = 0; i < n; i++) {
        unsigned slot = all[i].key >> 14, method = all[i].key >> 10 & 15, st = all[i].key & 1023;
        const char *route = slot_name(as, slot), *meth = kl_mx_method_name(method);
        uint64_t total = 0;
        for (size_t b = 0; b <= KL_PROM_NBUCKETS; b++) total += all[i].counts[b];
        kl_prom_labels_init(&l);
        kl_prom_labels_add(&l, "method", meth, strlen(meth));
        kl_prom_labels_add(&l, "route", route, strlen(route));
        snprintf(status, sizeof(status), "%u", st);
        kl_prom_labels_add(&l, "status_code", status, strlen(status));
        kl_prom_u64(o, "http_requests_total", &l, total);
    }
    kl_free(all);
}

static void render_routes(kl_app_shard_t *as, kl_prom_out_t *o) {
    unsigned nslots = as->mx.nslots;
    kl_prom_labels_t l;
    kl_prom_family(o, "db_query_duration_seconds", "histogram",
                   "Time from a query's send to its answer, by route pattern.");
    for (unsigned s = KL_MX_SLOT_ROUTES; s < nslots; s++) {
        uint64_t counts[KL_PROM_NBUCKETS + 1] = {0}, sum = 0;
        for (unsigned i = 0; i < as->npeers; i++) hist_add(counts, &sum, &as->peers[i].mx.routes[s].db);
        const char *route = slot_name(as, s);
        kl_prom_labels_init(&l);
        kl_prom_labels_add(&l, "route", route, strlen(route));
        kl_prom_histogram(o, "db_query_duration_seconds", &l, kl_prom_buckets, KL_PROM_NBUCKETS, counts, (double)sum / 1e9);
    }
    kl_prom_family(o, "cache_requests_total", "counter",
                   "Lookups of cached (@cache) routes: hit, miss, stale (served while refreshed) or coalesced (waited on a fill under way).");
    for (unsigned s = KL_MX_SLOT_ROUTES; s < nslots; s++) {
        if (!as->mx_routes->routes[s - KL_MX_SLOT_ROUTES].def.cache_ms) continue;
        const char *route = slot_name(as, s);
        for (int c = KL_MX_CACHE_HIT; c <= KL_MX_CACHE_COALESCED; c++) {
            uint64_t v = 0;
            for (unsigned i = 0; i < as->npeers; i++) v += kl_mx_load(&as->peers[i].mx.routes[s].cache[c]);
            const char *res = kl_mx_cache_name((kl_mx_cache_t)c);
            kl_prom_labels_init(&l);
            kl_prom_labels_add(&l, "route", route, strlen(route));
            kl_prom_labels_add(&l, "result", res, strlen(res));
            kl_prom_u64(o, "cache_requests_total", &l, v);
        }
    }
    kl_prom_family(o, "ratelimit_rejected_total", "counter", "Requests refused with 429 by @rate, by route pattern.");
    for (unsigned s = KL_MX_SLOT_ROUTES; s < nslots; s++) {
        if (!as->mx_routes->routes[s - KL_MX_SLOT_ROUTES].def.rate_count) continue;
        uint64_t v = 0;
        for (unsigned i = 0; i < as->npeers; i++) v += kl_mx_load(&as->peers[i].mx.routes[s].rate_rejected);
        const char *route = slot_name(as, s);
        kl_prom_labels_init(&l);
        kl_prom_labels_add(&l, "route", route, strlen(route));
        kl_prom_u64(o, "ratelimit_rejected_total", &l, v);
    }
}

static void render_db(kl_app_shard_t *as, kl_prom_out_t *o) {
    static const char *const states[] = {"busy", "idle", "connecting"};
    kl_prom_family(o, "db_pool_connections", "gauge",
                   "PostgreSQL connections of every shard: busy (queries in flight), idle, connecting.");
    for (int i = 0; i < 3; i++) u64_labelled(o, "db_pool_connections", "state", states[i], pub_sum(as, KL_MX_PUB_DB_BUSY + i));
    kl_prom_family(o, "db_queue_depth", "gauge", "Queries waiting for a connection, every shard.");
    kl_prom_u64(o, "db_queue_depth", NULL, pub_sum(as, KL_MX_PUB_DB_QUEUE));
    uint64_t counts[KL_PROM_NBUCKETS + 1] = {0}, sum = 0;
    for (unsigned i = 0; i < as->npeers; i++) hist_add(counts, &sum, &as->peers[i].mx.db_wait);
    kl_prom_family(o, "db_queue_wait_seconds", "histogram",
                   "Time a query waited for a connection (0 when one was free; millisecond resolution).");
    kl_prom_histogram(o, "db_queue_wait_seconds", NULL, kl_prom_buckets, KL_PROM_NBUCKETS, counts, (double)sum / 1e9);
    /* SQLSTATEs merged across shards: a small list. */
    char codes[KL_MX_SQLSTATES * 4][8];
    uint64_t ns[KL_MX_SQLSTATES * 4];
    size_t n = 0;
    uint64_t other = 0;
    for (unsigned i = 0; i < as->npeers; i++) {
        kl_metrics_t *m = &as->peers[i].mx;
        uint32_t k = atomic_load_explicit(&m->_nsqlstates, memory_order_acquire);
        other += kl_mx_load(&m->sqlstate_dropped);
        for (uint32_t j = 0; j < k; j++) {
            size_t at = 0;
            while (at < n && strcmp(codes[at], m->_sqlstates[j].code)) at++;
            if (at == n) {
                if (n == sizeof(ns) / sizeof(ns[0])) {
                    other += kl_mx_load(&m->_sqlstates[j].n);
                    continue;
                }
                memcpy(codes[n], m->_sqlstates[j].code, sizeof(codes[n]));
                ns[n++] = 0;
            }
            ns[at] += kl_mx_load(&m->_sqlstates[j].n);
        }
    }
    kl_prom_family(o, "db_errors_total", "counter",
                   "Queries that failed, by SQLSTATE; \"none\": failed by keel (no connection in time, connection lost, overload).");
    for (size_t i = 0; i < n; i++) u64_labelled(o, "db_errors_total", "sqlstate", codes[i], ns[i]);
    if (other) u64_labelled(o, "db_errors_total", "sqlstate", "other", other);
    kl_prom_family(o, "db_reconnects_total", "counter", "Times a PostgreSQL connection was lost or failed to connect and was retried.");
    kl_prom_u64(o, "db_reconnects_total", NULL, pub_sum(as, KL_MX_PUB_DB_RECONNECTS));
    kl_prom_family(o, "db_batches_total", "counter", "Batch executions sent: concurrent lookups of one route run as one statement (KEEL_DB_BATCH).");
    kl_prom_u64(o, "db_batches_total", NULL, pub_sum(as, KL_MX_PUB_DB_BATCHES));
    kl_prom_family(o, "db_batched_queries_total", "counter", "Lookups answered by a batch execution.");
    kl_prom_u64(o, "db_batched_queries_total", NULL, pub_sum(as, KL_MX_PUB_DB_BATCHED));
}

static void render_cache(kl_app_shard_t *as, kl_prom_out_t *o) {
    static const char *const reasons[] = {"lru", "ttl", "tag"};
    kl_prom_family(o, "cache_evictions_total", "counter",
                   "Cache entries removed: lru (byte budget), ttl (expired), tag (invalidated or purged).");
    for (int i = 0; i < 3; i++) u64_labelled(o, "cache_evictions_total", "reason", reasons[i], pub_sum(as, KL_MX_PUB_EVICT_LRU + i));
    kl_prom_family(o, "cache_bytes", "gauge", "Bytes the response cache holds (every shard; entries charged with their overhead).");
    kl_prom_u64(o, "cache_bytes", NULL, pub_sum(as, KL_MX_PUB_CACHE_BYTES));
    kl_prom_family(o, "cache_entries", "gauge", "Entries in the response cache, every shard.");
    kl_prom_u64(o, "cache_entries", NULL, pub_sum(as, KL_MX_PUB_CACHE_ENTRIES));
    kl_prom_family(o, "cache_invalidations_total", "counter",
                   "Tags invalidated: local (this shard's own write or a purge), notify (a NOTIFY from any shard or instance).");
    static const char *const sources[] = {"local", "notify"};
    for (int s = 0; s < 2; s++) {
        uint64_t v = 0;
        for (unsigned i = 0; i < as->npeers; i++) v += kl_mx_load(&as->peers[i].mx.invalidations[s]);
        u64_labelled(o, "cache_invalidations_total", "source", sources[s], v);
    }
}

/* /proc/self/stat fields 14 (utime), 15 (stime), 22 (starttime) in clock ticks, 24 (rss pages). */
static bool proc_stat(double *cpu_s, double *start_s, uint64_t *rss) {
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return false;
    unsigned long long v[24] = {0};
    int field = 2; /* p is at the end of field 2 */
    for (char *tok = strtok(p + 1, " "); tok && field < 24; tok = strtok(NULL, " ")) {
        field++;
        v[field - 1] = strtoull(tok, NULL, 10);
    }
    if (field < 24) return false;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(v[13] + v[14]) / hz;
    *rss = v[23] * (uint64_t)sysconf(_SC_PAGESIZE);
    unsigned long long btime = 0;
    if ((f = fopen("/proc/stat", "r"))) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "btime %llu", &btime) == 1) break;
        fclose(f);
    }
    *start_s = (double)btime + (double)v[21] / hz;
    return true;
}

static uint64_t open_fds(void) {
    uint64_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* not the directory's own descriptor */
}

static void render_process(kl_app_shard_t *as, kl_prom_out_t *o) {
    double cpu = 0, start = 0;
    uint64_t rss = 0;
    proc_stat(&cpu, &start, &rss);
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    kl_prom_family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
    kl_prom_f64(o, "process_cpu_seconds_total", NULL, cpu);
    kl_prom_family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    kl_prom_u64(o, "process_resident_memory_bytes", NULL, rss);
    kl_prom_family(o, "process_open_fds", "gauge", "Open file descriptors.");
    kl_prom_u64(o, "process_open_fds", NULL, open_fds());
    kl_prom_family(o, "process_max_fds", "gauge", "Most file descriptors the process may open.");
    kl_prom_u64(o, "process_max_fds", NULL, (uint64_t)rl.rlim_cur);
    kl_prom_family(o, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.");
    kl_prom_f64(o, "process_start_time_seconds", NULL, start);
    kl_prom_family(o, "keel_build_info", "gauge", "keel's version; always 1.");
    u64_labelled(o, "keel_build_info", "version", KL_VERSION, 1);
    char id[16];
    kl_prom_family(o, "keel_shard_connections", "gauge", "Open connections per shard (the admin listener's included).");
    for (unsigned i = 0; i < as->npeers; i++) {
        snprintf(id, sizeof(id), "%u", i);
        u64_labelled(o, "keel_shard_connections", "shard", id, atomic_load_explicit(&as->peers[i].mx.conns, memory_order_relaxed));
    }
    kl_prom_family(o, "keel_shard_loop_lag_seconds", "gauge",
                   "Per shard, the longest event-loop turn (work between two waits) in the last full second: how long a ready event could wait.");
    kl_prom_labels_t l;
    for (unsigned i = 0; i < as->npeers; i++) {
        snprintf(id, sizeof(id), "%u", i);
        kl_prom_labels_init(&l);
        kl_prom_labels_add(&l, "shard", id, strlen(id));
        kl_prom_f64(o, "keel_shard_loop_lag_seconds", &l,
                    (double)atomic_load_explicit(&as->peers[i].mx.loop_lag_ns, memory_order_relaxed) / 1e9);
    }
    kl_prom_family(o, "keel_shard_gathered_waits_total", "counter",
                   "Per shard, event-loop waits that gathered completions for KEEL_GATHER_US: the shard was busy with many connections and awaited no database answer.");
    for (unsigned i = 0; i < as->npeers; i++) {
        snprintf(id, sizeof(id), "%u", i);
        u64_labelled(o, "keel_shard_gathered_waits_total", "shard", id,
                     atomic_load_explicit(&as->peers[i].mx.gathered, memory_order_relaxed));
    }
    uint64_t dropped = 0, alog = 0;
    for (unsigned i = 0; i < as->npeers; i++) {
        dropped += kl_mx_load(&as->peers[i].mx.http_dropped);
        alog += kl_mx_load(&as->peers[i].mx.alog_dropped);
    }
    kl_prom_family(o, "keel_access_log_dropped_total", "counter",
                   "Access-log lines dropped because the log writer fell behind (the shard never waits for it).");
    kl_prom_u64(o, "keel_access_log_dropped_total", NULL, alog);
    kl_prom_family(o, "keel_metrics_dropped_total", "counter",
                   "Requests not counted in http_* because a shard's method/route/status series table was full.");
    kl_prom_u64(o, "keel_metrics_dropped_total", NULL, dropped);
}

void kl_admin_render_metrics(kl_app_shard_t *as, kl_prom_out_t *o) {
    render_http(as, o);
    render_routes(as, o);
    render_db(as, o);
    render_cache(as, o);
    render_process(as, o);
}

void kl_admin_metrics(kl_request_t *r, void *ctx) {
    kl_app_shard_t *as = ctx;
    kl_prom_out_t o;
    for (size_t cap = 256u << 10;; cap *= 2) {
        char *buf = kl_malloc(cap);
        kl_prom_init(&o, buf, cap);
        kl_admin_render_metrics(as, &o);
        if (!o.full) break;
        kl_free(buf);
        if (cap >= METRICS_MAX) {
            kl_respond_error(r, 500, "the metrics text is larger than 16 MiB", NULL);
            return;
        }
    }
    kl_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n", o.buf, o.len);
    kl_free(o.buf);
}

/* ---- GET /cache -------------------------------------------------------------------------- */

static void cache_info(kl_request_t *r, void *ctx) {
    kl_app_shard_t *as = ctx;
    text_t t = {0};
    tprintf(&t, "{\"entries\":%llu,\"bytes\":%llu,\"budgetBytes\":%llu,\"evictions\":{\"lru\":%llu,\"ttl\":%llu,\"tag\":%llu},\"shards\":[",
            (unsigned long long)pub_sum(as, KL_MX_PUB_CACHE_ENTRIES), (unsigned long long)pub_sum(as, KL_MX_PUB_CACHE_BYTES),
            (unsigned long long)as->cfg->cache_mb * 1024 * 1024, (unsigned long long)pub_sum(as, KL_MX_PUB_EVICT_LRU),
            (unsigned long long)pub_sum(as, KL_MX_PUB_EVICT_TTL), (unsigned long long)pub_sum(as, KL_MX_PUB_EVICT_TAG));
    for (unsigned i = 0; i < as->npeers; i++)
        tprintf(&t, "%s{\"shard\":%u,\"entries\":%llu,\"bytes\":%llu}", i ? "," : "", i,
                (unsigned long long)kl_mx_load(&as->peers[i].mx.pub[KL_MX_PUB_CACHE_ENTRIES]),
                (unsigned long long)kl_mx_load(&as->peers[i].mx.pub[KL_MX_PUB_CACHE_BYTES]));
    tprintf(&t, "],\"routes\":[");
    bool first = true;
    for (unsigned s = KL_MX_SLOT_ROUTES; as->mx_routes && s < as->mx.nslots; s++) {
        const kl_route_def_t *d = &as->mx_routes->routes[s - KL_MX_SLOT_ROUTES].def;
        if (!d->cache_ms) continue;
        uint64_t c[5] = {0};
        for (unsigned i = 0; i < as->npeers; i++)
            for (int k = KL_MX_CACHE_HIT; k <= KL_MX_CACHE_COALESCED; k++) c[k] += kl_mx_load(&as->peers[i].mx.routes[s].cache[k]);
        uint64_t total = c[1] + c[2] + c[3] + c[4];
        tprintf(&t, "%s{\"method\":\"%s\",\"route\":\"", first ? "" : ",", d->method_name);
        tjson(&t, d->path);
        /* hit ratio: answers that did not wait for their own query (hit, stale, coalesced) */
        tprintf(&t, "\",\"ttlMs\":%llu,\"hits\":%llu,\"misses\":%llu,\"stale\":%llu,\"coalesced\":%llu,\"hitRatio\":",
                (unsigned long long)d->cache_ms, (unsigned long long)c[1], (unsigned long long)c[2], (unsigned long long)c[3],
                (unsigned long long)c[4]);
        if (total) tprintf(&t, "%.4f}", (double)(c[1] + c[3] + c[4]) / (double)total);
        else tprintf(&t, "null}");
        first = false;
    }
    tprintf(&t, "]}");
    send_json(r, 200, &t);
}

/* ---- POST /cache/purge?tag=T --------------------------------------------------------------- */

typedef struct {
    kl_db_query_t q;
    kl_request_t *r;
    char *tag;
} purge_t;

static void purge_answer(kl_request_t *r, const char *tag, bool notified) {
    text_t t = {0};
    tprintf(&t, "{\"purged\":\"");
    tjson(&t, tag);
    tprintf(&t, "\",\"notified\":%s}", notified ? "true" : "false");
    send_json(r, 200, &t);
}

static void purge_notified(kl_db_query_t *q) {
    purge_t *p = q->ctx;
    if (q->status) {
        char msg[160];
        snprintf(msg, sizeof(msg), "evicted on this shard, but the NOTIFY to the other shards and instances failed (%d)", q->status);
        kl_respond_error(p->r, 503, msg, "Retry-After: 1\r\n");
        return;
    }
    purge_answer(p->r, p->tag, true);
}

static void cache_purge(kl_request_t *r, void *ctx) {
    kl_app_shard_t *as = ctx;
    kl_query_iter_t it;
    kl_str_t k, v;
    char *tag = NULL;
    kl_query_begin(&it, r->query);
    while (kl_query_next(&it, &k, &v)) {
        if (!kl_str_eq(k, "tag")) continue;
        tag = kl_arena_alloc(r->arena, v.len + 1);
        ssize_t n = kl_url_decode(tag, v.base, v.len, true);
        if (n < 0) {
            kl_respond_error(r, 400, "tag is not validly percent-encoded", NULL);
            return;
        }
        tag[n] = '\0';
    }
    /* "*" purges everything (KL_DB_NOTIFY_ALL); a tag never holds the list separator. */
    if (!tag || !*tag || strlen(tag) > KL_TAGS_MAX || strchr(tag, KL_TAGS_SEP)) {
        kl_respond_error(r, 400, "give the tag to purge as ?tag=... (1 to 200 bytes, no newline; * purges everything)", NULL);
        return;
    }
    bool all = !strcmp(tag, KL_DB_NOTIFY_ALL);
    /* This shard at once, so the next request it serves is a miss; the others (and every
     * other instance on the database) through the same NOTIFY that writes send. */
    kl_sql_cache_invalidate(as, (kl_str_t){tag, strlen(tag)}, all);
    kl_mx_add(&as->mx.invalidations[0], 1);
    if (!as->db) {
        purge_answer(r, tag, false);
        return;
    }
    kl_request_defer(r);
    purge_t *p = kl_arena_alloc(r->arena, sizeof(*p));
    p->r = r;
    p->tag = tag;
    p->q = (kl_db_query_t){.stmt = KL_DB_STMT_NONE, .notify = tag, .done = purge_notified, .ctx = p};
    kl_db_submit(as->db, &p->q);
}

/* ---- GET /routes --------------------------------------------------------------------------- */

static void tlist(text_t *t, const char *const *items, size_t n) {
    tprintf(t, "[");
    for (size_t i = 0; i < n; i++) {
        tprintf(t, "%s\"", i ? "," : "");
        tjson(t, items[i]);
        tprintf(t, "\"");
    }
    tprintf(t, "]");
}

static void routes_info(kl_request_t *r, void *ctx) {
    kl_app_shard_t *as = ctx;
    static const char *const auth[] = {"none", "optional", "required"};
    static const char *const returns[] = {"one", "many", "none"};
    static const char *const per[] = {"default", "ip", "sub", "claim"};
    static const char *const idem[] = {"no", "optional", "required"};
    text_t t = {0};
    tprintf(&t, "[");
    for (size_t i = 0; as->routes && i < as->routes->n; i++) {
        const kl_route_def_t *d = &as->routes->routes[i].def;
        tprintf(&t, "%s{\"method\":\"%s\",\"pattern\":\"", i ? "," : "", d->method_name);
        tjson(&t, d->path);
        tprintf(&t, "\",\"file\":\"");
        tjson(&t, d->file);
        tprintf(&t, "\",\"auth\":\"%s\",\"returns\":\"%s\",\"status\":%d,", auth[d->auth % 3], returns[d->returns % 3], d->status);
        if (d->cache_ms)
            tprintf(&t, "\"cache\":{\"ttlMs\":%llu,\"swrMs\":%llu,\"private\":%s},", (unsigned long long)d->cache_ms,
                    (unsigned long long)d->swr_ms, d->cache_private ? "true" : "false");
        else tprintf(&t, "\"cache\":null,");
        if (d->rate_count)
            tprintf(&t, "\"rate\":{\"count\":%u,\"periodMs\":%llu,\"burst\":%u,\"per\":\"%s\"},", d->rate_count,
                    (unsigned long long)d->rate_period_ms, d->rate_burst, per[d->rate_per % 4]);
        else tprintf(&t, "\"rate\":null,");
        tprintf(&t, "\"tags\":");
        tlist(&t, d->tags, d->n_tags);
        tprintf(&t, ",\"invalidates\":");
        tlist(&t, d->invalidates, d->n_invalidates);
        tprintf(&t, ",\"timeoutMs\":%llu,\"idempotent\":\"%s\",\"body\":%s}", (unsigned long long)d->timeout_ms,
                idem[d->idempotent % 3], d->has_body ? "true" : "false");
    }
    tprintf(&t, "]");
    send_json(r, 200, &t);
}

/* ---- POST /routes/reload ----------------------------------------------------------------------- */

/* The reload blocks (it checks the SQL on a connection of its own and waits for every shard
 * to swap, this one included), so it runs where SIGHUP runs it: on the main thread, which
 * takes the signal (blocked in every thread) from the process's pending set. The outcome is
 * in the log and in GET /routes. */
static void routes_reload(kl_request_t *r, void *ctx) {
    (void)ctx;
    text_t t = {0};
    if (kill(getpid(), SIGHUP) < 0) {
        kl_respond_error(r, 500, "cannot signal this process to reload", NULL);
        return;
    }
    tprintf(&t, "{\"reload\":\"started\",\"see\":\"GET /routes, and the log line routes reloaded or route reload failed\"}");
    send_json(r, 202, &t);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

int kl_admin_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow) {
    bool get = kl_str_eq(r->method, "GET") || kl_str_eq(r->method, "HEAD");
    r->mx_slot = KL_MX_SLOT_NONE; /* the admin listener's own requests are not counted */
    if (kl_str_eq(r->path, "/health") || kl_str_eq(r->path, "/ready")) {
        int st = kl_dispatch_resolve(as, r, h, allow); /* the same answers as on the public port */
        r->mx_slot = KL_MX_SLOT_NONE;
        return st;
    }
    void (*fn)(kl_request_t *, void *) = NULL;
    const char *methods = "GET, HEAD";
    if (kl_str_eq(r->path, "/metrics")) fn = kl_admin_metrics;
    else if (kl_str_eq(r->path, "/cache")) fn = cache_info;
    else if (kl_str_eq(r->path, "/routes")) fn = routes_info;
    else if (kl_str_eq(r->path, "/cache/purge")) {
        methods = "POST";
        get = kl_str_eq(r->method, "POST");
        fn = cache_purge;
    } else if (kl_str_eq(r->path, "/routes/reload")) {
        methods = "POST";
        get = kl_str_eq(r->method, "POST");
        fn = routes_reload;
    }
    if (!fn) return 404;
    if (!get) {
        *allow = methods;
        return 405;
    }
    *h = (kl_handler_t){.fn = fn, .ctx = as};
    return 0;
}
