/* Response framing (respond.c) and representations (represent.c) through a loopback
 * connection, as h2o's h2o_loopback_create does: the request's ops write into a buffer,
 * so no socket and no io_uring are involved. */
#include "app/represent.h"
#include "app/respond.h"

#include <stdbool.h>
#include <stdint.h>

#include "kt.h"
#include "kt_gunzip.h"

typedef struct {
    char out[65536];
    size_t len;
    int done;
    bool keep_alive;
} loopback_t;

static loopback_t lb;

static void lb_write(kl_request_t *r, const void *data, size_t len) {
    (void)r;
    if (lb.len + len > sizeof(lb.out)) abort();
    memcpy(lb.out + lb.len, data, len);
    lb.len += len;
}

static void lb_done(kl_request_t *r) {
    lb.done++;
    kl_arena_reset(r->arena);
}

static bool lb_keep_alive(const kl_request_t *r) {
    (void)r;
    return lb.keep_alive;
}

static const kl_request_ops_t lb_ops = {.write = lb_write, .done = lb_done, .keep_alive = lb_keep_alive};

static kl_config_t cfg;
static kl_shard_t shard;
static kl_app_shard_t as;
static kl_recycler_t recycler;
static kl_arena_t arena;
static kl_http1_header_t hdrs[8];

/* A fresh GET request on the loopback, with up to 4 "Name: value" header pairs. */
static kl_request_t *request(const char *method, int minor, const char *const *fields, size_t nfields) {
    static kl_request_t r;
    memset(&lb, 0, sizeof(lb));
    lb.keep_alive = true;
    memset(&r, 0, sizeof(r));
    r.ops = &lb_ops;
    r.as = &as;
    r.arena = &arena;
    r.method = (kl_str_t){method, strlen(method)};
    r.target = r.path = KL_STR("/x");
    r.is_head = !strcmp(method, "HEAD");
    r.minor_version = minor;
    for (size_t i = 0; i < nfields; i++) {
        hdrs[i].name = (kl_str_t){fields[2 * i], strlen(fields[2 * i])};
        hdrs[i].value = (kl_str_t){fields[2 * i + 1], strlen(fields[2 * i + 1])};
    }
    r.headers = hdrs;
    r.num_headers = nfields;
    return &r;
}

static void setup(void) {
    cfg.access_log = false;
    shard.id = 0;
    as.shard = &shard;
    as.cfg = &cfg;
    as.gzip = kl_gzip_new(1);
    snprintf(as.id_prefix, sizeof(as.id_prefix), "t-");
    as.date_len = (size_t)snprintf(as.date, sizeof(as.date), "Date: Thu, 03 Dec 2026 10:00:00 GMT\r\n");
    kl_recycler_init(&recycler, 8192, 4);
    kl_arena_init(&arena, &recycler);
}

/* The value of header name in lb.out ("" when absent), into buf. */
static const char *field(const char *name, char *buf, size_t cap) {
    char want[64];
    snprintf(want, sizeof(want), "\r\n%s: ", name);
    const char *end = strstr(lb.out, "\r\n\r\n");
    const char *p = strstr(lb.out, want);
    buf[0] = '\0';
    if (!p || !end || p > end) return buf;
    p += strlen(want);
    const char *e = strstr(p, "\r\n");
    snprintf(buf, cap, "%.*s", (int)(e - p), p);
    return buf;
}

static const char *body_of(size_t *len) {
    lb.out[lb.len] = '\0';
    const char *b = strstr(lb.out, "\r\n\r\n");
    if (!b) abort();
    *len = lb.len - (size_t)(b + 4 - lb.out);
    return b + 4;
}

