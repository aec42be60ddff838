/* sql_answer.h - turning a finished query into an HTTP answer, shared by the direct path
 * (sql_handler.c) and the cached path (sql_cache.c): the JSON body a route returns and the
 * answer to a failed query. Calls neither of them. */
#ifndef KL_SQL_ANSWER_H
#define KL_SQL_ANSWER_H

#include <stdbool.h>

#include "app/db.h"
#include "app/request.h"
#include "app/router.h"

/** The JSON body of a successful result per @returns, in arena a: one -> the first row's
 * first column, many -> an array of the rows' first columns, none -> empty. Returns 0,
 * -ENOENT for one without a row (404), -ENOMEM when the array does not fit in memory (503). */
int kl_sql_answer_body(kl_arena_t *a, const kl_route_def_t *d, PGresult *res, kl_str_t *out);
/** Answers r for a kl_sql_answer_body failure rc: 404 or 503. */
void kl_sql_answer_no_body(kl_request_t *r, int rc);
/** Answers r for the failed query q of route rt (status, Retry-After, log for 5xx). */
void kl_sql_answer_error(kl_request_t *r, const kl_route_t *rt, const kl_db_query_t *q);

#endif
