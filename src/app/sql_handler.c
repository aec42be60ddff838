#include "app/sql_handler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/app_shard.h"
#include "app/auth.h"
#include "app/idempotency.h"
#include "app/rate_check.h"
#include "app/replica.h"
#include "app/represent.h"
#include "app/router.h"
#include "app/respond.h"
#include "app/sql_answer.h"
#include "app/sql_body.h"
#include "app/sql_cache.h"
#include "app/tags.h"
#include "core/log.h"
#include "proto/json.h"
#include "proto/jwt.h"
#include "proto/url.h"

typedef struct {
    kl_db_query_t q;
    kl_request_t *r;
    const kl_route_t *route;
    char *invalidates; /* expanded @invalidates tags, '\n'-separated (the NOTIFY payload) */
    /* @idempotent, for a request that carries a key (idempotency.h) */
    bool keyed;
    kl_db_call_t claim;           /* keel.idempotency_claim, in front of the statement */
    const char *claim_values[5];  /* subject, route, key, fingerprint, ttl in seconds */
    kl_db_call_t pre[3];          /* in front of the statement: the claim, then claims and role */
    const char *auth_values[2];   /* request.jwt.claims and role (auth.h) */
    const kl_jwt_claims_t *claims; /* the token's (in the request's arena); NULL: anonymous */
} sql_call_t;

static const char *type_words(kl_route_type_t t) {
    switch (t) {
    case KL_ROUTE_INT: return "an integer";
    case KL_ROUTE_UUID: return "a UUID";
    case KL_ROUTE_BOOL: return "true or false";
    default: return "text";
    }
}

