/* sql_batch.h - the batch form of a route's statement (db.h, kl_db_stmt_t.batch): one
 * execution that runs the statement once for each element of its parameters, passed as
 * text arrays, so that PostgreSQL parses, plans, starts and ends one statement for many
 * concurrent lookups. For a route's
 *     SELECT row_to_json(b) FROM bounties b WHERE id = $1::bigint
 * it is
 *     SELECT keel_q.*, keel_p.keel_ord
 *     FROM unnest($1::text[]) WITH ORDINALITY AS keel_p(keel_a1, keel_ord)
 *     CROSS JOIN LATERAL (SELECT row_to_json(b) FROM bounties b WHERE id = keel_p.keel_a1::bigint) AS keel_q
 *     ORDER BY keel_p.keel_ord
 * Only statements whose every parameter use carries an explicit cast qualify: a bare $1 takes
 * its type from where it stands, and an element of a text array would not. Only routes that
 * return one row qualify: the ordinal keeps queries apart, not the order of a query's rows. */
#ifndef KL_SQL_BATCH_H
#define KL_SQL_BATCH_H

#include <stdbool.h>

#include "app/routefile.h"

/** True when d's statement can run batched: a GET route returning one row, alone in its
 * transaction (no @auth, @timeout, @idempotent, @invalidates), with parameters, each use of
 * them cast explicitly (:id::bigint). */
bool kl_sql_batch_eligible(const kl_route_def_t *d);

/** The batch form of d's statement, NUL-terminated on the heap (the caller kl_free()s it);
 * NULL when d is not eligible. */
char *kl_sql_batch_sql(const kl_route_def_t *d);

#endif
