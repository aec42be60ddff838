#include "app/sql_answer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app_shard.h"
#include "app/respond.h"
#include "core/log.h"
#include "proto/json.h"

/* What a client is told about a database error it caused: the class of problem and the
 * SQLSTATE. PostgreSQL's own text names constraints, columns and stored values, so it
 * reaches clients only with KEEL_EXPOSE_DB_ERRORS (development). */
static const char *generic_message(const char *sqlstate, int status) {
    if (!strncmp(sqlstate, "23", 2)) return status == 409 ? "the request conflicts with existing data" : "the request breaks a data rule";
    if (!strncmp(sqlstate, "22", 2)) return "invalid input value";
    return kl_http1_reason(status);
}

void kl_sql_answer_error(kl_request_t *r, const kl_route_t *rt, const kl_db_query_t *q) {
    if (q->status >= 500 && q->status != 503 && q->status != 504) {
        char msg[512], label[256];
        kl_json_escape(msg, sizeof(msg), q->message ? q->message : "", q->message ? strlen(q->message) : 0);
        kl_json_escape(label, sizeof(label), rt->def.file, strlen(rt->def.file));
        kl_log(KL_LOG_ERROR, "query failed", "\"route\":\"%s\",\"sqlstate\":\"%s\",\"error\":\"%s\",\"reqId\":\"%s\"",
               label, q->sqlstate, msg, r->request_id);
        kl_respond_error(r, q->status, "the query failed", NULL); /* internals stay in the log */
        return;
    }
    if (q->status == 504) {
        kl_respond_error(r, 504, "the query took longer than its time limit", NULL);
        return;
    }
    const char *extra = q->status == 503 ? "Retry-After: 1\r\n" : NULL;
    /* A KHnnn message was written for the client by the route's own SQL: it goes out as is.
     * Errors without a SQLSTATE are keel's own words (e.g. "database connection lost"). */
    bool user_raised = q->sqlstate[0] == 'K' && q->sqlstate[1] == 'H';
    if (!q->sqlstate[0] || user_raised || r->as->cfg->expose_db_errors) {
        kl_respond_error(r, q->status, q->message ? q->message : kl_http1_reason(q->status), extra);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "%s (SQLSTATE %s)", generic_message(q->sqlstate, q->status), q->sqlstate);
    kl_respond_error(r, q->status, msg, extra);
}

int kl_sql_answer_body(kl_arena_t *a, const kl_route_def_t *d, PGresult *res, kl_str_t *out) {
    int rows = PQntuples(res), cols = PQnfields(res);
    switch (d->returns) {
    case KL_ROUTE_RETURNS_NONE:
        *out = (kl_str_t){"", 0};
        return 0;
    case KL_ROUTE_RETURNS_ONE:
        if (rows == 0 || cols == 0 || PQgetisnull(res, 0, 0)) return -ENOENT;
        *out = (kl_str_t){PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)};
        return 0;
    case KL_ROUTE_RETURNS_MANY:
        break;
    }
    /* One pass to size, one to copy: the array is built once, straight from libpq's rows. */
    size_t len = 2;
    for (int i = 0; i < rows && cols > 0; i++)
        if (!PQgetisnull(res, i, 0)) len += (size_t)PQgetlength(res, i, 0) + 1;
    char *b = kl_arena_tryalloc(a, len), *p = b;
    if (!b) return -ENOMEM;
    *p++ = '[';
    for (int i = 0; i < rows && cols > 0; i++) {
        if (PQgetisnull(res, i, 0)) continue;
        if (p > b + 1) *p++ = ',';
        size_t l = (size_t)PQgetlength(res, i, 0);
        memcpy(p, PQgetvalue(res, i, 0), l);
        p += l;
    }
    *p++ = ']';
    *out = (kl_str_t){b, (size_t)(p - b)};
    return 0;
}

void kl_sql_answer_no_body(kl_request_t *r, int rc) {
    if (rc == -ENOENT) kl_respond_error(r, 404, "Not Found", NULL);
    else kl_respond_error(r, 503, "the server is low on memory", "Retry-After: 1\r\n");
}
