/* test_http1.c - the strict HTTP/1.1 parser and chunked decoder (src/proto/http1.c).
 *
 * Every input sits at the end of a page followed by a PROT_NONE page (kt_guard_copy), so
 * an over-read faults. Every head is also fed byte by byte, each prefix in its own guarded
 * copy, with and without last_len: the first answer that is not INCOMPLETE must equal the
 * one-shot answer, field for field. Chunked bodies are decoded whole and in pieces of
 * several sizes, and every way must produce the same data, leftover and verdict.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "proto/http1.h"

#define CAP 64

typedef struct {
    int r;
    kl_http1_request_t req;
    kl_http1_header_t hdrs[CAP];
} result_t;

static result_t one, inc;

static void parse_into(const char *buf, size_t len, size_t last_len, const kl_http1_limits_t *lim,
                       size_t cap, result_t *out) {
    memset(out, 0, sizeof *out);
    out->req.headers = out->hdrs;
    out->req.num_headers = cap;
    out->r = kl_http1_parse_request(buf, len, last_len, lim, &out->req);
}

/* Same content, and the same offset into its buffer unless it is the static "/" path. */
static int str_same(const char *ba, size_t la, kl_str_t a, const char *bb, size_t lb, kl_str_t b) {
    if (a.len != b.len || (a.len && memcmp(a.base, b.base, a.len) != 0)) return 0;
    int ina = a.base >= ba && a.base + a.len <= ba + la;
    int inb = b.base >= bb && b.base + b.len <= bb + lb;
    if (ina != inb) return 0;
    return !ina || a.len == 0 || a.base - ba == b.base - bb;
}

/* Whether two parses of the same bytes (in different copies) reached the same answer. */
static int same_result(const char *ba, size_t la, const result_t *a, const char *bb, size_t lb,
                       const result_t *b) {
    if (a->r != b->r) return 0;
    if (a->r == KL_HTTP1_ERROR)
        return a->req.status == b->req.status && strcmp(a->req.error, b->req.error) == 0;
    if (a->r < 0) return 1;
    const kl_http1_request_t *x = &a->req, *y = &b->req;
    if (!str_same(ba, la, x->method, bb, lb, y->method) || !str_same(ba, la, x->target, bb, lb, y->target) ||
        !str_same(ba, la, x->path, bb, lb, y->path) || !str_same(ba, la, x->query, bb, lb, y->query) ||
        !str_same(ba, la, x->host, bb, lb, y->host))
        return 0;
    if (x->minor_version != y->minor_version || x->num_headers != y->num_headers || x->body != y->body ||
        x->content_length != y->content_length || x->keep_alive != y->keep_alive ||
        x->expect_continue != y->expect_continue)
        return 0;
    for (size_t i = 0; i < x->num_headers; i++)
        if (!str_same(ba, la, x->headers[i].name, bb, lb, y->headers[i].name) ||
            !str_same(ba, la, x->headers[i].value, bb, lb, y->headers[i].value))
            return 0;
    return 1;
}

/* Parses s[0..len) at once into `one` (buffer *keep, to free with kt_guard_free), then
 * byte by byte (with last_len, then without) and checks both reach the same answer at the
 * first prefix that is not INCOMPLETE. Returns one.r. */
static int parse_checked(const char *s, size_t len, const kl_http1_limits_t *lim, size_t cap,
                         char **keep) {
    char *full = kt_guard_copy(s, len);
    parse_into(full, len, 0, lim, cap, &one);
    for (int hint = 1; hint >= 0; hint--) {
        int done = 0;
        for (size_t k = 0; k <= len && !done; k++) {
            char *p = kt_guard_copy(s, k);
            parse_into(p, k, hint && k ? k - 1 : 0, lim, cap, &inc);
            if (inc.r != KL_HTTP1_INCOMPLETE) {
                done = 1;
                if (!same_result(full, len, &one, p, k, &inc)) {
                    fprintf(stderr, "  incremental (hint %d) differs at prefix %zu: r=%d/%d status=%d/%d (%s / %s)\n",
                            hint, k, one.r, inc.r, one.req.status, inc.req.status,
                            one.r == -1 ? one.req.error : "-", inc.r == -1 ? inc.req.error : "-");
                    KT_CHECK(0);
                }
                if (inc.r >= 0) KT_EQ(inc.r, k); /* a head is complete exactly at its last byte */
            }
            kt_guard_free(p, k);
        }
        if (!done && one.r != KL_HTTP1_INCOMPLETE) {
            fprintf(stderr, "  incremental (hint %d) never finished, one-shot r=%d\n", hint, one.r);
            KT_CHECK(0);
        }
    }
    *keep = full;
    return one.r;
}

/* One rejection: the status, with the input's first bytes shown when it differs. */
static void expect_status_lim(const char *s, size_t len, const kl_http1_limits_t *lim, size_t cap, int status) {
    char *b;
    int r = parse_checked(s, len, lim, cap, &b);
    if (r != KL_HTTP1_ERROR || one.req.status != status) {
        fprintf(stderr, "  want %d, got r=%d status=%d (%s) for \"%.60s\"\n", status, r, one.req.status,
                r == KL_HTTP1_ERROR ? one.req.error : "-", s);
        KT_CHECK(0);
    } else {
        KT_CHECK(one.req.error != NULL && one.req.error[0] != '\0');
    }
    kt_guard_free(b, len);
}
#define EXPECT(lit, status) expect_status_lim(lit, sizeof(lit) - 1, NULL, CAP, status)

/* One acceptance: returns the guarded buffer (free with kt_guard_free(b, len)). */
static char *accept_lim(const char *s, size_t len, const kl_http1_limits_t *lim, size_t cap) {
    char *b;
    int r = parse_checked(s, len, lim, cap, &b);
    if (r < 0) {
        fprintf(stderr, "  want success, got r=%d status=%d (%s) for \"%.60s\"\n", r, one.req.status,
                r == KL_HTTP1_ERROR ? one.req.error : "-", s);
        KT_CHECK(0);
    }
    return b;
}
#define ACCEPT(lit) accept_lim(lit, sizeof(lit) - 1, NULL, CAP)
#define DONE(b, lit) kt_guard_free(b, sizeof(lit) - 1)

