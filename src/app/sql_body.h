/* sql_body.h - the JSON body of an SQL route, checked before the database: strict JSON
 * (proto/json_read.h) for every @body json route, and, when the route declares @field
 * lines, an object whose members match them. Yields the text each :body.NAME binds.
 *
 * What a client is told names the field: "body field 'amount_cents' must be an integer from
 * 1 to 100000000". Pure apart from the arena: callable from a fuzzer. */
#ifndef KL_SQL_BODY_H
#define KL_SQL_BODY_H

#include <stddef.h>

#include "app/routefile.h"
#include "core/arena.h"
#include "core/str.h"

/** Checks body against d's @body and @field declarations and sets values[k] (d->n_fields of
 * them) to the NUL-terminated text fields[k] binds as :body.NAME, or NULL (SQL NULL) for an
 * optional field that is absent or null; the texts live in arena a. Returns 0, -EINVAL with
 * the client's message in err (truncated to errlen), or -ENOMEM when the arena is exhausted. */
int kl_sql_body_check(kl_arena_t *a, const kl_route_def_t *d, kl_str_t body, const char **values, char *err,
                      size_t errlen);

#endif
