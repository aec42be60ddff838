/* router.h - the loaded SQL routes and how a request finds one. Built once at startup,
 * read-only afterwards, shared by every shard. At each path segment a literal is tried
 * first, then int and uuid parameters, then text, so /api/bounties/search beats
 * /api/bounties/{id:int} and /x/{id:int} beats /x/{slug}; a parameter segment matches only
 * a value of its type. HEAD matches GET. */
#ifndef KL_ROUTER_H
#define KL_ROUTER_H

#include <stddef.h>

#include "app/db.h"
#include "app/routefile.h"
#include "core/str.h"

typedef struct {
    kl_route_def_t def; /**< the parsed route file */
    int stmt;           /**< index into the table's statements; the same for the same route
                             across reloads (routes_reload.h), so it names the route in
                             cache and rate-limit keys */
    uint64_t text_hash; /**< hash of the file's name and bytes: a reload tells changed files */
    int stmt_idem;      /**< @idempotent: the statement wrapped to store its response
                             (idempotency.h); -1 otherwise */
    int mx_slot;        /**< the metrics slot it counts under (metrics.h): the slot of the
                             same method and pattern in the table keel started with, else
                             KL_MX_SLOT_RELOADED; set by server.c and routes_reload.c */
} kl_route_t;

typedef struct kl_route_table {
    kl_route_t *routes;  /**< in matching order */
    size_t n;
    kl_db_stmt_t *stmts; /**< one per route, one more per @idempotent route, then keel's own */
    size_t nstmts;
    int stmt_idem_claim, stmt_idem_lookup, stmt_idem_purge; /**< keel's own when a route is
                                                                  @idempotent; -1 otherwise */
    int stmt_auth_claims, stmt_auth_role; /**< keel's own when a route has @auth (auth.h); -1 otherwise */
    struct kl_routes_gen *gen; /**< a reloaded table's lifetime (routes_reload.c); NULL for one
                                    its loader owns */
} kl_route_table_t;

/** Orders the routes for matching and reports two that answer the same requests in err
 * ("file:line: duplicate route ..."). Returns 0 or -EINVAL. */
int kl_router_build(kl_route_table_t *t, char *err, size_t errlen);
/** Finds the route for method and raw path; the raw text of each segment goes to
 * segs[] (KL_ROUTE_MAX_SEGMENTS of them). Returns 0 with *out set, 404 when no route has
 * this path, or 405 with the Allow value written to allow. */
int kl_router_match(const kl_route_table_t *t, kl_str_t method, kl_str_t path, const kl_route_t **out,
                    kl_str_t *segs, char *allow, size_t allowlen);
/** Frees everything the table owns. */
void kl_router_free(kl_route_table_t *t);

#endif
