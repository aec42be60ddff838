#include "app/sql_answer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app_shard.h"
#include "app/respond.h"
#include "core/log.h"
#include "proto/json.h"
#include "proto/json_read.h"
#include "proto/pg_json.h"

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

/* A result's columns, looked at once for all its rows: each key as written ("name":) and
 * how the column's values are written. */
typedef struct {
    kl_str_t key;
    kl_pgjson_kind_t kind;
} column_t;

/* The first cols columns of res, in arena a; NULL when out of memory. */
static column_t *columns(kl_arena_t *a, const PGresult *res, int cols) {
    column_t *cv = kl_arena_tryalloc(a, (size_t)cols * sizeof(*cv));
    for (int c = 0; cv && c < cols; c++) {
        const char *name = PQfname(res, c);
        size_t nl = strlen(name), kl = kl_pgjson_string(NULL, name, nl) + 1;
        char *k = kl_arena_tryalloc(a, kl);
        if (!k) return NULL;
        kl_pgjson_string(k, name, nl);
        k[kl - 1] = ':';
        cv[c] = (column_t){{k, kl}, kl_pgjson_kind(PQftype(res, c))};
    }
    return cv;
}

/* Row row's values into vals (base NULL for NULL); returns the length of its object. */
static size_t row_values(const PGresult *res, int row, const column_t *cv, int cols, kl_str_t *vals) {
    size_t n = (size_t)cols + 1; /* the braces and the commas between members */
    for (int c = 0; c < cols; c++) {
        if (PQgetisnull(res, row, c)) {
            vals[c] = (kl_str_t){NULL, 0};
            n += cv[c].key.len + 4;
            continue;
        }
        vals[c] = (kl_str_t){PQgetvalue(res, row, c), (size_t)PQgetlength(res, row, c)};
        n += cv[c].key.len + kl_pgjson_value(NULL, cv[c].kind, vals[c].base, vals[c].len);
    }
    return n;
}

/* Writes the object of a row's vals (row_values) at p, as row_to_json writes a record of the
 * same columns; returns the end. */
static char *row_write(char *p, const column_t *cv, int cols, const kl_str_t *vals) {
    for (int c = 0; c < cols; c++) {
        *p++ = c ? ',' : '{';
        memcpy(p, cv[c].key.base, cv[c].key.len);
        p += cv[c].key.len;
        if (vals[c].base) {
            p += kl_pgjson_value(p, cv[c].kind, vals[c].base, vals[c].len);
        } else {
            memcpy(p, "null", 4);
            p += 4;
        }
    }
    *p++ = '}';
    return p;
}

int kl_sql_answer_body(kl_arena_t *a, const kl_route_def_t *d, const kl_db_query_t *q, kl_str_t *out) {
    const PGresult *res = q->res;
    int r0 = q->row0, rows = q->rows, cols = q->cols;
    if (d->returns == KL_ROUTE_RETURNS_NONE) {
        *out = (kl_str_t){"", 0};
        return 0;
    }
    if (d->returns == KL_ROUTE_RETURNS_ONE && (rows == 0 || cols == 0 || (cols == 1 && PQgetisnull(res, r0, 0))))
        return -ENOENT;
    if (d->returns == KL_ROUTE_RETURNS_ONE && cols == 1) { /* libpq's own bytes: nothing to copy */
        *out = (kl_str_t){PQgetvalue(res, r0, 0), (size_t)PQgetlength(res, r0, 0)};
        return 0;
    }
    column_t *cv = NULL;
    kl_str_t *vals = NULL;
    if (cols > 1) { /* a row of several columns is an object that keel writes */
        cv = columns(a, res, cols);
        vals = kl_arena_tryalloc(a, (size_t)cols * sizeof(*vals));
        if (!cv || !vals) return -ENOMEM;
    }
    if (d->returns == KL_ROUTE_RETURNS_ONE) {
        size_t len = row_values(res, r0, cv, cols, vals);
        char *b = kl_arena_tryalloc(a, len);
        if (!b) return -ENOMEM;
        row_write(b, cv, cols, vals);
        *out = (kl_str_t){b, len};
        return 0;
    }
    /* many: one pass to size, one to write, straight from libpq's rows. A one-column row
     * whose value is NULL is left out. */
    size_t len = 2;
    for (int i = r0; i < r0 + rows && cols > 0; i++) {
        if (cols > 1) len += row_values(res, i, cv, cols, vals) + 1;
        else if (!PQgetisnull(res, i, 0)) len += (size_t)PQgetlength(res, i, 0) + 1;
    }
    char *b = kl_arena_tryalloc(a, len), *p = b;
    if (!b) return -ENOMEM;
    *p++ = '[';
    for (int i = r0; i < r0 + rows && cols > 0; i++) {
        if (cols == 1 && PQgetisnull(res, i, 0)) continue;
        if (p > b + 1) *p++ = ',';
        if (cols > 1) {
            row_values(res, i, cv, cols, vals);
            p = row_write(p, cv, cols, vals);
        } else {
            size_t l = (size_t)PQgetlength(res, i, 0);
            memcpy(p, PQgetvalue(res, i, 0), l);
            p += l;
        }
    }
    *p++ = ']';
    *out = (kl_str_t){b, (size_t)(p - b)};
    return 0;
}

