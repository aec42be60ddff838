#include "app/openapi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app/routes_load.h"
#include "core/alloc.h"
#include "proto/http1.h"
#include "proto/json.h"

static const char usage[] =
    "usage: keel openapi [--routes DIR]\n"
    "  Prints an OpenAPI 3.1 document (JSON) of the .sql route files of DIR (default:\n"
    "  $KEEL_ROUTES). Exit status: 0, 1 when a route file does not load, 2 usage error.\n";

/* A JSON string literal of s, quotes included. */
static void jstr(FILE *o, const char *s) {
    size_t len = strlen(s), cap = len * 6 + 1;
    char *buf = kl_malloc(cap);
    kl_json_escape(buf, cap, s, len);
    fprintf(o, "\"%s\"", buf);
    kl_free(buf);
}

/* The OpenAPI path: {name:type} written {name}. */
static void api_path(const kl_route_def_t *d, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    if (d->n_segments == 0) snprintf(out, cap, "/");
    for (size_t i = 0; i < d->n_segments && n < cap; i++) {
        const kl_route_segment_t *s = &d->segments[i];
        n += (size_t)snprintf(out + n, cap - n, s->literal ? "/%s" : "/{%s}", s->literal ? s->literal : s->name);
    }
}

static void type_schema(FILE *o, kl_route_type_t t) {
    switch (t) {
    case KL_ROUTE_INT: fputs("\"type\":\"integer\",\"format\":\"int64\"", o); break;
    case KL_ROUTE_UUID: fputs("\"type\":\"string\",\"format\":\"uuid\"", o); break;
    case KL_ROUTE_BOOL: fputs("\"type\":\"boolean\"", o); break;
    default: fputs("\"type\":\"string\"", o); break;
    }
}

/* A default or one-of value written as the JSON value of its type. */
static void typed_value(FILE *o, kl_route_type_t t, const char *v) {
    if (t == KL_ROUTE_INT || t == KL_ROUTE_BOOL) fputs(v, o); /* the parser checked its form */
    else jstr(o, v);
}

static void query_param(FILE *o, const kl_route_query_t *q) {
    fputs("{\"name\":", o);
    jstr(o, q->name);
    fprintf(o, ",\"in\":\"query\",\"required\":%s,\"schema\":{", q->default_value ? "false" : "true");
    type_schema(o, q->type);
    if (q->type == KL_ROUTE_INT) {
        if (q->has_min) fprintf(o, ",\"minimum\":%" PRId64, q->min);
        if (q->has_max) fprintf(o, ",\"maximum\":%" PRId64, q->max);
    } else if (q->type == KL_ROUTE_TEXT) { /* bounds on its length in bytes */
        if (q->has_min) fprintf(o, ",\"minLength\":%" PRId64, q->min);
        if (q->has_max) fprintf(o, ",\"maxLength\":%" PRId64, q->max);
    }
    if (q->n_one_of) {
        fputs(",\"enum\":[", o);
        for (size_t i = 0; i < q->n_one_of; i++) {
            if (i) fputc(',', o);
            typed_value(o, q->type, q->one_of[i]);
        }
        fputc(']', o);
    }
    if (q->default_value) {
        fputs(",\"default\":", o);
        typed_value(o, q->type, q->default_value);
    }
    fputs("}}", o);
}

static void field_schema(FILE *o, const kl_route_field_t *f) {
    static const char *const types[] = {
        [KL_FIELD_TEXT] = "string", [KL_FIELD_INT] = "integer", [KL_FIELD_BIGINT] = "integer",
        [KL_FIELD_BOOL] = "boolean", [KL_FIELD_NUMERIC] = "number", [KL_FIELD_UUID] = "string",
        [KL_FIELD_TIMESTAMPTZ] = "string", [KL_FIELD_JSON] = NULL,
    };
    static const char *const formats[] = {
        [KL_FIELD_INT] = "int32", [KL_FIELD_BIGINT] = "int64", [KL_FIELD_UUID] = "uuid",
        [KL_FIELD_TIMESTAMPTZ] = "date-time", [KL_FIELD_JSON] = NULL,
    };
    const char *type = types[f->type], *format = formats[f->type];
    if (!type) { /* any JSON value */
        fputs("\"description\":\"any JSON value\"", o);
        return;
    }
    /* an optional field takes null as absent (it binds SQL NULL) */
    if (f->required) fprintf(o, "\"type\":\"%s\"", type);
    else fprintf(o, "\"type\":[\"%s\",\"null\"]", type);
    if (format) fprintf(o, ",\"format\":\"%s\"", format);
    if (f->has_min) fprintf(o, ",\"minimum\":%" PRId64, f->min);
    if (f->has_max) fprintf(o, ",\"maximum\":%" PRId64, f->max);
    if (f->minlen >= 0) fprintf(o, ",\"minLength\":%" PRId64, f->minlen);
    if (f->maxlen >= 0) fprintf(o, ",\"maxLength\":%" PRId64, f->maxlen);
    if (f->n_one_of) {
        fputs(",\"enum\":[", o);
        for (size_t i = 0; i < f->n_one_of; i++) {
            if (i) fputc(',', o);
            jstr(o, f->one_of[i]);
        }
        fputs(f->required ? "]" : ",null]", o);
    }
}

