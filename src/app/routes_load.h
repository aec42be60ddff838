/* routes_load.h - turns KEEL_ROUTES (a folder of annotated .sql files) into the route
 * table, at startup. Every failure names the file and line. */
#ifndef KL_ROUTES_LOAD_H
#define KL_ROUTES_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "app/router.h"

/** Parses every *.sql file in dir (sorted by name) into t and orders it for matching.
 * Refuses annotations whose behaviour keel does not have yet, and @auth routes when no
 * JWT key (KEEL_JWT_SECRET or KEEL_JWT_JWKS) is configured. Returns 0, or -EINVAL / -errno
 * with err = "file:line: reason" (or "dir: reason"). */
int kl_routes_load(const char *dir, bool have_jwt_keys, kl_route_table_t *t, char *err, size_t errlen);

/** Connects to conninfo (blocking, at most timeout_s) and PREPAREs every route's statement.
 * Returns 0, -ECONNREFUSED when the database cannot be reached (err says why), or -EINVAL
 * with err = "file:line: SQL does not prepare: <PostgreSQL's message>". */
int kl_routes_check_sql(const kl_route_table_t *t, const char *conninfo, int timeout_s, char *err, size_t errlen);

#endif