static void framing_keep_alive_and_close(void) {
    char v[128];
    kl_request_t *r = request("GET", 1, NULL, 0);
    kl_respond(r, 200, "application/json", NULL, "{}", 2);
    lb.out[lb.len] = '\0';
    KT_EQ(lb.done, 1);
    KT_CHECK(!strncmp(lb.out, "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\n", 54));
    KT_CHECK(!strcmp(field("Content-Length", v, sizeof v), "2"));
    KT_CHECK(!strcmp(field("Content-Type", v, sizeof v), "application/json"));
    KT_CHECK(!strncmp(field("X-Request-Id", v, sizeof v), "t-", 2)); /* generated */
    KT_CHECK(!strcmp(field("Connection", v, sizeof v), ""));         /* 1.1 keeps alive by default */
    size_t n;
    const char *b = body_of(&n);
    KT_STREQ(b, n, "{}");

    r = request("GET", 1, NULL, 0);
    lb.keep_alive = false;
    kl_respond(r, 200, NULL, NULL, "x", 1);
    lb.out[lb.len] = '\0';
    KT_CHECK(!strcmp(field("Connection", v, sizeof v), "close"));

    r = request("GET", 0, NULL, 0);
    kl_respond(r, 200, NULL, NULL, "x", 1);
    lb.out[lb.len] = '\0';
    KT_CHECK(!strcmp(field("Connection", v, sizeof v), "keep-alive")); /* 1.0 must be told */
}

static void head_no_content_and_not_modified(void) {
    char v[64];
    kl_request_t *r = request("HEAD", 1, NULL, 0);
    kl_respond(r, 200, "application/json", NULL, "{\"a\":1}", 7);
    size_t n;
    body_of(&n);
    KT_EQ(n, 0);                                                 /* no body bytes on HEAD ... */
    KT_CHECK(!strcmp(field("Content-Length", v, sizeof v), "7")); /* ... but the GET's length */

    r = request("DELETE", 1, NULL, 0);
    kl_respond(r, 204, "application/json", NULL, "ignored", 7);
    body_of(&n);
    KT_EQ(n, 0);
    KT_CHECK(!strcmp(field("Content-Length", v, sizeof v), ""));
    KT_CHECK(!strcmp(field("Content-Type", v, sizeof v), ""));
}

static void error_shape_and_request_id(void) {
    const char *f[] = {"X-Request-Id", "abc-123"};
    kl_request_t *r = request("GET", 1, f, 1);
    kl_respond_set_request_id(&as, r, kl_request_header(r, "x-request-id"));
    kl_respond_error(r, 429, "slow \"down\"", "Retry-After: 3\r\n");
    char v[64];
    KT_CHECK(!strncmp(lb.out, "HTTP/1.1 429 Too Many Requests\r\n", 32));
    KT_CHECK(!strcmp(field("X-Request-Id", v, sizeof v), "abc-123"));
    KT_CHECK(!strcmp(field("Retry-After", v, sizeof v), "3"));
    size_t n;
    const char *b = body_of(&n);
    KT_STREQ(b, n, "{\"statusCode\":429,\"error\":\"Too Many Requests\",\"message\":\"slow \\\"down\\\"\"}");

    const char *bad[] = {"X-Request-Id", "has space"};
    r = request("GET", 1, bad, 1);
    kl_respond_set_request_id(&as, r, kl_request_header(r, "x-request-id"));
    KT_CHECK(!strncmp(r->request_id, "t-", 2)); /* not echoed: generated instead */
}

static void gone_request_writes_nothing(void) {
    kl_request_t *r = request("GET", 1, NULL, 0);
    r->gone = true;
    kl_respond(r, 200, NULL, NULL, "x", 1);
    KT_EQ(lb.len, 0);
    KT_EQ(lb.done, 1);
}

static size_t big_body(char *out, size_t cap) {
    size_t n = 0;
    for (int i = 0; n + 80 < cap; i++) n += (size_t)snprintf(out + n, cap - n, "%s{\"id\":%d,\"t\":\"row %d\"}", i ? "," : "[", i, i);
    out[n++] = ']';
    return n;
}