static const kl_str_t *hdr(const char *name) {
    for (size_t i = 0; i < one.req.num_headers; i++)
        if (kl_str_ieq(one.hdrs[i].name, name)) return &one.hdrs[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- acceptance */

static void test_curl_get(void) {
    static const char s[] = "GET /api/bounties?status=open&limit=20 HTTP/1.1\r\nHost: localhost:8080\r\n"
                            "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.r, sizeof s - 1);
    KT_STREQ(one.req.method.base, one.req.method.len, "GET");
    KT_STREQ(one.req.target.base, one.req.target.len, "/api/bounties?status=open&limit=20");
    KT_STREQ(one.req.path.base, one.req.path.len, "/api/bounties");
    KT_STREQ(one.req.query.base, one.req.query.len, "status=open&limit=20");
    KT_STREQ(one.req.host.base, one.req.host.len, "localhost:8080");
    KT_EQ(one.req.minor_version, 1);
    KT_EQ(one.req.num_headers, 3);
    KT_STREQ(one.hdrs[1].name.base, one.hdrs[1].name.len, "User-Agent");
    KT_STREQ(one.hdrs[1].value.base, one.hdrs[1].value.len, "curl/7.88.1");
    KT_EQ(one.req.body, KL_HTTP1_BODY_NONE);
    KT_CHECK(one.req.keep_alive);
    KT_CHECK(!one.req.expect_continue);
    DONE(b, s);
}

static void test_browser_get(void) {
    static const char s[] =
        "GET /api/bounties/42 HTTP/1.1\r\n"
        "Host: api.example.com\r\n"
        "Connection: keep-alive\r\n"
        "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
        "Accept: application/json, text/plain, */*\r\n"
        "sec-ch-ua-mobile: ?0\r\n"
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n"
        "Origin: https://app.example.com\r\n"
        "Referer: https://app.example.com/\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n"
        "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
        "If-None-Match: \"5d8c72a5edda8d6a\"\r\n"
        "Cookie: session=abc; theme=dark\r\n"
        "\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.r, sizeof s - 1);
    KT_EQ(one.req.num_headers, 13);
    const kl_str_t *v = hdr("if-none-match");
    KT_CHECK(v != NULL);
    if (v) KT_STREQ(v->base, v->len, "\"5d8c72a5edda8d6a\"");
    KT_STREQ(one.req.path.base, one.req.path.len, "/api/bounties/42");
    KT_EQ(one.req.query.len, 0);
    DONE(b, s);
}

static void test_post_content_length(void) {
    static const char s[] = "POST /api/bounties HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 13\r\n\r\n{\"title\":\"a\"}";
    char *b = ACCEPT(s);
    KT_EQ(one.r, sizeof s - 1 - 13);
    KT_EQ(one.req.body, KL_HTTP1_BODY_LENGTH);
    KT_EQ(one.req.content_length, 13);
    DONE(b, s);
}

static void test_content_length_zero_and_leading_zeros(void) {
    static const char s[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.req.body, KL_HTTP1_BODY_NONE);
    KT_EQ(one.req.content_length, 0);
    DONE(b, s);
    static const char s2[] = "POST / HTTP/1.1\r\nHost: x\r\ncontent-length:  007 \r\n\r\n";
    b = ACCEPT(s2);
    KT_EQ(one.req.body, KL_HTTP1_BODY_LENGTH);
    KT_EQ(one.req.content_length, 7);
    DONE(b, s2);
}

static void test_chunked_head(void) {
    static const char s[] = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.r, sizeof s - 1 - 15);
    KT_EQ(one.req.body, KL_HTTP1_BODY_CHUNKED);
    KT_EQ(one.req.content_length, 0);
    DONE(b, s);
}

static void test_pipelined_heads(void) {
    static const char s[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHo";
    char *b = kt_guard_copy(s, sizeof s - 1);
    size_t off = 0;
    const char *want[] = {"/a", "/b"};
    for (int i = 0; i < 2; i++) {
        parse_into(b + off, sizeof s - 1 - off, 0, NULL, CAP, &one);
        KT_EQ(one.r, 28);
        if (one.r <= 0) break;
        KT_STREQ(one.req.path.base, one.req.path.len, want[i]);
        KT_CHECK(one.req.method.base == b + off);
        off += (size_t)one.r;
    }
    parse_into(b + off, sizeof s - 1 - off, 0, NULL, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_INCOMPLETE);
    kt_guard_free(b, sizeof s - 1);
}

static void test_http10_without_host(void) {
    static const char s[] = "GET / HTTP/1.0\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.req.minor_version, 0);
    KT_EQ(one.req.host.len, 0);
    KT_EQ(one.req.num_headers, 0);
    KT_CHECK(!one.req.keep_alive);
    DONE(b, s);
}

static void test_http1x_is_http11(void) {
    static const char s[] = "GET / HTTP/1.2\r\nHost: x\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.req.minor_version, 1);
    KT_CHECK(one.req.keep_alive);
    DONE(b, s);
    static const char s9[] = "GET / HTTP/1.9\r\n\r\n"; /* treated as 1.1, so Host is required */
    EXPECT(s9, 400);
}

static void test_absolute_form(void) {
    static const char s[] = "GET http://api.example.com:8080/p/q?x=1&y HTTP/1.1\r\nHost: other\r\n\r\n";
    char *b = ACCEPT(s);
    KT_STREQ(one.req.path.base, one.req.path.len, "/p/q");
    KT_STREQ(one.req.query.base, one.req.query.len, "x=1&y");
    KT_STREQ(one.req.host.base, one.req.host.len, "api.example.com:8080");
    DONE(b, s);
    static const char s2[] = "GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n";
    b = ACCEPT(s2);
    KT_STREQ(one.req.path.base, one.req.path.len, "/");
    KT_EQ(one.req.query.len, 0);
    DONE(b, s2);
    static const char s3[] = "GET http://h?a=b HTTP/1.1\r\nHost: h\r\n\r\n";
    b = ACCEPT(s3);
    KT_STREQ(one.req.path.base, one.req.path.len, "/");
    KT_STREQ(one.req.query.base, one.req.query.len, "a=b");
    DONE(b, s3);
}

static void test_options_asterisk(void) {
    static const char s[] = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    char *b = ACCEPT(s);
    KT_STREQ(one.req.path.base, one.req.path.len, "*");
    KT_EQ(one.req.query.len, 0);
    DONE(b, s);
}

static void test_connect_authority_form(void) {
    static const char s[] = "CONNECT db.example.com:5432 HTTP/1.1\r\nHost: db.example.com:5432\r\n\r\n";
    char *b = ACCEPT(s);
    KT_STREQ(one.req.target.base, one.req.target.len, "db.example.com:5432");
    KT_EQ(one.req.path.len, 0);
    DONE(b, s);
    static const char s6[] = "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n";
    b = ACCEPT(s6);
    DONE(b, s6);
}

static void test_keep_alive_rules(void) {
    struct {
        const char *s;
        int keep;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: te,keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo\r\nConnection: ,, close ,\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        char *b = accept_lim(cases[i].s, n, NULL, CAP);
        if (one.r > 0 && one.req.keep_alive != (cases[i].keep != 0)) {
            fprintf(stderr, "  case %zu: keep_alive %d\n", i, one.req.keep_alive);
            KT_CHECK(0);
        }
        kt_guard_free(b, n);
    }
}

static void test_value_trimming(void) {
    static const char s[] = "GET / HTTP/1.1\r\nHost:x\r\nA:  v  w \t \r\nB:\t\t\r\nC:\r\nD: obs\x80text\xff\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.req.num_headers, 5);
    KT_STREQ(one.hdrs[0].value.base, one.hdrs[0].value.len, "x");
    KT_STREQ(one.hdrs[1].value.base, one.hdrs[1].value.len, "v  w");
    KT_EQ(one.hdrs[2].value.len, 0);
    KT_EQ(one.hdrs[3].value.len, 0);
    KT_STREQ(one.hdrs[4].value.base, one.hdrs[4].value.len, "obs\x80text\xff");
    DONE(b, s);
}

static void test_htab_in_value(void) {
    static const char s[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\n\r\n";
    char *b = ACCEPT(s);
    KT_STREQ(one.hdrs[1].value.base, one.hdrs[1].value.len, "a\tb");
    DONE(b, s);
}

static void test_empty_host_allowed(void) {
    static const char s[] = "GET / HTTP/1.1\r\nHost:\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.req.host.len, 0);
    DONE(b, s);
}

static void test_leading_crlf_ignored(void) {
    static const char s[] = "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char *b = ACCEPT(s);
    KT_EQ(one.r, sizeof s - 1);
    KT_STREQ(one.req.method.base, one.req.method.len, "GET");
    DONE(b, s);
    EXPECT("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_expect_continue(void) {
    static const char s[] = "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n";
    char *b = ACCEPT(s);
    KT_CHECK(one.req.expect_continue);
    DONE(b, s);
    static const char s10[] = "PUT / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    b = ACCEPT(s10);
    KT_CHECK(!one.req.expect_continue); /* RFC 9110 10.1.1: ignored on HTTP/1.0 */
    DONE(b, s10);
}

/* n fields named X-Header-i plus Host, into buf; returns the length. */
static size_t many_fields(char *buf, size_t cap, int n) {
    size_t off = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < n; i++) off += (size_t)snprintf(buf + off, cap - off, "X-Header-%d: value %d\r\n", i, i);
    off += (size_t)snprintf(buf + off, cap - off, "\r\n");
    return off;
}

static void test_many_headers_up_to_capacity(void) {
    static char s[8192];
    size_t n = many_fields(s, sizeof s, CAP - 1);
    char *b = accept_lim(s, n, NULL, CAP);
    KT_EQ(one.req.num_headers, CAP);
    KT_STREQ(one.hdrs[CAP - 1].value.base, one.hdrs[CAP - 1].value.len, "value 62");
    kt_guard_free(b, n);
}

static void test_limits_exactly_reached(void) {
    /* request line of exactly max_request_line bytes incl. CRLF, head of exactly max_head */
    static const char s[] = "GET /abcdef HTTP/1.1\r\nHost: x\r\n\r\n"; /* line 22, head 33 */
    kl_http1_limits_t lim = {.max_request_line = 22, .max_head = 33, .max_body = 10};
    char *b = accept_lim(s, sizeof s - 1, &lim, CAP);
    KT_EQ(one.r, 33);
    kt_guard_free(b, sizeof s - 1);
    static const char s2[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
    kl_http1_limits_t lim2 = {.max_request_line = 100, .max_head = 1000, .max_body = 10};
    b = accept_lim(s2, sizeof s2 - 1, &lim2, CAP);
    KT_EQ(one.req.content_length, 10);
    kt_guard_free(b, sizeof s2 - 1);
}

/* ---------------------------------------------------------------- framing rejections */

static void test_reject_cl_and_te(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
}

static void test_reject_duplicate_cl_equal(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
}

static void test_reject_duplicate_cl_different(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", 400);
}

static void test_reject_cl_list(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", 400);
}

static void test_reject_cl_non_digit(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n", 400);
}

static void test_reject_cl_empty(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:   \r\n\r\n", 400);
}

static void test_reject_cl_sign(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
}

static void test_reject_cl_overflow(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    /* 2^64-1 does not overflow: it is merely too large */
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n", 413);
}

static void test_reject_te_not_chunked(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedx\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", 400);
}

static void test_reject_te_chunked_not_last(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
}

static void test_reject_te_chunked_twice(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
}

static void test_reject_te_bad_list(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
}

static void test_reject_te_other_coding_before_chunked_501(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate,gzip ,\tCHUNKED\r\n\r\n", 501);
}

static void test_reject_duplicate_te(void) {
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_reject_te_http10(void) {
    EXPECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

/* ---------------------------------------------------------------- syntax rejections */

static void test_reject_obs_fold(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 400);
}

static void test_reject_whitespace_before_first_field(void) {
    EXPECT("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
}

static void test_reject_bare_lf(void) {
    EXPECT("GET / HTTP/1.1\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\n\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400);
    EXPECT("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    /* rejected as soon as the LF arrives, not when a head end might show up */
    char *b = kt_guard_copy("GET / HTTP/1.1\n", 15);
    parse_into(b, 15, 0, NULL, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_ERROR);
    KT_EQ(one.req.status, 400);
    kt_guard_free(b, 15);
}

static void test_reject_bare_cr(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
    EXPECT("GET /\r HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\n\rX: y\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX\r: y\r\n\r\n", 400);
}

static void test_reject_space_before_colon(void) {
    EXPECT("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
}

static void test_reject_htab_before_colon(void) {
    EXPECT("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400);
}

static void test_reject_empty_field_name(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", 400);
}

static void test_reject_field_without_colon(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400);
}

static void test_reject_invalid_method_token(void) {
    EXPECT("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GE\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_invalid_field_name_token(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX@Y: z\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX\"Y: z\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX\x7fY: z\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX\xc3\xa9: z\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX/Y: z\r\n\r\n", 400);
}

static void test_reject_nul_in_value(void) {
    static const char s[] = "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
    expect_status_lim(s, sizeof s - 1, NULL, CAP, 400);
}

static void test_reject_ctl_in_value(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX: a\x1b[0m\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX: \x0b\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nX: 0123456789abcdef0123456789\x1f" "abcdef0123456789\r\n\r\n", 400);
}

static void test_reject_target_ctl(void) {
    EXPECT("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /0123456789abcdef0123456789\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_target_del(void) {
    EXPECT("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_target_high_bytes(void) {
    EXPECT("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /0123456789abcdef0123456789\xff HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_target_space(void) {
    EXPECT("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_malformed_request_line(void) {
    EXPECT("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
    EXPECT(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / \r\nHost: x\r\n\r\n", 400);
    EXPECT("GET\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400);
    EXPECT("/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_malformed_version(void) {
    EXPECT("GET / http/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/11.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1,1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/a.1\r\nHost: x\r\n\r\n", 400);
}

static void test_reject_unknown_major_version_505(void) {
    EXPECT("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    EXPECT("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
    EXPECT("GET / HTTP/3.1\r\n\r\n", 505);
    EXPECT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505); /* the HTTP/2 preface */
}

static void test_reject_missing_host(void) {
    EXPECT("GET / HTTP/1.1\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHosts: x\r\n\r\n", 400);
}

static void test_reject_duplicate_host(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.0\r\nHost: x\r\nhost: y\r\n\r\n", 400);
}

static void test_reject_duplicate_authorization(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nHost: x\r\nAUTHORIZATION: Bearer a\r\n\r\n", 400);
    char *b = ACCEPT("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nProxy-Authorization: b\r\n\r\n");
    DONE(b, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nProxy-Authorization: b\r\n\r\n");
}

static void test_reject_fragment_in_target(void) {
    EXPECT("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /a?x=1#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET http://x/p#f HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET /# HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    char *b = ACCEPT("GET /a?x=%23 HTTP/1.1\r\nHost: x\r\n\r\n"); /* an encoded '#' is data */
    DONE(b, "GET /a?x=%23 HTTP/1.1\r\nHost: x\r\n\r\n");
}

static void test_reject_invalid_host(void) {
    EXPECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: user@x\r\n\r\n", 400);
    EXPECT("GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", 400);
}

static void test_reject_target_forms(void) {
    EXPECT("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400);         /* asterisk only with OPTIONS */
    EXPECT("OPTIONS *x HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET x.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400); /* authority only with CONNECT */
    EXPECT("CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("CONNECT x.com HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("CONNECT x.com: HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("CONNECT x.com:44a HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("CONNECT * HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET foo HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET http:/x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET http://user@x/p HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT("GET ?a HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

/* ---------------------------------------------------------------- limits and expectations */

static void test_reject_request_line_too_long_414(void) {
    kl_http1_limits_t lim = {.max_request_line = 22, .max_head = 1000, .max_body = 10};
    static const char s[] = "GET /abcdefg HTTP/1.1\r\nHost: x\r\n\r\n"; /* line 23 bytes */
    expect_status_lim(s, sizeof s - 1, &lim, CAP, 414);
    /* detected as soon as 22 bytes arrived without a CRLF: never INCOMPLETE past the limit */
    static const char s2[] = "GET /aaaaaaaaaaaaaaaaaaa"; /* 24 bytes, no LF */
    char *b = kt_guard_copy(s2, 22);
    parse_into(b, 22, 21, &lim, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_ERROR);
    KT_EQ(one.req.status, 414);
    kt_guard_free(b, 22);
    b = kt_guard_copy(s2, 21);
    parse_into(b, 21, 0, &lim, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_INCOMPLETE);
    kt_guard_free(b, 21);
    /* the default limit: 8 KiB */
    static char big[9000];
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof big - 5);
    b = kt_guard_copy(big, sizeof big);
    parse_into(b, sizeof big, 0, NULL, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_ERROR);
    KT_EQ(one.req.status, 414);
    kt_guard_free(b, sizeof big);
}

static void test_reject_head_too_large_431(void) {
    kl_http1_limits_t lim = {.max_request_line = 100, .max_head = 32, .max_body = 10};
    static const char s[] = "GET /abcdef HTTP/1.1\r\nHost: xy\r\n\r\n"; /* 34 bytes */
    expect_status_lim(s, sizeof s - 1, &lim, CAP, 431);
    static char big[20000];
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\n");
    while (n < sizeof big - 100) n += (size_t)snprintf(big + n, sizeof big - n, "X-Pad: %090d\r\n", 0);
    char *b = kt_guard_copy(big, n); /* no empty line yet: still 431, not INCOMPLETE */
    parse_into(b, n, 0, NULL, CAP, &one);
    KT_EQ(one.r, KL_HTTP1_ERROR);
    KT_EQ(one.req.status, 431);
    kt_guard_free(b, n);
}

static void test_reject_too_many_fields_431(void) {
    static char s[8192];
    size_t n = many_fields(s, sizeof s, 8); /* 9 fields */
    expect_status_lim(s, n, NULL, 8, 431);
    char *b = accept_lim(s, n, NULL, 9);
    KT_EQ(one.req.num_headers, 9);
    kt_guard_free(b, n);
}

static void test_reject_body_too_large_413(void) {
    kl_http1_limits_t lim = {.max_request_line = 100, .max_head = 1000, .max_body = 10};
    static const char s[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
    expect_status_lim(s, sizeof s - 1, &lim, CAP, 413);
    EXPECT("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413);
}

static void test_reject_expectation_417(void) {
    EXPECT("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417);
    EXPECT("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, foo\r\n\r\n", 417);
    EXPECT("PUT / HTTP/1.1\r\nHost: x\r\nExpect:\r\n\r\n", 417);
}

/* ---------------------------------------------------------------- incremental */

static void test_incremental_every_prefix(void) {
    /* parse_checked already feeds every head byte by byte; here check the prefixes
     * themselves: all INCOMPLETE, and the rest of *req untouched, including num_headers */
    static const char s[] = "\r\nPOST /x?y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    size_t n = sizeof s - 1;
    for (size_t k = 0; k < n; k++) {
        char *b = kt_guard_copy(s, k);
        kl_http1_request_t req;
        kl_http1_header_t h[4];
        memset(&req, 0x5a, sizeof req);
        req.headers = h;
        req.num_headers = 4;
        int r = kl_http1_parse_request(b, k, k ? k - 1 : 0, NULL, &req);
        KT_EQ(r, KL_HTTP1_INCOMPLETE);
        KT_EQ(req.num_headers, 4);
        KT_EQ(req.status, 0x5a5a5a5a);
        kt_guard_free(b, k);
    }
    char *b = ACCEPT(s);
    KT_EQ(one.r, n);
    KT_EQ(one.req.body, KL_HTTP1_BODY_CHUNKED);
    DONE(b, s);
}

static void test_incremental_uneven_pieces(void) {
    /* growing buffer fed in pieces of 1..7 bytes, last_len = previous length */
    static const char s[] = "GET /api/users/7/stats?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Long: "
                            "0123456789abcdef0123456789abcdef0123456789\r\n\r\nGET /next";
    size_t head = sizeof s - 1 - 9;
    for (size_t step = 1; step <= 7; step++) {
        size_t last = 0, k = 0;
        int r = KL_HTTP1_INCOMPLETE;
        while (r == KL_HTTP1_INCOMPLETE && k < sizeof s - 1) {
            k += step;
            if (k > sizeof s - 1) k = sizeof s - 1;
            char *b = kt_guard_copy(s, k);
            parse_into(b, k, last, NULL, CAP, &inc);
            r = inc.r;
            if (r >= 0) {
                KT_STREQ(inc.req.path.base, inc.req.path.len, "/api/users/7/stats");
                KT_EQ(inc.req.num_headers, 3);
            }
            kt_guard_free(b, k);
            last = k;
        }
        KT_EQ(r, head);
    }
}

static void test_incremental_limits_never_incomplete(void) {
    /* with small limits, every prefix at or past a limit must already be an error */
    kl_http1_limits_t lim = {.max_request_line = 16, .max_head = 40, .max_body = 10};
    static const char s[] = "GET /0123456789abcdefghij HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t k = 16; k <= sizeof s - 1; k++) {
        char *b = kt_guard_copy(s, k);
        parse_into(b, k, 0, &lim, CAP, &one);
        KT_EQ(one.r, KL_HTTP1_ERROR);
        KT_EQ(one.req.status, 414);
        kt_guard_free(b, k);
    }
    static const char s2[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: b\r\n\r\n";
    for (size_t k = 40; k <= sizeof s2 - 1; k++) {
        char *b = kt_guard_copy(s2, k);
        parse_into(b, k, k - 1, &lim, CAP, &one);
        KT_EQ(one.r, KL_HTTP1_ERROR);
        KT_EQ(one.req.status, 431);
        kt_guard_free(b, k);
    }
}

static void test_incremental_tiny_limits(void) {
    /* absurd limits too: byte by byte must agree with at once (parse_checked checks) */
    static const char *in[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\r\n\r\nGET /",
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "\r",
        "\r\r\n",
    };
    static const size_t rls[] = {0, 1, 2, 3, 5, 17, 100}, heads[] = {0, 1, 2, 3, 4, 20, 31, 40, 100};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        for (size_t a = 0; a < sizeof rls / sizeof rls[0]; a++)
            for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
                kl_http1_limits_t lim = {.max_request_line = rls[a], .max_head = heads[h], .max_body = 0};
                size_t n = strlen(in[i]);
                char *b;
                parse_checked(in[i], n, &lim, CAP, &b);
                kt_guard_free(b, n);
            }
}

/* ---------------------------------------------------------------- chunked */

typedef struct {
    ssize_t r;
    int status;
    const char *error;
    char *data;
    size_t dlen;
    char *left;
    size_t llen;
    uint64_t total;
} chunked_result_t;

static void chunked_free(chunked_result_t *c) {
    free(c->data);
    free(c->left);
}

/* Decodes in[0..len) in pieces of `step` bytes (each piece in its own guarded copy); the
 * leftover is what the decoder returned plus the input never passed to it. */
static void decode_pieces(const char *in, size_t len, size_t step, uint64_t max_body, chunked_result_t *out) {
    kl_http1_chunked_t st;
    memset(&st, 0, sizeof st);
    st.max_body = max_body;
    memset(out, 0, sizeof *out);
    out->data = malloc(len + 1);
    out->left = malloc(len + 1);
    out->r = KL_HTTP1_INCOMPLETE;
    for (size_t off = 0; off < len;) {
        size_t k = len - off < step ? len - off : step;
        char *b = kt_guard_copy(in + off, k);
        size_t l = k;
        ssize_t r = kl_http1_decode_chunked(&st, b, &l);
        if (r != KL_HTTP1_ERROR) {
            KT_CHECK(l <= k);
            memcpy(out->data + out->dlen, b, l);
            out->dlen += l;
        }
        off += k;
        if (r >= 0) {
            KT_CHECK(l + (size_t)r <= k);
            memcpy(out->left, b + l, (size_t)r);
            memcpy(out->left + r, in + off, len - off);
            out->llen = (size_t)r + len - off;
        }
        kt_guard_free(b, k);
        if (r != KL_HTTP1_INCOMPLETE) {
            out->r = r >= 0 ? 0 : r;
            break;
        }
    }
    out->status = st.status;
    out->error = st.error;
    out->total = st.total;
}

/* Decodes at once and in pieces of 1, 2, 3, 5 and 7 bytes; all must agree. Leaves the
 * one-shot result in *out. */
static void decode_checked(const char *in, size_t len, uint64_t max_body, chunked_result_t *out) {
    static const size_t steps[] = {1, 2, 3, 5, 7};
    decode_pieces(in, len, len ? len : 1, max_body, out);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        chunked_result_t p;
        decode_pieces(in, len, steps[i], max_body, &p);
        /* after an error the data decoded so far is meaningless: compare it only on success */
        int same = p.r == out->r &&
                   (p.r == KL_HTTP1_ERROR || (p.dlen == out->dlen && memcmp(p.data, out->data, p.dlen) == 0)) &&
                   p.llen == out->llen && memcmp(p.left, out->left, p.llen) == 0 && p.status == out->status &&
                   p.total == out->total && (p.error == out->error || (p.error && out->error && !strcmp(p.error, out->error)));
        if (!same) {
            fprintf(stderr, "  pieces of %zu differ: r=%zd/%zd dlen=%zu/%zu llen=%zu/%zu status=%d/%d\n", steps[i],
                    p.r, out->r, p.dlen, out->dlen, p.llen, out->llen, p.status, out->status);
            KT_CHECK(0);
        }
        chunked_free(&p);
    }
}

static void expect_chunked(const char *in, size_t len, const char *data, const char *left) {
    chunked_result_t c;
    decode_checked(in, len, 1 << 20, &c);
    KT_EQ(c.r, 0);
    if (c.r != 0) fprintf(stderr, "  for \"%.40s\": %s\n", in, c.error ? c.error : "incomplete");
    KT_STREQ(c.data, c.dlen, data);
    KT_STREQ(c.left, c.llen, left);
    KT_EQ(c.total, strlen(data));
    chunked_free(&c);
}
#define CHUNKED_OK(lit, data, left) expect_chunked(lit, sizeof(lit) - 1, data, left)

static void expect_chunked_error(const char *in, size_t len, uint64_t max_body, int status) {
    chunked_result_t c;
    decode_checked(in, len, max_body, &c);
    if (c.r != KL_HTTP1_ERROR || c.status != status) {
        fprintf(stderr, "  want %d, got r=%zd status=%d for \"%.40s\"\n", status, c.r, c.status, in);
        KT_CHECK(0);
    } else {
        KT_CHECK(c.error != NULL);
    }
    chunked_free(&c);
}
#define CHUNKED_ERR(lit, status) expect_chunked_error(lit, sizeof(lit) - 1, 1 << 20, status)

static void test_chunked_simple(void) {
    CHUNKED_OK("5\r\nhello\r\n0\r\n\r\n", "hello", "");
    CHUNKED_OK("0\r\n\r\n", "", "");
    CHUNKED_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "");
    CHUNKED_OK("A\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n", "0123456789abcdefghij", "");
    CHUNKED_OK("0000000000000003\r\nabc\r\n0\r\n\r\n", "abc", "");
}

static void test_chunked_leftover_pipelined(void) {
    CHUNKED_OK("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", "GET / HTTP/1.1\r\n");
    /* the contract: data in buf[0..*len), leftover moved to start at buf + *len */
    static const char s[] = "2\r\nhi\r\n0\r\n\r\nNEXT";
    char *b = kt_guard_copy(s, sizeof s - 1);
    kl_http1_chunked_t st = {.max_body = 100};
    size_t l = sizeof s - 1;
    ssize_t r = kl_http1_decode_chunked(&st, b, &l);
    KT_EQ(r, 4);
    KT_EQ(l, 2);
    KT_CHECK(memcmp(b, "hiNEXT", 6) == 0);
    /* after the end, more input is all leftover */
    l = 3;
    KT_EQ(kl_http1_decode_chunked(&st, b, &l), 3);
    KT_EQ(l, 0);
    kt_guard_free(b, sizeof s - 1);
}

static void test_chunked_extensions(void) {
    CHUNKED_OK("3;a\r\nabc\r\n0\r\n\r\n", "abc", "");
    CHUNKED_OK("3;a=b\r\nabc\r\n0;last\r\n\r\n", "abc", "");
    CHUNKED_OK("3;a=\"q \\\"x\\\" ;=\"\r\nabc\r\n0\r\n\r\n", "abc", "");
    CHUNKED_OK("3 ; a = b ;c;d=\"\"\t;e\r\nabc\r\n0\r\n\r\n", "abc", "");
    CHUNKED_OK("3;a=\"\x80\xff\"\r\nabc\r\n0\r\n\r\n", "abc", "");
}

static void test_chunked_trailers(void) {
    CHUNKED_OK("3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-B:\r\nX-C: a \t b\r\n\r\nrest", "abc", "rest");
}

static void test_chunked_reject_empty_size(void) {
    CHUNKED_ERR("\r\nabc\r\n0\r\n\r\n", 400);
    CHUNKED_ERR(";a\r\nabc\r\n0\r\n\r\n", 400);
}

static void test_chunked_reject_non_hex(void) {
    CHUNKED_ERR("g\r\n", 400);
    CHUNKED_ERR("0x5\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("-5\r\nhello\r\n", 400);
    CHUNKED_ERR("+5\r\nhello\r\n", 400);
    CHUNKED_ERR("5z\r\nhello\r\n", 400);
}

static void test_chunked_reject_too_many_hex_digits(void) {
    CHUNKED_ERR("00000000000000001\r\nx\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("10000000000000000\r\n", 400);
}

static void test_chunked_reject_huge_size_413(void) {
    CHUNKED_ERR("ffffffffffffffff\r\n", 413);
    CHUNKED_ERR("100001\r\n", 413);
}

static void test_chunked_reject_total_too_large_413(void) {
    static const char s[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    expect_chunked_error(s, sizeof s - 1, 10, 413);
    chunked_result_t c;
    decode_checked(s, sizeof s - 1, 11, &c);
    KT_EQ(c.r, 0);
    chunked_free(&c);
}

static void test_chunked_reject_bad_bws(void) {
    CHUNKED_ERR("5 \r\nhello\r\n0\r\n\r\n", 400);  /* BWS only before ';' */
    CHUNKED_ERR("5;a \r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR(" 5\r\nhello\r\n0\r\n\r\n", 400);
}

static void test_chunked_reject_bad_extension(void) {
    CHUNKED_ERR("5;\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;=a\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=b c\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a@b\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=b@\r\nhello\r\n0\r\n\r\n", 400);
}

static void test_chunked_reject_bare_lf(void) {
    CHUNKED_ERR("5\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5;a=b\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello\n0\r\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello\r\n0\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello\r\n0\r\n\n", 400);
    CHUNKED_ERR("5\r\nhello\r\n0\r\nA: b\n\r\n", 400);
}

static void test_chunked_reject_missing_crlf_after_data(void) {
    CHUNKED_ERR("5\r\nhelloX\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello0\r\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello\rX0\r\n\r\n", 400);
    CHUNKED_ERR("3\r\nhello\r\n0\r\n\r\n", 400); /* data longer than its size */
}

static void test_chunked_reject_bare_cr(void) {
    CHUNKED_ERR("5\rhello\r\n0\r\n\r\n", 400);
    CHUNKED_ERR("5\r\nhello\r\n0\r\n\rx", 400);
    CHUNKED_ERR("5\r\nhello\r\n0\r\nA: b\rc\r\n\r\n", 400);
}

static void test_chunked_reject_bad_trailer(void) {
    CHUNKED_ERR("0\r\nA: b\r\n c\r\n\r\n", 400);  /* obs-fold */
    CHUNKED_ERR("0\r\nA : b\r\n\r\n", 400);        /* whitespace before colon */
    CHUNKED_ERR("0\r\n: b\r\n\r\n", 400);          /* empty name */
    CHUNKED_ERR("0\r\nA\r\n\r\n", 400);            /* no colon */
    CHUNKED_ERR("0\r\nA: b\x01\r\n\r\n", 400);     /* CTL in value */
    CHUNKED_ERR("0\r\nA@: b\r\n\r\n", 400);        /* not a token */
    CHUNKED_ERR("0\r\n\x7f: b\r\n\r\n", 400);
}

static void test_chunked_reject_long_size_line(void) {
    static char s[6000];
    size_t n = (size_t)snprintf(s, sizeof s, "5;a=");
    memset(s + n, 'x', 5000);
    n += 5000;
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\nhello\r\n0\r\n\r\n");
    expect_chunked_error(s, n, 1 << 20, 400);
    /* a long line of leading zeros is caught by the 16-digit rule long before */
    memset(s, '0', 5000);
    expect_chunked_error(s, 5000, 1 << 20, 400);
    /* 4000 bytes of extension is fine */
    n = (size_t)snprintf(s, sizeof s, "5;a=");
    memset(s + n, 'x', 4000);
    n += 4000;
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\nhello\r\n0\r\n\r\n");
    chunked_result_t c;
    decode_pieces(s, n, n, 1 << 20, &c);
    KT_EQ(c.r, 0);
    chunked_free(&c);
}

static void test_chunked_reject_long_trailer_line(void) {
    static char s[6000];
    size_t n = (size_t)snprintf(s, sizeof s, "0\r\nX: ");
    memset(s + n, 'y', 5000);
    n += 5000;
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\n\r\n");
    expect_chunked_error(s, n, 1 << 20, 400);
}

static void test_chunked_reject_trailer_section_too_large(void) {
    static char s[40000];
    size_t n = (size_t)snprintf(s, sizeof s, "0\r\n");
    while (n < 30000) n += (size_t)snprintf(s + n, sizeof s - n, "X-T: %090d\r\n", 1);
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\n");
    chunked_result_t c;
    decode_pieces(s, n, n, 1 << 20, &c);
    KT_EQ(c.r, KL_HTTP1_ERROR);
    KT_EQ(c.status, 400);
    chunked_free(&c);
}

static void test_chunked_reject_too_much_framing(void) {
    /* 1-byte chunks each carrying 100 bytes of extension: framing dwarfs data */
    size_t cap = 400 * 120;
    char *s = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < 400; i++) {
        n += (size_t)snprintf(s + n, cap - n, "1;e=");
        memset(s + n, 'x', 96);
        n += 96;
        n += (size_t)snprintf(s + n, cap - n, "\r\nz\r\n");
    }
    n += (size_t)snprintf(s + n, cap - n, "0\r\n\r\n");
    chunked_result_t c;
    decode_pieces(s, n, n, 1 << 20, &c);
    KT_EQ(c.r, KL_HTTP1_ERROR);
    KT_EQ(c.status, 400);
    chunked_free(&c);
    free(s);
    /* but plain 1-byte chunks are legitimate streaming */
    cap = 20000 * 6 + 8;
    s = malloc(cap);
    n = 0;
    for (int i = 0; i < 20000; i++) n += (size_t)snprintf(s + n, cap - n, "1\r\nz\r\n");
    n += (size_t)snprintf(s + n, cap - n, "0\r\n\r\n");
    decode_pieces(s, n, n, 1 << 20, &c);
    KT_EQ(c.r, 0);
    KT_EQ(c.dlen, 20000);
    chunked_free(&c);
    free(s);
}

static void test_chunked_split_everywhere(void) {
    /* every two-piece split of a body with extensions, trailers and a pipelined tail */
    static const char s[] = "1a;ext=\"v\\\"\"\r\nabcdefghijklmnopqrstuvwxyz\r\n3 ; k=v\r\nABC\r\n0\r\nT: v\r\n\r\nGET";
    size_t n = sizeof s - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        kl_http1_chunked_t st = {.max_body = 1000};
        char out[128];
        size_t olen = 0;
        char *a = kt_guard_copy(s, cut);
        size_t l = cut;
        ssize_t r = kl_http1_decode_chunked(&st, a, &l);
        memcpy(out, a, l);
        olen = l;
        if (r == KL_HTTP1_INCOMPLETE) {
            char *b = kt_guard_copy(s + cut, n - cut);
            l = n - cut;
            r = kl_http1_decode_chunked(&st, b, &l);
            memcpy(out + olen, b, l);
            olen += l;
            KT_EQ(r, 3);
            if (r == 3) KT_CHECK(memcmp(b + l, "GET", 3) == 0);
            kt_guard_free(b, n - cut);
        } else {
            KT_CHECK(cut >= n - 3); /* only a cut at or inside "GET" ends the body in the first piece */
        }
        KT_STREQ(out, olen, "abcdefghijklmnopqrstuvwxyzABC");
        kt_guard_free(a, cut);
    }
    /* and the checked decoder over several piece sizes */
    CHUNKED_OK("1a;ext=\"v\\\"\"\r\nabcdefghijklmnopqrstuvwxyz\r\n3 ; k=v\r\nABC\r\n0\r\nT: v\r\n\r\nGET",
               "abcdefghijklmnopqrstuvwxyzABC", "GET");
}

static void test_chunked_incomplete_prefixes(void) {
    static const char s[] = "5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n";
    for (size_t k = 0; k < sizeof s - 1; k++) {
        chunked_result_t c;
        decode_pieces(s, k, 1, 100, &c);
        KT_EQ(c.r, KL_HTTP1_INCOMPLETE);
        chunked_free(&c);
    }
}

/* ---------------------------------------------------------------- reason phrases */

static void test_reason_phrases(void) {
    static const struct {
        int code;
        const char *reason;
    } want[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"},
        {203, "Non-Authoritative Information"}, {204, "No Content"}, {205, "Reset Content"},
        {206, "Partial Content"}, {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"},
        {304, "Not Modified"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"}, {409, "Conflict"},
        {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"}, {413, "Payload Too Large"},
        {414, "URI Too Long"}, {415, "Unsupported Media Type"}, {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"}, {422, "Unprocessable Entity"}, {426, "Upgrade Required"},
        {428, "Precondition Required"}, {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
        {503, "Service Unavailable"}, {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
        {511, "Network Authentication Required"}, {299, "Unknown"}, {0, "Unknown"}, {-1, "Unknown"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *r = kl_http1_reason(want[i].code);
        if (strcmp(r, want[i].reason) != 0) {
            fprintf(stderr, "  %d: got \"%s\"\n", want[i].code, r);
            KT_CHECK(0);
        }
    }
}

int main(void) {
    KT_RUN(test_curl_get);
    KT_RUN(test_browser_get);
    KT_RUN(test_post_content_length);
    KT_RUN(test_content_length_zero_and_leading_zeros);
    KT_RUN(test_chunked_head);
    KT_RUN(test_pipelined_heads);
    KT_RUN(test_http10_without_host);
    KT_RUN(test_http1x_is_http11);
    KT_RUN(test_absolute_form);
    KT_RUN(test_options_asterisk);
    KT_RUN(test_connect_authority_form);
    KT_RUN(test_keep_alive_rules);
    KT_RUN(test_value_trimming);
    KT_RUN(test_htab_in_value);
    KT_RUN(test_empty_host_allowed);
    KT_RUN(test_leading_crlf_ignored);
    KT_RUN(test_expect_continue);
    KT_RUN(test_many_headers_up_to_capacity);
    KT_RUN(test_limits_exactly_reached);

    KT_RUN(test_reject_cl_and_te);
    KT_RUN(test_reject_duplicate_cl_equal);
    KT_RUN(test_reject_duplicate_cl_different);
    KT_RUN(test_reject_cl_list);
    KT_RUN(test_reject_cl_non_digit);
    KT_RUN(test_reject_cl_empty);
    KT_RUN(test_reject_cl_sign);
    KT_RUN(test_reject_cl_overflow);
    KT_RUN(test_reject_te_not_chunked);
    KT_RUN(test_reject_te_chunked_not_last);
    KT_RUN(test_reject_te_chunked_twice);
    KT_RUN(test_reject_te_bad_list);
    KT_RUN(test_reject_te_other_coding_before_chunked_501);
    KT_RUN(test_reject_duplicate_te);
    KT_RUN(test_reject_te_http10);

    KT_RUN(test_reject_obs_fold);
    KT_RUN(test_reject_whitespace_before_first_field);
    KT_RUN(test_reject_bare_lf);
    KT_RUN(test_reject_bare_cr);
    KT_RUN(test_reject_space_before_colon);
    KT_RUN(test_reject_htab_before_colon);
    KT_RUN(test_reject_empty_field_name);
    KT_RUN(test_reject_field_without_colon);
    KT_RUN(test_reject_invalid_method_token);
    KT_RUN(test_reject_invalid_field_name_token);
    KT_RUN(test_reject_nul_in_value);
    KT_RUN(test_reject_ctl_in_value);
    KT_RUN(test_reject_target_ctl);
    KT_RUN(test_reject_target_del);
    KT_RUN(test_reject_target_high_bytes);
    KT_RUN(test_reject_target_space);
    KT_RUN(test_reject_malformed_request_line);
    KT_RUN(test_reject_malformed_version);
    KT_RUN(test_reject_unknown_major_version_505);
    KT_RUN(test_reject_missing_host);
    KT_RUN(test_reject_duplicate_host);
    KT_RUN(test_reject_duplicate_authorization);
    KT_RUN(test_reject_fragment_in_target);
    KT_RUN(test_reject_invalid_host);
    KT_RUN(test_reject_target_forms);

    KT_RUN(test_reject_request_line_too_long_414);
    KT_RUN(test_reject_head_too_large_431);
    KT_RUN(test_reject_too_many_fields_431);
    KT_RUN(test_reject_body_too_large_413);
    KT_RUN(test_reject_expectation_417);

    KT_RUN(test_incremental_every_prefix);
    KT_RUN(test_incremental_uneven_pieces);
    KT_RUN(test_incremental_limits_never_incomplete);
    KT_RUN(test_incremental_tiny_limits);

    KT_RUN(test_chunked_simple);
    KT_RUN(test_chunked_leftover_pipelined);
    KT_RUN(test_chunked_extensions);
    KT_RUN(test_chunked_trailers);
    KT_RUN(test_chunked_reject_empty_size);
    KT_RUN(test_chunked_reject_non_hex);
    KT_RUN(test_chunked_reject_too_many_hex_digits);
    KT_RUN(test_chunked_reject_huge_size_413);
    KT_RUN(test_chunked_reject_total_too_large_413);
    KT_RUN(test_chunked_reject_bad_bws);
    KT_RUN(test_chunked_reject_bad_extension);
    KT_RUN(test_chunked_reject_bare_lf);
    KT_RUN(test_chunked_reject_missing_crlf_after_data);
    KT_RUN(test_chunked_reject_bare_cr);
    KT_RUN(test_chunked_reject_bad_trailer);
    KT_RUN(test_chunked_reject_long_size_line);
    KT_RUN(test_chunked_reject_long_trailer_line);
    KT_RUN(test_chunked_reject_trailer_section_too_large);
    KT_RUN(test_chunked_reject_too_much_framing);
    KT_RUN(test_chunked_split_everywhere);
    KT_RUN(test_chunked_incomplete_prefixes);

    KT_RUN(test_reason_phrases);
    return KT_DONE();
}
