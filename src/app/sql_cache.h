/* sql_cache.h - the cached GET path of SQL routes. A key is the route plus its bound
 * parameter values (so the order of query parameters never matters and defaults are already
 * applied). A miss starts one "fill" query; concurrent misses for the same key wait on that
 * fill instead of querying (request coalescing); a stale hit is served at once while one
 * background fill refreshes the entry (stale-while-revalidate). The shard's table of fills
 * under way is created by kl_sql_cache_init and released by kl_sql_cache_shutdown. */
#ifndef KL_SQL_CACHE_H
#define KL_SQL_CACHE_H

#include <stdbool.h>

#include "app/app_shard.h"
#include "app/request.h"
#include "app/router.h"
#include "app/auth.h"

/** Creates the shard's table of fills under way (as->fills), keyed with a random seed. */
void kl_sql_cache_init(kl_app_shard_t *as);
/** Answers a GET of an @cache route from the shard's cache, refreshing stale entries in
 * the background and coalescing concurrent misses into one query. values are bound; id
 * (NULL: no @auth) gives the claims that fill {auth.x} tags and whose subject joins a
 * private route's key, and the claims and role the fill's query runs with (the first
 * requester's: a private key holds the subject, so they only ever serve that subject). */
void kl_sql_cache_serve(kl_request_t *r, const kl_route_t *rt, const char **values, const kl_auth_id_t *id);
/** Evicts tag (every entry when all) from the shard's cache, and marks fills under way that
 * carry it so that their possibly older rows are not stored. */
void kl_sql_cache_invalidate(kl_app_shard_t *as, kl_str_t tag, bool all);
/** Frees the shard's table of fills (shutdown, after the pool failed what was in flight, so
 * every fill has answered its waiters and is gone). Safe when init never ran. */
void kl_sql_cache_shutdown(kl_app_shard_t *as);

#endif