static void request_body(FILE *o, const kl_route_def_t *d) {
    fputs(",\"requestBody\":{\"required\":true", o);
    if (d->body_max) fprintf(o, ",\"description\":\"JSON, at most %" PRIu64 " bytes\"", d->body_max);
    fputs(",\"content\":{\"application/json\":{\"schema\":{", o);
    if (d->n_fields == 0) {
        fputs("\"description\":\"any JSON value, bound as :body\"}}}}", o);
        return;
    }
    fputs("\"type\":\"object\",\"properties\":{", o);
    for (size_t i = 0; i < d->n_fields; i++) {
        if (i) fputc(',', o);
        jstr(o, d->fields[i].name);
        fputs(":{", o);
        field_schema(o, &d->fields[i]);
        fputc('}', o);
    }
    fputc('}', o);
    bool any = false;
    for (size_t i = 0; i < d->n_fields; i++) {
        if (!d->fields[i].required) continue;
        fputs(any ? "," : ",\"required\":[", o);
        jstr(o, d->fields[i].name);
        any = true;
    }
    if (any) fputc(']', o);
    fprintf(o, ",\"additionalProperties\":%s}}}}", d->body_allow_extra ? "true" : "false");
}

static const char *const ratelimit_headers[] = {"RateLimit-Policy", "RateLimit", "x-ratelimit-limit",
                                                "x-ratelimit-remaining", "x-ratelimit-reset"};

static void rate_headers(FILE *o, bool with_retry_after) {
    for (size_t i = 0; i < sizeof(ratelimit_headers) / sizeof(*ratelimit_headers); i++)
        fprintf(o, "%s\"%s\":{\"$ref\":\"#/components/headers/%s\"}", i ? "," : "", ratelimit_headers[i],
                ratelimit_headers[i]);
    if (with_retry_after) fputs(",\"Retry-After\":{\"$ref\":\"#/components/headers/Retry-After\"}", o);
}

static void error_response(FILE *o, bool *first, int status, const char *why, const kl_route_def_t *d) {
    fprintf(o, "%s\"%d\":{\"description\":", *first ? "" : ",", status);
    *first = false;
    jstr(o, why);
    bool retry = status == 503 || status == 429;
    if (d->rate_count || retry || status == 401) {
        fputs(",\"headers\":{", o);
        if (d->rate_count) rate_headers(o, status == 429);
        else if (retry) fputs("\"Retry-After\":{\"$ref\":\"#/components/headers/Retry-After\"}", o);
        if (status == 401)
            fprintf(o, "%s\"WWW-Authenticate\":{\"description\":\"Bearer, with error=invalid_token when a token was "
                       "sent\",\"schema\":{\"type\":\"string\"}}", d->rate_count ? "," : "");
        fputc('}', o);
    }
    fputs(",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}}", o);
}

