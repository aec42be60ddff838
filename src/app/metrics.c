#include "app/metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

void kl_mx_init(kl_metrics_t *m, unsigned nslots, const int *stmt_slot, unsigned nstmts) {
    memset(m, 0, sizeof(*m));
    m->nslots = nslots;
    m->routes = kl_calloc(sizeof(kl_mx_route_t) * nslots);
    m->stmt_slot = stmt_slot;
    m->nstmts = nstmts;
}

void kl_mx_free(kl_metrics_t *m) {
    for (unsigned i = 0; i < KL_MX_HTTP_CHUNKS; i++) kl_free(m->_chunks[i]);
    kl_free(m->routes);
    memset(m, 0, sizeof(*m));
}

void kl_mx_observe(kl_mx_hist_t *h, uint64_t ns) {
    size_t i = kl_prom_bucket(kl_prom_buckets, KL_PROM_NBUCKETS, (double)ns / 1e9);
    kl_mx_add(&h->b[i], 1);
    kl_mx_add(&h->sum_ns, ns);
}

unsigned kl_mx_method_index(kl_str_t method) {
    for (unsigned i = 0; i + 1 < NMETHODS; i++)
        if (kl_str_eq(method, methods[i])) return i;
    return NMETHODS - 1;
}

const char *kl_mx_method_name(unsigned i) { return methods[i < NMETHODS ? i : NMETHODS - 1]; }

const char *kl_mx_cache_name(kl_mx_cache_t c) {
    static const char *const names[] = {"", "hit", "miss", "stale", "coalesced"};
    return names[c <= KL_MX_CACHE_COALESCED ? c : 0];
}

/* The series for key, created on first use; NULL when every slot is taken. */
static kl_mx_http_t *http_series(kl_metrics_t *m, uint32_t key) {
    uint32_t h = key * 2654435761u;
    for (uint32_t k = 0; k < KL_MX_HTTP_INDEX; k++) {
        uint16_t *slot = &m->_index[(h + k) & (KL_MX_HTTP_INDEX - 1)];
        if (*slot) {
            uint32_t i = *slot - 1u;
            kl_mx_http_t *s = &m->_chunks[i / KL_MX_HTTP_CHUNK][i % KL_MX_HTTP_CHUNK];
            if (s->key == key) return s;
            continue;
        }
        uint32_t n = atomic_load_explicit(&m->_nhttp, memory_order_relaxed);
        if (n >= KL_MX_HTTP_CHUNK * KL_MX_HTTP_CHUNKS) return NULL;
        kl_mx_http_t **chunk = &m->_chunks[n / KL_MX_HTTP_CHUNK];
        if (!*chunk && !(*chunk = kl_trymalloc(sizeof(kl_mx_http_t) * KL_MX_HTTP_CHUNK))) return NULL;
        kl_mx_http_t *s = &(*chunk)[n % KL_MX_HTTP_CHUNK];
        memset(s, 0, sizeof(*s));
        s->key = key;
        *slot = (uint16_t)(n + 1);
        /* Release: a scrape that sees the new count sees the chunk pointer and the key. */
        atomic_store_explicit(&m->_nhttp, n + 1, memory_order_release);
        return s;
    }
    return NULL;
}

void kl_mx_request(kl_metrics_t *m, int slot, kl_str_t method, int status, uint64_t ns) {
    if (slot < 0 || (unsigned)slot >= m->nslots) return;
    if (status < 100 || status > 999) status = 999;
    uint32_t key = (uint32_t)slot << 14 | kl_mx_method_index(method) << 10 | (uint32_t)status;
    kl_mx_http_t *s = http_series(m, key);
    if (!s) {
        m->http_dropped++;
        return;
    }
    kl_mx_observe(&s->h, ns);
}

void kl_mx_cache(kl_metrics_t *m, int slot, kl_mx_cache_t result) {
    if (slot < 0 || (unsigned)slot >= m->nslots || result == KL_MX_CACHE_NONE) return;
    kl_mx_add(&m->routes[slot].cache[result], 1);
}

void kl_mx_db_error(kl_metrics_t *m, const char *sqlstate) {
    const char *code = sqlstate && *sqlstate ? sqlstate : "none";
    uint32_t n = atomic_load_explicit(&m->_nsqlstates, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(m->_sqlstates[i].code, code)) {
            kl_mx_add(&m->_sqlstates[i].n, 1);
            return;
        }
    if (n == KL_MX_SQLSTATES) {
        kl_mx_add(&m->sqlstate_dropped, 1);
        return;
    }
    kl_mx_sqlstate_t *s = &m->_sqlstates[n];
    snprintf(s->code, sizeof(s->code), "%.5s", code);
    s->n = 1;
    atomic_store_explicit(&m->_nsqlstates, n + 1, memory_order_release); /* publishes code and n */
}
