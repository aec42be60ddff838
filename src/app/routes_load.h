/* routes_load.h - turns KEEL_ROUTES (a folder of annotated .sql files) into the route
 * table, at startup. Every failure names the file and line. */
#ifndef KL_ROUTES_LOAD_H
#define KL_ROUTES_LOAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/router.h"

/** Parses every *.sql file in dir (sorted by name) into t and orders it for matching.
 * Refuses annotations whose behaviour keel does not have yet, and @auth routes when no
 * JWT key (KEEL_JWT_SECRET or KEEL_JWT_JWKS) is configured. Returns 0, or -EINVAL / -errno
 * with err = "file:line: reason" (or "dir: reason"). */
int kl_routes_load(const char *dir, bool have_jwt_keys, kl_route_table_t *t, char *err, size_t errlen);

/** PREPAREs every route's statement on pg (a startup connection, kl_db_connect_blocking;
 * creating keel's own table first when a route is @idempotent). Returns 0, or -EINVAL with
 * err = "file:line: SQL does not prepare: <PostgreSQL's message>". */
int kl_routes_check_sql(const kl_route_table_t *t, PGconn *pg, char *err, size_t errlen);

#endif
