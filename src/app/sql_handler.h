/* sql_handler.h - answers a request matched to an SQL route: binds and validates its
 * parameters, runs the prepared statement on the shard's pool, shapes the result. */
#ifndef KL_SQL_HANDLER_H
#define KL_SQL_HANDLER_H

#include <stdbool.h>

#include "app/request.h"

/** Runs before the body is read: verifies @auth (keeping the claims in r->state), counts
 * @rate (rate_check.h) and checks a body route's Content-Type. Returns false after
 * answering 401, 429 or 415. */
bool kl_sql_precheck(kl_request_t *r, void *ctx);
/** Handler for SQL routes; ctx is the kl_route_t, r->params holds the path segments. */
void kl_sql_handle(kl_request_t *r, void *ctx);

#endif