static void representations_gzip_etag_304(void) {
    static char body[4096];
    size_t n = big_body(body, sizeof body), got;
    char etag[64], etag_gz[64], v[64];

    /* identity: no Accept-Encoding */
    kl_request_t *r = request("GET", 1, NULL, 0);
    kl_rep_t rep = {.status = 200, .body = {body, n}, .cache_control = "public, max-age=60", .age_s = 5};
    kl_rep_prepare(r, &rep, as.gzip);
    KT_CHECK(!rep.use_gzip);
    kl_rep_send(r, &rep);
    field("ETag", etag, sizeof etag);
    KT_CHECK(etag[0] == '"');
    KT_CHECK(!strcmp(field("Vary", v, sizeof v), "Accept-Encoding"));
    KT_CHECK(!strcmp(field("Cache-Control", v, sizeof v), "public, max-age=60"));
    KT_CHECK(!strcmp(field("Age", v, sizeof v), "5"));
    KT_CHECK(!strcmp(field("Content-Encoding", v, sizeof v), ""));
    const char *b = body_of(&got);
    KT_CHECK(got == n && !memcmp(b, body, n));

    /* gzip: its own ETag, and the bytes decompress to the body */
    const char *ae[] = {"Accept-Encoding", "gzip, br"};
    r = request("GET", 1, ae, 1);
    rep = (kl_rep_t){.status = 200, .body = {body, n}, .age_s = -1};
    kl_rep_prepare(r, &rep, as.gzip);
    KT_CHECK(rep.use_gzip);
    kl_rep_send(r, &rep);
    field("ETag", etag_gz, sizeof etag_gz);
    KT_CHECK(strcmp(etag, etag_gz) != 0);
    KT_CHECK(!strcmp(field("Content-Encoding", v, sizeof v), "gzip"));
    KT_CHECK(!strcmp(field("Age", v, sizeof v), ""));
    b = body_of(&got);
    KT_CHECK(kt_gunzip_equals(b, got, body, n));

    /* If-None-Match is compared with the representation that would be sent */
    const char *inm_gz[] = {"Accept-Encoding", "gzip", "If-None-Match", etag_gz};
    r = request("GET", 1, inm_gz, 2);
    rep = (kl_rep_t){.status = 200, .body = {body, n}, .age_s = -1};
    kl_rep_prepare(r, &rep, as.gzip);
    kl_rep_send(r, &rep);
    KT_CHECK(!strncmp(lb.out, "HTTP/1.1 304 Not Modified\r\n", 27));
    KT_CHECK(!strcmp(field("ETag", v, sizeof v), etag_gz));
    body_of(&got);
    KT_EQ(got, 0);

    const char *inm_id[] = {"Accept-Encoding", "gzip", "If-None-Match", etag};
    r = request("GET", 1, inm_id, 2);
    rep = (kl_rep_t){.status = 200, .body = {body, n}, .age_s = -1};
    kl_rep_prepare(r, &rep, as.gzip);
    kl_rep_send(r, &rep);
    KT_CHECK(!strncmp(lb.out, "HTTP/1.1 200 OK\r\n", 17)); /* the identity tag does not name the gzip variant */

    /* small bodies are never compressed and carry no Vary */
    r = request("GET", 1, ae, 1);
    rep = (kl_rep_t){.status = 200, .body = KL_STR("{\"ok\":true}"), .age_s = -1};
    kl_rep_prepare(r, &rep, as.gzip);
    KT_CHECK(!rep.use_gzip);
    kl_rep_send(r, &rep);
    KT_CHECK(!strcmp(field("Vary", v, sizeof v), ""));
}

int main(void) {
    setup();
    KT_RUN(framing_keep_alive_and_close);
    KT_RUN(head_no_content_and_not_modified);
    KT_RUN(error_shape_and_request_id);
    KT_RUN(gone_request_writes_nothing);
    KT_RUN(representations_gzip_etag_304);
    kl_gzip_free(as.gzip);
    kl_arena_reset(&arena);
    kl_recycler_destroy(&recycler);
    return KT_DONE();
}