/* Checks a decoded query value against its declaration; writes why not into err. */
static bool check_query(const kl_route_query_t *p, kl_str_t v, char *err, size_t errlen) {
    int64_t i = 0;
    bool b;
    bool ok = p->type == KL_ROUTE_INT ? kl_value_int(v, &i)
            : p->type == KL_ROUTE_UUID ? kl_value_uuid(v)
            : p->type == KL_ROUTE_BOOL ? kl_value_bool(v, &b)
            : true;
    if (!ok) {
        snprintf(err, errlen, "query parameter '%s' must be %s", p->name, type_words(p->type));
        return false;
    }
    /* min/max bound an int's value and a text's length */
    int64_t x = p->type == KL_ROUTE_INT ? i : (int64_t)v.len;
    if ((p->has_min && x < p->min) || (p->has_max && x > p->max)) {
        const char *what = p->type == KL_ROUTE_INT ? "" : " bytes long";
        if (p->has_min && p->has_max)
            snprintf(err, errlen, "query parameter '%s' must be between %lld and %lld%s", p->name, (long long)p->min,
                     (long long)p->max, what);
        else if (p->has_min)
            snprintf(err, errlen, "query parameter '%s' must be at least %lld%s", p->name, (long long)p->min, what);
        else
            snprintf(err, errlen, "query parameter '%s' must be at most %lld%s", p->name, (long long)p->max, what);
        return false;
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

__attribute__((format(printf, 4, 5))) static bool reject(kl_request_t *r, char *err, size_t errlen, const char *fmt,
                                                          ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    kl_respond_error(r, 400, err, NULL);
    return false;
}

/* Fills values[] for every $n of the route (fields[k] are the @field values from
 * kl_sql_body_check); on a client error answers 400 and returns false. Path segments were
 * type-checked by the router. */
static bool bind_params(kl_request_t *r, const kl_route_def_t *d, const kl_jwt_claims_t *claims,
                        const char *const *fields, const char **values) {
    int ci;
    char err[320];
    kl_arena_t *a = r->arena;
    const char *qv[KL_ROUTE_MAX_QUERY] = {0};
    kl_query_iter_t it;
    kl_str_t k, v;
    kl_query_begin(&it, r->query);
    while (kl_query_next(&it, &k, &v)) {
        char *key = decode(a, k, true);
        if (!key) return reject(r, err, sizeof(err), "malformed percent-encoding in the query string");
        for (size_t i = 0; i < d->n_query; i++) {
            if (strcmp(key, d->query[i].name) != 0) continue;
            if (qv[i]) return reject(r, err, sizeof(err), "query parameter '%s' is given more than once", key);
            if (!(qv[i] = decode(a, v, true)))
                return reject(r, err, sizeof(err), "query parameter '%s' has malformed percent-encoding", key);
        }
    }
    for (size_t i = 0; i < d->n_query; i++) {
        const kl_route_query_t *p = &d->query[i];
        if (!qv[i]) {
            if (!p->default_value) return reject(r, err, sizeof(err), "query parameter '%s' is required", p->name);
            qv[i] = p->default_value; /* defaults were checked when the route was parsed */
            continue;
        }
        if (!check_query(p, (kl_str_t){qv[i], strlen(qv[i])}, err, sizeof(err))) {
            kl_respond_error(r, 400, err, NULL);
            return false;
        }
    }
    for (size_t n = 0; n < d->n_params; n++) {
        const kl_route_param_t *p = &d->params[n];
        switch (p->source) {
        case KL_ROUTE_FROM_QUERY:
            values[n] = qv[p->index];
            break;
        case KL_ROUTE_FROM_PATH:
            if (!(values[n] = decode(a, r->params[p->index], false)))
                return reject(r, err, sizeof(err), "path parameter '%s' has malformed percent-encoding", p->name);
            break;
        case KL_ROUTE_FROM_BODY:
            values[n] = kl_arena_strndup(a, r->body.base ? r->body.base : "", r->body.len);
            break;
        case KL_ROUTE_FROM_AUTH: /* by JSON type (auth.h); NULL when anonymous, absent or null */
            ci = claims ? kl_jwt_claim_index(claims, p->name) : -1;
            values[n] = ci < 0 || kl_jwt_claim_type(claims, (size_t)ci) == KL_JWT_NULL
                            ? NULL
                            : kl_jwt_claim_value(claims, (size_t)ci);
            break;
        case KL_ROUTE_FROM_FIELD: /* NULL (SQL NULL) for an absent or null optional field */
            values[n] = fields[p->index];
            break;
        }
    }
    return true;
}

/* The answer an @idempotent request stored (status, and the body or NULL): the same bytes
 * the first time and on every replay, its Location derived from the stored body. */
static void answer_stored(kl_request_t *r, const kl_route_t *rt, PGresult *res, bool replayed) {
    const char *extra = replayed ? "Idempotent-Replayed: true\r\n" : NULL;
    int status = PQntuples(res) == 1 && PQnfields(res) == 2 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    if (status < 200 || status > 599) {
        /* the row vanished between the claim and this read (purged once expired) */
        kl_respond_error(r, 503, "the stored response of this Idempotency-Key is gone; retry", "Retry-After: 1\r\n");
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        if (status == 404) kl_respond_error(r, 404, "Not Found", extra);
        else kl_respond(r, status, NULL, extra, NULL, 0);
        return;
    }
    kl_str_t body = {PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1)};
    if (rt->def.location) {
        char *location = NULL;
        if (!kl_sql_answer_location(r, rt, body, &location)) return;
        size_t n = strlen(location) + (extra ? strlen(extra) : 0) + 1;
        char *both = kl_arena_alloc(r->arena, n);
        snprintf(both, n, "%s%s", location, extra ? extra : "");
        extra = both;
    }
    kl_respond(r, status, "application/json", extra, body.base, body.len);
}

static void on_replay(kl_db_query_t *q) {
    sql_call_t *c = q->ctx;
    if (q->status) kl_sql_answer_error(c->r, c->route, q);
    else answer_stored(c->r, c->route, q->res, true);
}

static void on_result(kl_db_query_t *q) {
    sql_call_t *c = q->ctx;
    kl_request_t *r = c->r;
    const kl_route_def_t *d = &c->route->def;
    kl_app_shard_t *as = r->as;
    r->db_us += q->duration_us;
    if (q->status && c->keyed && !strcmp(q->sqlstate, KL_IDEM_REPLAY_SQLSTATE)) {
        /* The key's request already committed: read its stored answer back. */
        q->stmt = r->routes->stmt_idem_lookup; /* the table its route came from (reload) */
        q->nparams = 3;
        q->values = c->claim_values;
        q->pre = NULL;
        q->npre = 0;
        q->notify = NULL;
        q->done = on_replay;
        kl_db_submit(as->db, q);
        return;
    }
    if (q->status) {
        kl_sql_answer_error(r, c->route, q);
        return;
    }
    /* Its subject reads from the primary until a replica replayed this write (replica.h). */
    if (as->replicas && d->method != KL_ROUTE_GET)
        kl_replica_wrote(as->replicas, kl_replica_subject(as, r, c->claims ? kl_jwt_subject(c->claims) : NULL));
    /* A successful write evicts its tags here before answering, so the client reads its
     * own write; other shards and instances evict when the NOTIFY arrives. */
    kl_str_t tag;
    for (const char *t = c->invalidates ? c->invalidates : ""; kl_tags_next(&t, &tag);) {
        kl_sql_cache_invalidate(as, tag, false);
        kl_mx_add(&as->mx.invalidations[0], 1);
    }
    if (c->keyed) {
        answer_stored(r, c->route, q->res, false);
        return;
    }
    kl_str_t body;
    int rc = kl_sql_answer_body(r->arena, d, q, &body);
    if (rc < 0) {
        kl_sql_answer_no_body(r, rc);
        return;
    }
    if (d->returns == KL_ROUTE_RETURNS_NONE) {
        kl_respond(r, d->status, NULL, NULL, NULL, 0);
        return;
    }
    char *location = NULL;
    if (d->location && !kl_sql_answer_location(r, c->route, body, &location)) return;
    if (d->method == KL_ROUTE_GET && d->status == 200) { /* ETag, 304 and gzip for reads */
        /* an answer that depends on who asks is never for a shared cache */
        kl_rep_t rep = {.status = 200, .body = body, .age_s = -1,
                        .cache_control = d->auth != KL_ROUTE_AUTH_NONE ? "private" : NULL};
        kl_rep_prepare(r, &rep, as->gzip);
        kl_rep_send(r, &rep);
        return;
    }
    kl_respond(r, d->status, "application/json", location, body.base, body.len);
}

static void unauthorized(kl_request_t *r, const char *why, bool bad_token) {
    char hdr[192];
    snprintf(hdr, sizeof(hdr), "WWW-Authenticate: Bearer%s%s%s\r\n", bad_token ? " error=\"invalid_token\", error_description=\"" : "",
             bad_token ? why : "", bad_token ? "\"" : "");
    kl_respond_error(r, 401, why, hdr);
}

/* @auth: verifies the Bearer token (auth.h). Returns false after answering 401; *out is
 * NULL for a route without @auth, an identity without claims for an anonymous request to an
 * optional route. A token that is present but invalid is refused even where auth is
 * optional: it is never silently treated as anonymous. */
static bool authenticate(kl_request_t *r, const kl_route_def_t *d, kl_auth_id_t **out) {
    *out = NULL;
    if (d->auth == KL_ROUTE_AUTH_NONE) return true;
    kl_auth_shard_t *auth = r->as->auth;
    kl_auth_id_t *id = kl_arena_alloc(r->arena, sizeof(*id));
    kl_str_t az = kl_request_header(r, "authorization");
    if (!az.len) {
        if (d->auth == KL_ROUTE_AUTH_REQUIRED || !auth) {
            unauthorized(r, "authentication required", false);
            return false;
        }
        kl_auth_anonymous(auth, id);
        *out = id;
        return true;
    }
    if (az.len <= 7 || strncasecmp(az.base, "Bearer ", 7) != 0) {
        unauthorized(r, "Authorization must be a Bearer token", true);
        return false;
    }
    const char *why = "no JWT keys are configured";
    if (!auth || kl_auth_verify(auth, r->arena, az.base + 7, az.len - 7, (int64_t)time(NULL), id, &why) < 0) {
        unauthorized(r, why, true);
        return false;
    }
    *out = id;
    return true;
}

bool kl_sql_precheck(kl_request_t *r, void *ctx) {
    const kl_route_def_t *d = &((const kl_route_t *)ctx)->def;
    kl_auth_id_t *id;
    if (!authenticate(r, d, &id)) return false;
    r->state = id; /* in the arena, no pointers into the head: it survives detach */
    if (d->rate_count && !kl_rate_check(r, ctx, id ? id->claims : NULL)) return false; /* before body, cache, database */
    if (d->has_body) {
        kl_str_t ct = kl_request_header(r, "content-type");
        if (ct.len < 16 || strncasecmp(ct.base, "application/json", 16) != 0 ||
            (ct.len > 16 && ct.base[16] != ';' && ct.base[16] != ' ')) {
            kl_respond_error(r, 415, "this route takes a JSON body (Content-Type: application/json)", NULL);
            return false;
        }
    }
    return true;
}

/* @idempotent: with an Idempotency-Key, c runs the statement that stores its response,
 * behind the claim of the key (idempotency.h). Returns false after answering 400. */
static bool keyed(kl_request_t *r, const kl_route_t *rt, sql_call_t *c, const char **values,
                  const kl_jwt_claims_t *claims) {
    const kl_route_def_t *d = &rt->def;
    kl_str_t field = kl_request_header_list(r, "idempotency-key");
    if (!field.base) {
        if (d->idempotent == KL_ROUTE_IDEMPOTENT_OPTIONAL) return true;
        kl_respond_error(r, 400, "this route needs an Idempotency-Key header", NULL);
        return false;
    }
    char *key = kl_arena_alloc(r->arena, KL_IDEM_KEY_MAX + 1);
    if (kl_idem_parse_key(field, key) < 0) {
        kl_respond_error(r, 400, "Idempotency-Key must be one string of 1 to 255 visible ASCII characters", NULL);
        return false;
    }
    char *fp = kl_arena_alloc(r->arena, 65), *ttl = kl_arena_alloc(r->arena, 24);
    kl_idem_fingerprint(r->method, r->target, r->body, fp);
    snprintf(ttl, 24, "%llu", (unsigned long long)(d->idempotent_ttl_ms / 1000));
    size_t rlen = strlen(d->method_name) + 1 + strlen(d->path) + 1;
    char *route = kl_arena_alloc(r->arena, rlen);
    snprintf(route, rlen, "%s %s", d->method_name, d->path);
    /* anonymous requests share one namespace of keys per route */
    const char *subject = claims ? kl_jwt_subject(claims) : "";
    const char **v = kl_arena_alloc(r->arena, sizeof(char *) * (d->n_params + 3));
    memcpy(v, values, sizeof(char *) * d->n_params);
    v[d->n_params] = subject;
    v[d->n_params + 1] = route;
    v[d->n_params + 2] = key;
    c->claim_values[0] = subject;
    c->claim_values[1] = route;
    c->claim_values[2] = key;
    c->claim_values[3] = fp;
    c->claim_values[4] = ttl;
    c->claim = (kl_db_call_t){.stmt = r->routes->stmt_idem_claim, .nparams = 5, .values = c->claim_values};
    c->keyed = true;
    c->q.stmt = rt->stmt_idem;
    c->q.nparams = (int)d->n_params + 3;
    c->q.values = v;
    return true;
}

void kl_sql_handle(kl_request_t *r, void *ctx) {
    const kl_route_t *rt = ctx;
    const kl_route_def_t *d = &rt->def;
    kl_app_shard_t *as = r->as;
    const kl_auth_id_t *id = r->state;
    const kl_jwt_claims_t *claims = id ? id->claims : NULL;
    if (d->has_body) {
        if (r->body.len == 0) {
            kl_respond_error(r, 400, "a JSON request body is required", NULL);
            return;
        }
        /* bound as text: a NUL would silently cut it short */
        if (memchr(r->body.base, '\0', r->body.len)) {
            kl_respond_error(r, 400, "the request body contains a NUL byte", NULL);
            return;
        }
    }
    /* the body is checked before anything reaches the database (sql_body.h) */
    const char *fields[KL_ROUTE_MAX_FIELDS] = {0};
    if (d->has_body) {
        char err[512];
        int rc = kl_sql_body_check(r->arena, d, r->body, fields, err, sizeof(err));
        if (rc == -ENOMEM) {
            kl_sql_answer_no_body(r, rc);
            return;
        }
        if (rc != 0) {
            kl_respond_error(r, 400, err, NULL);
            return;
        }
    }
    const char **values = kl_arena_alloc(r->arena, sizeof(char *) * (d->n_params + 1));
    if (!bind_params(r, d, claims, fields, values)) return;
    if (!as->db) {
        kl_respond_error(r, 503, "no database is configured", "Retry-After: 1\r\n");
        return;
    }
    if (d->cache_ms && as->cache && d->returns != KL_ROUTE_RETURNS_NONE) {
        kl_sql_cache_serve(r, rt, values, id);
        return;
    }
    kl_request_defer(r);
    sql_call_t *c = kl_arena_alloc(r->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->route = rt;
    kl_tags_src_t tags = {.def = d, .values = values, .fields = fields, .claims = claims};
    if (d->n_invalidates) c->invalidates = kl_tags_join(r->arena, &tags, d->invalidates, d->n_invalidates);
    c->q.stmt = rt->stmt;
    c->q.nparams = (int)d->n_params;
    c->q.values = values;
    c->q.capped = d->method == KL_ROUTE_GET; /* db.h: a write's answer is never dropped */
    c->q.rows_max = d->rows_max;
    c->q.first_row = d->returns == KL_ROUTE_RETURNS_ONE;
    if (rt->stmt_idem >= 0 && !keyed(r, rt, c, values, claims)) return;
    /* in front of the statement, in its transaction: the key's claim (as keel's own role),
     * then the request's claims and role, which its statement then runs under */
    int np = 0;
    if (c->keyed) c->pre[np++] = c->claim;
    if (id)
        np += kl_auth_calls(r->routes->stmt_auth_claims, r->routes->stmt_auth_role, id->claims_json, id->role,
                            c->pre + np, c->auth_values);
    c->q.pre = np ? c->pre : NULL;
    c->q.npre = np;
    c->q.timeout_ms = (int)d->timeout_ms;
    /* a GET's statement alone in its transaction may share a Sync with other reads (db.h) */
    c->q.groupable = d->method == KL_ROUTE_GET && np == 0 && !c->invalidates && !d->timeout_ms;
    c->q.notify = c->invalidates;
    c->q.done = on_result;
    c->q.ctx = c;
    c->claims = claims;
    kl_db_t *db = as->db;
    if (d->method == KL_ROUTE_GET && as->replica)
        db = kl_replica_pick(as->replica, as->db, d->primary, kl_replica_subject(as, r, claims ? kl_jwt_subject(claims) : NULL), NULL);
    kl_db_submit(db, &c->q);
}
