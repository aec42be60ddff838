#include "app/sql_handler.h"

#include <stdio.h>
#include <string.h>

#include "app/app_shard.h"
#include "app/http_conn.h"
#include "app/router.h"
#include "core/log.h"
#include "proto/json.h"
#include "proto/url.h"

typedef struct {
    kl_db_query_t q;
    kl_request_t *r;
    const kl_route_t *route;
} sql_call_t;

/* Checks a decoded value against its type; writes why not into err. */
static bool check_type(kl_type_t t, kl_str_t v, const char *what, const char *name, char *err, size_t errlen) {
    int64_t i;
    bool b;
    bool ok = t == KL_TYPE_INT ? kl_value_int(v, &i)
            : t == KL_TYPE_UUID ? kl_value_uuid(v)
            : t == KL_TYPE_BOOL ? kl_value_bool(v, &b)
            : true;
    if (!ok) snprintf(err, errlen, "%s parameter '%s' must be %s", what, name,
                      t == KL_TYPE_INT ? "an integer" : t == KL_TYPE_UUID ? "a UUID" : "true or false");
    return ok;
}

static bool check_query(const kl_qparam_t *p, kl_str_t v, char *err, size_t errlen) {
    if (!check_type(p->type, v, "query", p->name, err, errlen)) return false;
    if (p->type == KL_TYPE_INT && (p->has_min || p->has_max)) {
        int64_t i = 0;
        kl_value_int(v, &i);
        if ((p->has_min && i < p->min) || (p->has_max && i > p->max)) {
            if (p->has_min && p->has_max)
                snprintf(err, errlen, "query parameter '%s' must be between %lld and %lld", p->name, (long long)p->min,
                         (long long)p->max);
            else if (p->has_min)
                snprintf(err, errlen, "query parameter '%s' must be at least %lld", p->name, (long long)p->min);
            else
                snprintf(err, errlen, "query parameter '%s' must be at most %lld", p->name, (long long)p->max);
            return false;
        }
    }
    if (p->n_one_of) {
        for (size_t k = 0; k < p->n_one_of; k++)
            if (kl_str_eq(v, p->one_of[k])) return true;
        size_t n = (size_t)snprintf(err, errlen, "query parameter '%s' must be one of ", p->name);
        for (size_t k = 0; k < p->n_one_of && n < errlen; k++)
            n += (size_t)snprintf(err + n, errlen - n, "%s%s", k ? ", " : "", p->one_of[k]);
        return false;
    }
    return true;
}

/* Decodes a URL component into the arena as a NUL-terminated string; NULL when malformed. */
static char *decode(kl_arena_t *a, kl_str_t s, bool plus) {
    char *out = kl_arena_alloc(a, s.len + 1);
    ssize_t n = kl_url_decode(out, s.base, s.len, plus);
    if (n < 0) return NULL;
    out[n] = '\0';
    return out;
}

/* Fills values[] for every $n of the route; on a client error answers 400 and returns false. */
static bool bind_params(kl_request_t *r, const kl_route_t *rt, const char **values) {
    char err[256];
    kl_arena_t *a = r->arena;
    const char **qv = kl_arena_alloc(a, sizeof(char *) * (rt->nqparams + 1));
    for (size_t i = 0; i < rt->nqparams; i++) qv[i] = NULL;
    kl_query_iter_t it;
    kl_str_t k, v;
    kl_query_begin(&it, r->query);
    while (kl_query_next(&it, &k, &v)) {
        char *key = decode(a, k, true);
        if (!key) {
            kl_respond_error(r, 400, "malformed percent-encoding in the query string", NULL);
            return false;
        }
        for (size_t i = 0; i < rt->nqparams; i++) {
            if (strcmp(key, rt->qparams[i].name) != 0) continue;
            if (qv[i]) {
                snprintf(err, sizeof(err), "query parameter '%s' is given more than once", key);
                kl_respond_error(r, 400, err, NULL);
                return false;
            }
            qv[i] = decode(a, v, true);
            if (!qv[i]) {
                snprintf(err, sizeof(err), "query parameter '%s' has malformed percent-encoding", key);
                kl_respond_error(r, 400, err, NULL);
                return false;
            }
        }
    }
    for (size_t i = 0; i < rt->nqparams; i++) {
        const kl_qparam_t *p = &rt->qparams[i];
        if (!qv[i] || !qv[i][0]) {
            if (!p->def) {
                snprintf(err, sizeof(err), "query parameter '%s' is required", p->name);
                kl_respond_error(r, 400, err, NULL);
                return false;
            }
            qv[i] = p->def; /* defaults were validated when the route was loaded */
            continue;
        }
        if (!check_query(p, (kl_str_t){qv[i], strlen(qv[i])}, err, sizeof(err))) {
            kl_respond_error(r, 400, err, NULL);
            return false;
        }
    }
    for (int n = 0; n < rt->nbinds; n++) {
        const kl_bind_t *b = &rt->binds[n];
        if (b->kind == KL_BIND_QUERY) {
            values[n] = qv[b->index];
        } else if (b->kind == KL_BIND_PATH) {
            const kl_seg_t *seg = NULL;
            int pi = 0;
            for (size_t s = 0; s < rt->nsegs; s++) {
                if (rt->segs[s].literal) continue;
                if ((int)s == b->index) {
                    seg = &rt->segs[s];
                    break;
                }
                pi++;
            }
            char *d = seg ? decode(a, r->params[pi], false) : NULL;
            if (!d) {
                kl_respond_error(r, 400, "malformed percent-encoding in the path", NULL);
                return false;
            }
            if (!check_type(seg->type, (kl_str_t){d, strlen(d)}, "path", seg->name, err, sizeof(err))) {
                kl_respond_error(r, 400, err, NULL);
                return false;
            }
            values[n] = d;
        } else if (b->kind == KL_BIND_BODY) {
            values[n] = kl_arena_strndup(a, r->body.base ? r->body.base : "", r->body.len);
        } else {
            values[n] = NULL;
        }
    }
    return true;
}

