/* sql_internal.h - what the SQL route handler (sql_handler.c) and its cached path
 * (sql_cache.c) share. Not for other modules. */
#ifndef KL_SQL_INTERNAL_H
#define KL_SQL_INTERNAL_H

#include <stdbool.h>

#include "app/app_shard.h"
#include "app/request.h"
#include "app/router.h"

/** Buckets of a shard's in-flight cache fills (a power of two). */
#define KL_FETCH_BUCKETS 1024

/** The JSON body of a successful result per @returns, in arena a: one -> the first row's
 * first column (false when there is no row: 404), many -> an array of the rows' first
 * columns, none -> empty. */
bool kl_sql_body(kl_arena_t *a, const kl_route_def_t *d, PGresult *res, kl_str_t *out);
/** Answers r for the failed query q of route rt (status, Retry-After, log for 5xx). */
void kl_sql_answer_error(kl_request_t *r, const kl_route_t *rt, const kl_db_query_t *q);
/** Answers a GET of an @cache route from the shard's cache, refreshing stale entries in
 * the background and coalescing concurrent misses into one query. values are bound;
 * subject (NULL: none) is the token subject that a private route's key includes. */
void kl_sql_cached(kl_request_t *r, const kl_route_t *rt, const char **values, const char *subject);
/** Evicts tag (every entry when all) from the shard's cache, and marks fills under way that
 * carry it so that their possibly older rows are not stored. */
void kl_sql_cache_invalidate(kl_app_shard_t *as, kl_str_t tag, bool all);
/** Frees the shard's pending fills (shutdown, after the pool failed what was in flight). */
void kl_sql_cache_shutdown(kl_app_shard_t *as);

#endif