static void responses(FILE *o, const kl_route_def_t *d) {
    fprintf(o, ",\"responses\":{\"%d\":{\"description\":\"%s\"", d->status, kl_http1_reason(d->status));
    bool headers = d->rate_count || d->location || d->cache_ms || d->method == KL_ROUTE_GET;
    if (headers) {
        fputs(",\"headers\":{", o);
        bool first = true;
        if (d->rate_count) rate_headers(o, false), first = false;
        if (d->location) fprintf(o, "%s\"Location\":{\"schema\":{\"type\":\"string\"}}", first ? "" : ","), first = false;
        if (d->method == KL_ROUTE_GET)
            fprintf(o, "%s\"ETag\":{\"schema\":{\"type\":\"string\"}}", first ? "" : ","), first = false;
        if (d->cache_ms)
            fprintf(o, "%s\"Cache-Control\":{\"schema\":{\"type\":\"string\"}},\"Age\":{\"schema\":{\"type\":\"integer\"}}",
                    first ? "" : ",");
        fputc('}', o);
    }
    if (d->returns == KL_ROUTE_RETURNS_ONE)
        fputs(",\"content\":{\"application/json\":{\"schema\":{\"description\":\"the first column of the one "
              "row\"}}}", o);
    else if (d->returns == KL_ROUTE_RETURNS_MANY)
        fputs(",\"content\":{\"application/json\":{\"schema\":{\"type\":\"array\",\"items\":{\"description\":"
              "\"the first column of each row\"}}}}", o);
    fputc('}', o);
    if (d->method == KL_ROUTE_GET && d->cache_ms) fputs(",\"304\":{\"description\":\"Not Modified (If-None-Match)\"}", o);
    bool first = false;
    bool input = d->n_params > 0 || d->n_query > 0 || d->has_body || d->idempotent != KL_ROUTE_IDEMPOTENT_NO;
    error_response(o, &first, 400,
                   input ? "a parameter, header or body is malformed or out of bounds, or the database refused the "
                           "data (SQLSTATE class 22, 23502, 23514)"
                         : "the database refused the data (SQLSTATE class 22, 23502, 23514)",
                   d);
    if (d->auth != KL_ROUTE_AUTH_NONE) {
        error_response(o, &first, 401,
                       d->auth == KL_ROUTE_AUTH_REQUIRED ? "no valid Bearer token" : "a Bearer token that is not valid", d);
        error_response(o, &first, 403, "the SQL refused this caller (SQLSTATE KH403)", d);
    }
    if (d->returns == KL_ROUTE_RETURNS_ONE) error_response(o, &first, 404, "no such row", d);
    if (d->method != KL_ROUTE_GET)
        error_response(o, &first, 409, "the request conflicts with existing data (SQLSTATE 23505, 23503, or KH409 "
                       "from the SQL)", d);
    if (d->has_body) error_response(o, &first, 413, "the body is larger than the route takes", d);
    else if (d->method != KL_ROUTE_GET) error_response(o, &first, 413, "this route takes no request body", d);
    if (d->has_body) error_response(o, &first, 415, "the body is not application/json", d);
    if (d->idempotent != KL_ROUTE_IDEMPOTENT_NO)
        error_response(o, &first, 422, "this Idempotency-Key was already used with a different request", d);
    if (d->rate_count) error_response(o, &first, 429, "over the route's @rate limit", d);
    error_response(o, &first, 500, "the query failed (details are in keel's log)", d);
    error_response(o, &first, 503, "the database is unavailable or overloaded; retry after Retry-After", d);
    error_response(o, &first, 504, "the query took longer than its time limit", d);
    fputc('}', o);
}

static void operation(FILE *o, const kl_route_def_t *d) {
    char id[256];
    const char *base = strrchr(d->file, '/');
    snprintf(id, sizeof(id), "%s", base ? base + 1 : d->file);
    id[strcspn(id, ".")] = '\0';
    char lower[8];
    size_t i = 0;
    for (; d->method_name[i] && i < sizeof(lower) - 1; i++) lower[i] = (char)(d->method_name[i] | 0x20);
    lower[i] = '\0';
    fprintf(o, "\"%s\":{\"operationId\":", lower);
    jstr(o, id);
    fputs(",\"description\":", o);
    char desc[512];
    snprintf(desc, sizeof(desc), "From %s.", base ? base + 1 : d->file);
    jstr(o, desc);
    fputs(",\"parameters\":[", o);
    bool first = true;
    for (size_t s = 0; s < d->n_segments; s++) {
        const kl_route_segment_t *seg = &d->segments[s];
        if (seg->literal) continue;
        fputs(first ? "{\"name\":" : ",{\"name\":", o);
        first = false;
        jstr(o, seg->name);
        fputs(",\"in\":\"path\",\"required\":true,\"schema\":{", o);
        type_schema(o, seg->type);
        fputs("}}", o);
    }
    for (size_t q = 0; q < d->n_query; q++) {
        if (!first) fputc(',', o);
        first = false;
        query_param(o, &d->query[q]);
    }
    if (d->idempotent != KL_ROUTE_IDEMPOTENT_NO) {
        fprintf(o, "%s{\"name\":\"Idempotency-Key\",\"in\":\"header\",\"required\":%s,\"description\":\"the "
                   "request runs once per key; a retry gets the stored answer\",\"schema\":{\"type\":\"string\","
                   "\"minLength\":1,\"maxLength\":255}}",
                first ? "" : ",", d->idempotent == KL_ROUTE_IDEMPOTENT_REQUIRED ? "true" : "false");
    }
    fputc(']', o);
    if (d->has_body) request_body(o, d);
    if (d->auth == KL_ROUTE_AUTH_REQUIRED) fputs(",\"security\":[{\"bearerAuth\":[]}]", o);
    else if (d->auth == KL_ROUTE_AUTH_OPTIONAL) fputs(",\"security\":[{},{\"bearerAuth\":[]}]", o);
    responses(o, d);
    fputc('}', o);
}

