/* bench_metrics.c - what /metrics costs: counting one request on the hot path
 * (kl_mx_request: series lookup, bucket, two relaxed stores), and one scrape
 * (kl_admin_render_metrics) over 4 shards of 50 routes with 3 statuses each, every
 * histogram populated: the work the shard serving a scrape does. Fixed iteration counts
 * on the real clock; prints figures only, asserts nothing. */
#include "micro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/admin.h"
#include "app/metrics.h"
#include "core/alloc.h"

#define SHARDS 4
#define ROUTES 50
#define REQS 20000000
#define SCRAPES 200

int main(void) {
    static kl_app_shard_t apps[SHARDS];
    kl_route_table_t routes = {.routes = kl_calloc(sizeof(kl_route_t) * ROUTES), .n = ROUTES};
    char paths[ROUTES][48];
    for (int i = 0; i < ROUTES; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/api/things%d/{id:int}", i);
        routes.routes[i].def.path = paths[i];
        routes.routes[i].def.method_name = "GET";
        routes.routes[i].def.cache_ms = i % 2 ? 60000 : 0;
        routes.routes[i].def.rate_count = i % 5 ? 0 : 10;
    }
    for (int s = 0; s < SHARDS; s++) {
        apps[s].peers = apps;
        apps[s].npeers = SHARDS;
        apps[s].routes = &routes;
        kl_mx_init(&apps[s].mx, KL_MX_SLOT_ROUTES + ROUTES, NULL, 0);
    }
    static const int statuses[] = {200, 404, 503};
    double t0 = now();
    for (uint64_t i = 0; i < REQS; i++)
        kl_mx_request(&apps[i % SHARDS].mx, KL_MX_SLOT_ROUTES + (int)(i % ROUTES), KL_STR("GET"), statuses[i % 3],
                      (i * 7919) % 20000000);
    double dt = now() - t0;
    printf("metrics\n  %-52s %12.0f ops/s %9.1f ns/op\n", "kl_mx_request (count one request)", REQS / dt, dt * 1e9 / REQS);
    for (int s = 0; s < SHARDS; s++)
        for (int r = 0; r < ROUTES; r++) {
            kl_mx_observe(&apps[s].mx.routes[KL_MX_SLOT_ROUTES + r].db, 1234567);
            kl_mx_cache(&apps[s].mx, KL_MX_SLOT_ROUTES + r, KL_MX_CACHE_HIT);
        }
    size_t cap = 4u << 20, bytes = 0;
    char *buf = kl_malloc(cap);
    t0 = now();
    for (int i = 0; i < SCRAPES; i++) {
        kl_prom_out_t o;
        kl_prom_init(&o, buf, cap);
        kl_admin_render_metrics(&apps[0], &o);
        bytes = o.len;
    }
    dt = now() - t0;
    printf("  %-52s %12.0f us/op (%zu bytes)\n", "one scrape: 4 shards x 50 routes x 3 statuses", dt * 1e6 / SCRAPES, bytes);
    kl_free(buf);
    for (int s = 0; s < SHARDS; s++) kl_mx_free(&apps[s].mx);
    kl_free(routes.routes);
    return 0;
}