void kl_sql_answer_no_body(kl_request_t *r, int rc) {
    if (rc == -ENOENT) kl_respond_error(r, 404, "Not Found", NULL);
    else kl_respond_error(r, 503, "the server is low on memory", "Retry-After: 1\r\n");
}

/* Where an expansion goes: bytes to out (when not NULL); n counts them. */
typedef struct {
    char *out;
    size_t n;
} loc_sink_t;

static void loc_put(loc_sink_t *k, const char *b, size_t len) {
    if (k->out) memcpy(k->out + k->n, b, len);
    k->n += len;
}

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* One pass of the expansion (sizing when k->out is NULL); the template was checked at
 * startup, so every '{' has its '}'. */
static int loc_expand(loc_sink_t *k, const char *tpl, kl_str_t body, char *scratch, const char **why) {
    static const char hex[] = "0123456789ABCDEF";
    for (const char *p = tpl; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close == NULL) {
            loc_put(k, p++, 1);
            continue;
        }
        kl_json_member_t m;
        kl_str_t v;
        if (!kl_json_find(body.base, body.len, p + 1, (size_t)(close - p - 1), &m)) {
            *why = "the returned object has no member its @location names";
            return -EINVAL;
        }
        if (m.type == KL_JSON_STRING) {
            ssize_t n = kl_json_string(m.value.base, m.value.len, scratch, m.value.len, true);
            if (n < 0) { /* cannot happen after validation; refused rather than trusted */
                *why = "a @location member is not a valid string";
                return -EINVAL;
            }
            v = (kl_str_t){scratch, (size_t)n};
        } else if (m.type == KL_JSON_NUMBER || m.type == KL_JSON_TRUE || m.type == KL_JSON_FALSE) {
            v = m.value;
        } else {
            *why = "a member named by @location is null, an array or an object";
            return -EINVAL;
        }
        for (size_t i = 0; i < v.len; i++) {
            unsigned char c = (unsigned char)v.base[i];
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (unreserved(c)) loc_put(k, (const char *)&c, 1);
            else loc_put(k, e, 3);
        }
        p = close + 1;
    }
    return 0;
}

int kl_sql_answer_location_expand(kl_arena_t *a, const char *tpl, kl_str_t body, char **out, const char **why) {
    if (kl_json_validate(body.base, body.len, NULL) != KL_JSON_OBJECT) {
        *why = "the returned value is not a JSON object keel can read (unique top-level names, nesting at most 64)";
        return -EINVAL;
    }
    char *scratch = kl_arena_tryalloc(a, body.len); /* a decoded string is never longer */
    if (scratch == NULL) return -ENOMEM;
    loc_sink_t k = {0};
    int rc = loc_expand(&k, tpl, body, scratch, why);
    if (rc != 0) return rc;
    if ((k.out = kl_arena_tryalloc(a, k.n + 1)) == NULL) return -ENOMEM;
    k.n = 0;
    loc_expand(&k, tpl, body, scratch, why);
    k.out[k.n] = '\0';
    *out = k.out;
    return 0;
}

bool kl_sql_answer_location(kl_request_t *r, const kl_route_t *rt, kl_str_t body, char **hdr) {
    const char *why = "";
    char *path;
    int rc = kl_sql_answer_location_expand(r->arena, rt->def.location, body, &path, &why);
    if (rc == -ENOMEM) {
        kl_sql_answer_no_body(r, rc);
        return false;
    }
    if (rc != 0) {
        char label[256];
        kl_json_escape(label, sizeof(label), rt->def.file, strlen(rt->def.file));
        kl_log(KL_LOG_ERROR, "location failed", "\"route\":\"%s\",\"error\":\"%s\",\"reqId\":\"%s\"", label, why,
               r->request_id);
        kl_respond_error(r, 500, "the request was carried out, but the route's @location could not be filled", NULL);
        return false;
    }
    size_t n = strlen(path) + sizeof("Location: \r\n");
    if ((*hdr = kl_arena_tryalloc(r->arena, n)) == NULL) {
        kl_sql_answer_no_body(r, -ENOMEM);
        return false;
    }
    snprintf(*hdr, n, "Location: %s\r\n", path);
    return true;
}
