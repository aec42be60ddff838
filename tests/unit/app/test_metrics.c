#include "app/metrics.h"

#include "kt.h"

static uint64_t series_count(kl_metrics_t *m, int slot, unsigned method, int status) {
    uint32_t key = (uint32_t)slot << 14 | method << 10 | (uint32_t)status, n = atomic_load(&m->_nhttp);
    for (uint32_t i = 0; i < n; i++) {
        const kl_mx_http_t *s = &m->_chunks[i / KL_MX_HTTP_CHUNK][i % KL_MX_HTTP_CHUNK];
        if (s->key != key) continue;
        uint64_t c = 0;
        for (size_t b = 0; b <= KL_PROM_NBUCKETS; b++) c += s->h.b[b];
        return c;
    }
    return 0;
}

static void requests_make_one_series_per_triple(void) {
    kl_metrics_t m;
    kl_mx_init(&m, KL_MX_SLOT_ROUTES + 2, NULL, 0);
    for (int i = 0; i < 10; i++) kl_mx_request(&m, KL_MX_SLOT_ROUTES, KL_STR("GET"), 200, 1000000);
    kl_mx_request(&m, KL_MX_SLOT_ROUTES, KL_STR("GET"), 404, 1000);
    kl_mx_request(&m, KL_MX_SLOT_ROUTES + 1, KL_STR("BREW"), 200, 20000000000ull); /* 20 s: above every bound */
    kl_mx_request(&m, KL_MX_SLOT_NONE, KL_STR("GET"), 200, 1);                       /* not counted */
    kl_mx_request(&m, KL_MX_SLOT_ROUTES + 2, KL_STR("GET"), 200, 1);                 /* no such slot */
    KT_EQ(atomic_load(&m._nhttp), 3);
    KT_EQ(series_count(&m, KL_MX_SLOT_ROUTES, 0, 200), 10);
    KT_EQ(series_count(&m, KL_MX_SLOT_ROUTES, 0, 404), 1);
    unsigned other = kl_mx_method_index(KL_STR("BREW"));
    KT_CHECK(!strcmp(kl_mx_method_name(other), "OTHER"));
    KT_EQ(series_count(&m, KL_MX_SLOT_ROUTES + 1, other, 200), 1);
    const kl_mx_http_t *slow = &m._chunks[0][2];
    KT_EQ(slow->h.b[KL_PROM_NBUCKETS], 1);
    KT_EQ(slow->h.sum_ns, 20000000000ull);
    kl_mx_free(&m);
}

static void series_table_fills_without_losing_counts(void) {
    kl_metrics_t m;
    kl_mx_init(&m, 64, NULL, 0);
    uint64_t sent = 0;
    for (int slot = 0; slot < 64; slot++)
        for (int st = 100; st < 200; st++, sent++) kl_mx_request(&m, slot, KL_STR("GET"), st, 1);
    KT_EQ(atomic_load(&m._nhttp), KL_MX_HTTP_CHUNK * KL_MX_HTTP_CHUNKS);
    KT_EQ(m.http_dropped, sent - KL_MX_HTTP_CHUNK * KL_MX_HTTP_CHUNKS);
    kl_mx_request(&m, 0, KL_STR("GET"), 100, 1); /* an existing series still counts */
    KT_EQ(series_count(&m, 0, 0, 100), 2);
    kl_mx_free(&m);
}

static void sqlstates_and_cache(void) {
    kl_metrics_t m;
    kl_mx_init(&m, KL_MX_SLOT_ROUTES + 1, NULL, 0);
    kl_mx_db_error(&m, "22012");
    kl_mx_db_error(&m, "22012");
    kl_mx_db_error(&m, "");
    KT_EQ(atomic_load(&m._nsqlstates), 2);
    KT_CHECK(!strcmp(m._sqlstates[0].code, "22012") && m._sqlstates[0].n == 2);
    KT_CHECK(!strcmp(m._sqlstates[1].code, "none") && m._sqlstates[1].n == 1);
    char code[8];
    for (int i = 0; i < KL_MX_SQLSTATES + 5; i++) {
        snprintf(code, sizeof(code), "X%04d", i);
        kl_mx_db_error(&m, code);
    }
    KT_EQ(atomic_load(&m._nsqlstates), KL_MX_SQLSTATES);
    KT_EQ(m.sqlstate_dropped, 7);
    kl_mx_cache(&m, KL_MX_SLOT_ROUTES, KL_MX_CACHE_HIT);
    kl_mx_cache(&m, KL_MX_SLOT_ROUTES, KL_MX_CACHE_COALESCED);
    kl_mx_cache(&m, KL_MX_SLOT_ROUTES + 1, KL_MX_CACHE_HIT); /* no such slot */
    KT_EQ(m.routes[KL_MX_SLOT_ROUTES].cache[KL_MX_CACHE_HIT], 1);
    KT_EQ(m.routes[KL_MX_SLOT_ROUTES].cache[KL_MX_CACHE_COALESCED], 1);
    KT_CHECK(!strcmp(kl_mx_cache_name(KL_MX_CACHE_STALE), "stale"));
    kl_mx_free(&m);
}

int main(void) {
    KT_RUN(requests_make_one_series_per_triple);
    KT_RUN(series_table_fills_without_losing_counts);
    KT_RUN(sqlstates_and_cache);
    return KT_DONE();
}