static void answer_error(sql_call_t *c) {
    kl_db_query_t *q = &c->q;
    kl_request_t *r = c->r;
    if (q->status >= 500 && q->status != 503 && q->status != 504) {
        char msg[512], label[256];
        kl_json_escape(msg, sizeof(msg), q->message ? q->message : "", q->message ? strlen(q->message) : 0);
        kl_json_escape(label, sizeof(label), c->route->file, strlen(c->route->file));
        kl_log(KL_LOG_ERROR, "query failed", "\"route\":\"%s\",\"sqlstate\":\"%s\",\"error\":\"%s\",\"reqId\":\"%s\"",
               label, q->sqlstate, msg, r->request_id);
        kl_respond_error(r, q->status, "the query failed", NULL); /* internals stay in the log */
        return;
    }
    if (q->status == 504) {
        kl_respond_error(r, 504, "the query took longer than its time limit", NULL);
        return;
    }
    kl_respond_error(r, q->status, q->message ? q->message : kl_http1_reason(q->status),
                     q->status == 503 ? "Retry-After: 1\r\n" : NULL);
}

static void on_result(kl_db_query_t *q) {
    sql_call_t *c = q->ctx;
    kl_request_t *r = c->r;
    const kl_route_t *rt = c->route;
    if (q->status) {
        answer_error(c);
        return;
    }
    PGresult *res = q->res;
    int rows = PQntuples(res);
    int cols = PQnfields(res);
    switch (rt->returns) {
    case KL_RETURNS_NONE:
        kl_respond(r, rt->status ? rt->status : 204, NULL, NULL, NULL, 0);
        return;
    case KL_RETURNS_ONE:
        if (rows == 0 || cols == 0 || PQgetisnull(res, 0, 0)) {
            kl_respond_error(r, 404, "Not Found", NULL);
            return;
        }
        kl_respond(r, rt->status ? rt->status : 200, "application/json", NULL, PQgetvalue(res, 0, 0),
                   (size_t)PQgetlength(res, 0, 0));
        return;
    case KL_RETURNS_MANY: {
        /* The array is written straight from libpq's result, piece by piece. */
        size_t n = 0;
        kl_str_t *parts = kl_arena_alloc(r->arena, sizeof(kl_str_t) * (2 * (size_t)rows + 2));
        parts[n++] = KL_STR("[");
        for (int i = 0; i < rows && cols > 0; i++) {
            if (PQgetisnull(res, i, 0)) continue;
            if (n > 1) parts[n++] = KL_STR(",");
            parts[n++] = (kl_str_t){PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0)};
        }
        parts[n++] = KL_STR("]");
        kl_respond_parts(r, rt->status ? rt->status : 200, "application/json", NULL, parts, n);
        return;
    }
    }
}

void kl_sql_handle(kl_request_t *r, void *ctx) {
    const kl_route_t *rt = ctx;
    kl_app_shard_t *as = kl_http_conn__shard(r->conn);
    const char **values = kl_arena_alloc(r->arena, sizeof(char *) * ((size_t)rt->nbinds + 1));
    if (!bind_params(r, rt, values)) return;
    if (!as->db) {
        kl_respond_error(r, 503, "no database is configured", "Retry-After: 1\r\n");
        return;
    }
    kl_request_defer(r);
    sql_call_t *c = kl_arena_alloc(r->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->route = rt;
    c->q.stmt = rt->stmt;
    c->q.nparams = rt->nbinds;
    c->q.values = values;
    c->q.timeout_ms = rt->timeout_ms;
    c->q.done = on_result;
    c->q.ctx = c;
    kl_db_submit(as->db, &c->q);
}
