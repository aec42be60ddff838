/* http1_request.c - libFuzzer driver: one request head, then its chunked body.
 *
 * The input is the bytes a client sent. The head is parsed at once; on success it is parsed
 * again as a growing buffer in two steps (last_len) and must give the same answer, and a
 * chunked body that follows is decoded in place, at once and in two pieces, with the same
 * outcome. Invariants are checked with abort(): consumed <= len, every range inside the
 * buffer, a known status and a message on every error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

#define NHDR 8

static const kl_http1_limits_t limits = {.max_request_line = 512, .max_head = 2048, .max_body = 65536};

static void check_str(kl_str_t s, const char *buf, size_t len) {
    if (s.len > len || s.base < buf || s.base + s.len > buf + len) abort();
}

static void check_error(int status, const char *error, const int *allowed) {
    if (!error || !error[0]) abort();
    for (; *allowed; allowed++)
        if (status == *allowed) return;
    abort();
}

static int parse(const char *buf, size_t len, size_t last_len, kl_http1_request_t *req, kl_http1_header_t *h) {
    memset(req, 0, sizeof *req);
    req->headers = h;
    req->num_headers = NHDR;
    return kl_http1_parse_request(buf, len, last_len, &limits, req);
}

static int same_str(kl_str_t a, kl_str_t b) {
    return a.len == b.len && (a.len == 0 || a.base == b.base);
}

static void check_head(const char *buf, size_t size, int r, const kl_http1_request_t *req) {
    static const int head_status[] = {400, 413, 414, 417, 431, 501, 505, 0};
    if (r == KL_HTTP1_ERROR) {
        check_error(req->status, req->error, head_status);
        return;
    }
    if (r == KL_HTTP1_INCOMPLETE) {
        /* never INCOMPLETE past a limit: the head's, or the request line's */
        if (size >= limits.max_head) abort();
        size_t skip = size >= 2 && buf[0] == '\r' && buf[1] == '\n' ? 2 : 0;
        if (size - skip >= limits.max_request_line && !memchr(buf + skip, '\n', limits.max_request_line)) abort();
        return;
    }
    if (r <= 0 || (size_t)r > size || (size_t)r > limits.max_head) abort();
    size_t head = (size_t)r;
    if (buf[head - 1] != '\n' || buf[head - 2] != '\r' || buf[head - 3] != '\n') abort();
    check_str(req->method, buf, head);
    check_str(req->target, buf, head);
    check_str(req->query, buf, head);
    check_str(req->host, buf, head);
    if (req->path.len == 1 && req->path.base[0] == '/' && (req->path.base < buf || req->path.base >= buf + head)) {
        /* the static "/" of an absolute-form target without a path */
    } else {
        check_str(req->path, buf, head);
    }
    if (req->method.len == 0 || req->target.len == 0) abort();
    if (req->minor_version != 0 && req->minor_version != 1) abort();
    if (req->num_headers > NHDR) abort();
    for (size_t i = 0; i < req->num_headers; i++) {
        check_str(req->headers[i].name, buf, head);
        check_str(req->headers[i].value, buf, head);
        if (req->headers[i].name.len == 0) abort();
    }
    if (req->body == KL_HTTP1_BODY_LENGTH && (req->content_length == 0 || req->content_length > limits.max_body))
        abort();
    if (req->body != KL_HTTP1_BODY_LENGTH && req->content_length != 0) abort();
    if (req->body == KL_HTTP1_BODY_CHUNKED && req->minor_version != 1) abort();
}

/* Decodes body[0..len) (a private copy) in pieces split at `cut`; returns the verdict and
 * fills the decoded bytes and leftover into out (len bytes at most). */
static ssize_t decode(const char *body, size_t len, size_t cut, char *out, size_t *outlen, char *left,
                      size_t *leftlen, int *status) {
    static const int chunk_status[] = {400, 413, 0};
    kl_http1_chunked_t st;
    memset(&st, 0, sizeof st);
    st.max_body = 4096;
    char *b = malloc(len ? len : 1);
    memcpy(b, body, len);
    size_t pos = 0, o = 0;
    ssize_t r = KL_HTTP1_INCOMPLETE;
    *leftlen = 0;
    for (int piece = 0; piece < 2 && r == KL_HTTP1_INCOMPLETE; piece++) {
        size_t start = piece ? cut : 0, end = piece ? len : cut;
        size_t l = end - start;
        r = kl_http1_decode_chunked(&st, b + start, &l);
        if (l > end - start) abort();
        if (r == KL_HTTP1_ERROR) {
            check_error(st.status, st.error, chunk_status);
            *status = st.status;
            break;
        }
        memcpy(out + o, b + start, l);
        o += l;
        if (r >= 0) {
            if (l + (size_t)r > end - start) abort();
            memcpy(left, b + start + l, (size_t)r);
            memcpy(left + r, b + end, len - end);
            *leftlen = (size_t)r + len - end;
        }
        pos = end;
    }
    (void)pos;
    if (st.total > st.max_body) abort();
    if (r != KL_HTTP1_ERROR && st.total != o) abort();
    *outlen = o;
    free(b);
    return r >= 0 ? 0 : r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    kl_http1_header_t h[NHDR], h2[NHDR];
    kl_http1_request_t req, req2;

    int r = parse(buf, size, 0, &req, h);
    check_head(buf, size, r, &req);
    if (r < 0) return 0;

    /* the same head arriving in two steps must give the same answer */
    size_t first = size / 2 < (size_t)r ? size / 2 : (size_t)r - 1;
    int r1 = parse(buf, first, 0, &req2, h2);
    if (r1 != KL_HTTP1_INCOMPLETE) abort();
    int r2 = parse(buf, size, first, &req2, h2);
    if (r2 != r || !same_str(req.method, req2.method) || !same_str(req.target, req2.target) ||
        req2.num_headers != req.num_headers || req2.body != req.body || req2.content_length != req.content_length ||
        req2.keep_alive != req.keep_alive)
        abort();

    if (req.body != KL_HTTP1_BODY_CHUNKED) return 0;
    const char *body = buf + r;
    size_t blen = size - (size_t)r;
    char *out1 = malloc(blen + 1), *out2 = malloc(blen + 1), *left1 = malloc(blen + 1), *left2 = malloc(blen + 1);
    size_t o1, o2, l1, l2;
    int s1 = 0, s2 = 0;
    ssize_t d1 = decode(body, blen, blen, out1, &o1, left1, &l1, &s1);
    ssize_t d2 = decode(body, blen, blen / 3, out2, &o2, left2, &l2, &s2);
    if (d1 != d2 || s1 != s2) abort();
    if (d1 == 0 && (o1 != o2 || memcmp(out1, out2, o1) != 0 || l1 != l2 || memcmp(left1, left2, l1) != 0))
        abort();
    if (d1 == 0 && o1 + l1 > blen) abort();
    free(out1);
    free(out2);
    free(left1);
    free(left2);
    return 0;
}