static const char components[] =
    ",\"components\":{"
    "\"schemas\":{\"Error\":{\"type\":\"object\",\"required\":[\"statusCode\",\"error\",\"message\"],"
    "\"properties\":{\"statusCode\":{\"type\":\"integer\"},\"error\":{\"type\":\"string\"},"
    "\"message\":{\"type\":\"string\"}}}},"
    "\"securitySchemes\":{\"bearerAuth\":{\"type\":\"http\",\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\"}},"
    "\"headers\":{"
    "\"RateLimit-Policy\":{\"description\":\"the route's limits (IETF RateLimit fields)\",\"schema\":{\"type\":\"string\"}},"
    "\"RateLimit\":{\"description\":\"requests left and seconds until the window resets\",\"schema\":{\"type\":\"string\"}},"
    "\"x-ratelimit-limit\":{\"schema\":{\"type\":\"integer\"}},"
    "\"x-ratelimit-remaining\":{\"schema\":{\"type\":\"integer\"}},"
    "\"x-ratelimit-reset\":{\"description\":\"seconds until the window resets\",\"schema\":{\"type\":\"integer\"}},"
    "\"Retry-After\":{\"description\":\"seconds to wait before retrying\",\"schema\":{\"type\":\"integer\"}}"
    "}}";

int kl_openapi_write(FILE *o, const kl_route_t *routes, size_t n, const char *title) {
    fputs("{\"openapi\":\"3.1.0\",\"info\":{\"title\":", o);
    jstr(o, title);
    fputs(",\"version\":\"1\"},\"paths\":{", o);
    bool *done = kl_calloc(n + 1);
    char path[4096], other[4096];
    bool first_path = true;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        api_path(&routes[i].def, path, sizeof(path));
        if (!first_path) fputc(',', o);
        first_path = false;
        jstr(o, path);
        fputs(":{", o);
        bool first_op = true;
        /* every route of this path, GET, POST, PUT, PATCH, DELETE in that order */
        for (int m = KL_ROUTE_GET; m <= KL_ROUTE_DELETE; m++) {
            for (size_t j = i; j < n; j++) {
                if (done[j] || (int)routes[j].def.method != m) continue;
                api_path(&routes[j].def, other, sizeof(other));
                if (strcmp(path, other)) continue;
                done[j] = true;
                if (!first_op) fputc(',', o);
                first_op = false;
                operation(o, &routes[j].def);
            }
        }
        fputc('}', o);
    }
    kl_free(done);
    fputs("}", o);
    fputs(components, o);
    fputs("}\n", o);
    return ferror(o) ? -EIO : 0;
}

int kl_openapi_main(int argc, char **argv) {
    const char *dir = getenv("KEEL_ROUTES");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strncmp(a, "--routes=", 9)) dir = a + 9;
        else if (!strcmp(a, "--routes") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "keel openapi: unknown or incomplete argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!dir || !*dir) {
        fprintf(stderr, "keel openapi: no route folder: pass --routes DIR or set KEEL_ROUTES\n%s", usage);
        return 2;
    }
    kl_route_table_t t;
    char err[1024];
    /* keys do not matter for a description: @auth routes are described, not served */
    if (kl_routes_load(dir, true, &t, err, sizeof(err)) < 0) {
        fprintf(stderr, "keel openapi: %s\n", err);
        return 1;
    }
    char title[512];
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    const char *base = dir + dl;
    while (base > dir && base[-1] != '/') base--;
    /* examples/bounties/routes is "bounties": a folder named routes says little */
    if (dir + dl - base == 6 && !strncmp(base, "routes", 6) && base > dir + 1) {
        const char *end = base - 1;
        for (base = end; base > dir && base[-1] != '/';) base--;
        dl = (size_t)(end - dir);
    }
    snprintf(title, sizeof(title), "%.*s", (int)(dir + dl - base), base);
    int r = kl_openapi_write(stdout, t.routes, t.n, title);
    kl_router_free(&t);
    if (fflush(stdout) != 0 || r < 0) {
        fprintf(stderr, "keel openapi: cannot write the document\n");
        return 1;
    }
    return 0;
}
