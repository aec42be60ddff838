/* routes_load.h - turns KEEL_ROUTES (a folder of annotated .sql files) into the route
 * table, at startup. Every failure names the file and line. */
#ifndef KL_ROUTES_LOAD_H
#define KL_ROUTES_LOAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/router.h"

/** The names of the *.sql files in dir (not those starting with '.'), sorted. Returns 0
 * with *names (free with kl_routes_list_free) and *n >= 1, or -errno with err = "dir: reason"
 * (-ENOENT: none). */
int kl_routes_list(const char *dir, char ***names, size_t *n, char *err, size_t errlen);
/** Frees what kl_routes_list returned. */
void kl_routes_list_free(char **names, size_t n);
/** Reads and parses dir/name into rt->def (and rt->text_hash). Returns 0, or -errno with
 * err = "file:line: reason" (or "file: reason" when it cannot be read). */
int kl_routes_parse_file(const char *dir, const char *name, kl_route_t *rt, char *err, size_t errlen);

/** Parses every *.sql file in dir (sorted by name) into t and orders it for matching.
 * Refuses annotations whose behaviour keel does not have yet, and @auth routes when no
 * JWT key (KEEL_JWT_SECRET or KEEL_JWT_JWKS) is configured. Returns 0, or -EINVAL / -errno
 * with err = "file:line: reason" (or "dir: reason"). */
int kl_routes_load(const char *dir, bool have_jwt_keys, kl_route_table_t *t, char *err, size_t errlen);

/** PREPAREs every route's statement on pg (a startup connection, kl_db_connect_blocking;
 * creating keel's own table first when a route is @idempotent). Returns 0, or -EINVAL with
 * err = "file:line: SQL does not prepare: <PostgreSQL's message>". */
int kl_routes_check_sql(const kl_route_table_t *t, PGconn *pg, char *err, size_t errlen);

/** Checks the result columns of route d's prepared statement (desc: PQdescribePrepared's
 * result, which may have failed or be NULL: then err says so) for an answer built by keel: with several columns, every column must be of a
 * type keel writes as row_to_json does, dates and times need datestyle (the session's
 * DateStyle) to be ISO, and @idempotent (which stores one column) is refused. Returns 0, or
 * -EINVAL with err = "file:line: reason". */
int kl_routes_check_columns(const kl_route_def_t *d, const PGresult *desc, const char *datestyle, char *err,
                            size_t errlen);

#endif
