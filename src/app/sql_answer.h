/* sql_answer.h - turning a finished query into an HTTP answer, shared by the direct path
 * (sql_handler.c) and the cached path (sql_cache.c): the JSON body a route returns and the
 * answer to a failed query. Calls neither of them. */
#ifndef KL_SQL_ANSWER_H
#define KL_SQL_ANSWER_H

#include <stdbool.h>

#include "app/db.h"
#include "app/request.h"
#include "app/router.h"

/** The JSON body of successful query q per @returns, in arena a, from q's rows of q->res:
 * one -> the first row, many -> an array of the rows, none -> empty; a row of one column is
 * that column's text (NULL: 404, or left out of the array), a row of several is the object
 * row_to_json would write for them (proto/pg_json.h). Returns 0, -ENOENT for one without a row (404), -ENOMEM when the array does not fit
 * in memory (503). */
int kl_sql_answer_body(kl_arena_t *a, const kl_route_def_t *d, const kl_db_query_t *q, kl_str_t *out);
/** Answers r for a kl_sql_answer_body failure rc: 404 or 503. */
void kl_sql_answer_no_body(kl_request_t *r, int rc);
/** Expands @location template tpl for the returned object body into arena a: each {member}
 * becomes that top-level member's value (a string decoded, a number or true/false as written)
 * percent-encoded for a path segment (all but A-Z a-z 0-9 - . _ ~). Returns 0 with *out the
 * NUL-terminated path, -EINVAL with the reason in *why when body is not a JSON object or a
 * member is absent, null, an array or an object, or -ENOMEM. */
int kl_sql_answer_location_expand(kl_arena_t *a, const char *tpl, kl_str_t body, char **out, const char **why);
/** The "Location: ...\r\n" header line of route rt's answer body, in *hdr (r's arena).
 * Returns true, or false after answering 500 and logging why (a route whose row lacks a
 * member its @location names is a bug in the route). */
bool kl_sql_answer_location(kl_request_t *r, const kl_route_t *rt, kl_str_t body, char **hdr);
/** Answers r for the failed query q of route rt (status, Retry-After, log for 5xx). */
void kl_sql_answer_error(kl_request_t *r, const kl_route_t *rt, const kl_db_query_t *q);

#endif
