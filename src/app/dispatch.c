#include "app/dispatch.h"

#include <stdio.h>

#include "app/admin.h"
#include "app/represent.h"
#include "app/respond.h"
#include "app/routes_gen.h"
#include "app/sql_handler.h"

static void health(kl_request_t *r, void *ctx) {
    (void)ctx;
    kl_rep_t rep = {.status = 200, .body = KL_STR("{\"status\":\"ok\"}"), .cache_control = "no-store", .age_s = -1};
    kl_rep_prepare(r, &rep, NULL); /* every 200 GET carries an ETag; far below the gzip threshold */
    kl_rep_send(r, &rep);
}

static int live_of(const kl_app_shard_t *p) { return atomic_load_explicit(&p->db_live, memory_order_relaxed); }

/* Readiness: every shard holds at least one prepared database connection. Reads the
 * other shards' published live counts (atomics), never their pools: a stopping shard frees
 * its pool while this one may still answer. */
static void ready(kl_request_t *r, void *ctx) {
    kl_app_shard_t *as = ctx;
    bool ok = true;
    for (unsigned i = 0; i < as->npeers; i++)
        if (as->peers[i].dbcfg && live_of(&as->peers[i]) == 0) ok = false;
    /* Sized for the shard count: at most 48 bytes per shard entry, 80 around them. */
    size_t cap = 80 + (size_t)as->npeers * 48;
    char *body = kl_arena_alloc(r->arena, cap);
    size_t n = (size_t)snprintf(body, cap, "{\"status\":\"%s\",\"database\":\"%s\",\"shards\":[",
                                ok ? "ready" : "not ready", !as->dbcfg ? "not configured" : ok ? "up" : "down");
    for (unsigned i = 0; i < as->npeers; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s{\"shard\":%u,\"dbConnections\":%d}", i ? "," : "", i,
                              live_of(&as->peers[i]));
    n += (size_t)snprintf(body + n, cap - n, "]}");
    if (!ok) {
        kl_respond(r, 503, "application/json", "Cache-Control: no-store\r\nRetry-After: 1\r\n", body, n);
        return;
    }
    kl_rep_t rep = {.status = 200, .body = {body, n}, .cache_control = "no-store", .age_s = -1};
    kl_rep_prepare(r, &rep, as->gzip);
    kl_rep_send(r, &rep);
}

static bool is_get_or_head(const kl_request_t *r) {
    return kl_str_eq(r->method, "GET") || kl_str_eq(r->method, "HEAD");
}

int kl_dispatch_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow) {
    if (kl_str_eq(r->path, "/health") || kl_str_eq(r->path, "/ready")) {
        r->mx_slot = r->path.len == 7 ? KL_MX_SLOT_HEALTH : KL_MX_SLOT_READY;
        if (!is_get_or_head(r)) {
            *allow = "GET, HEAD";
            return 405;
        }
        *h = r->path.len == 7 ? (kl_handler_t){.fn = health} : (kl_handler_t){.fn = ready, .ctx = as};
        return 0;
    }
    /* The admin listener's endpoints stay off the public port, but for /metrics on request. */
    if (as->cfg->metrics_public && kl_str_eq(r->path, "/metrics")) {
        r->mx_slot = KL_MX_SLOT_METRICS;
        if (!is_get_or_head(r)) {
            *allow = "GET, HEAD";
            return 405;
        }
        *h = (kl_handler_t){.fn = kl_admin_metrics, .ctx = as};
        return 0;
    }
    if (as->routes) {
        const kl_route_t *rt;
        int st = kl_router_match(as->routes, r->method, r->path, &rt, r->params, as->allow,
                                 sizeof(as->allow));
        if (st == 0) {
            r->mx_slot = rt->mx_slot;
            r->routes = as->routes; /* rt lives as long as its table: held until r ends */
            kl_routes_hold(as, as->routes);
            *h = (kl_handler_t){.fn = kl_sql_handle, .precheck = kl_sql_precheck, .ctx = (void *)rt,
                            .takes_body = rt->def.has_body, .max_body = rt->def.body_max};
            return 0;
        }
        *allow = as->allow;
        return st;
    }
    return 404;
}
