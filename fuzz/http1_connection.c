/* http1_connection.c - libFuzzer driver: a whole connection, fed at once and in pieces.
 *
 * Input format: byte 0 chooses how the rest is cut into pieces and which limits apply;
 * bytes 1.. are what the client sent. Split scheme: seed 0 feeds one byte at a time;
 * otherwise a xorshift generator seeded from byte 0 draws piece sizes in 1..(seed % 64 + 1).
 * Bits 6-7 of byte 0 pick one of three limit sets, or (3) take the request-line, head and
 * body limits from bytes 1-3, so small and absurd limits are reachable too.
 *
 * Each feeding runs the request loop a server runs: parse a head (last_len = the previous
 * INCOMPLETE length), then read the body by Content-Length or decode it chunked in place,
 * then the next request from the bytes that follow. It records every head, every body's
 * bytes, every error and the state at the end of input; feeding in pieces must record
 * exactly what feeding at once did, or the driver aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

#define NHDR 6

typedef struct {
    char *p;
    size_t len, cap;
} log_t;

static void log_put(log_t *l, const void *d, size_t n) {
    if (n == 0) return;
    if (l->len + n > l->cap) {
        l->cap = (l->len + n) * 2 + 64;
        l->p = realloc(l->p, l->cap);
        if (!l->p) abort();
    }
    memcpy(l->p + l->len, d, n);
    l->len += n;
}

static void log_u64(log_t *l, uint64_t v) { log_put(l, &v, sizeof v); }

static void log_str(log_t *l, kl_str_t s) {
    log_u64(l, s.len);
    log_put(l, s.base, s.len);
}

typedef struct {
    const kl_http1_limits_t *lim;
    char *buf; /* unconsumed bytes start at buf[0] */
    size_t have, last_len;
    enum { HEAD, LENGTH, CHUNKED, DEAD } state;
    uint64_t remaining;
    kl_http1_chunked_t ch;
    log_t events, body;
} conn_t;

static void consume(conn_t *c, size_t n) {
    memmove(c->buf, c->buf + n, c->have - n);
    c->have -= n;
}

static void log_head(conn_t *c, const kl_http1_request_t *r) {
    log_t *l = &c->events;
    log_put(l, "H", 1);
    log_str(l, r->method);
    log_str(l, r->target);
    log_str(l, r->path);
    log_str(l, r->query);
    log_str(l, r->host);
    log_u64(l, (uint64_t)r->minor_version);
    log_u64(l, r->num_headers);
    for (size_t i = 0; i < r->num_headers; i++) {
        log_str(l, r->headers[i].name);
        log_str(l, r->headers[i].value);
    }
    log_u64(l, r->body);
    log_u64(l, r->content_length);
    log_u64(l, (uint64_t)r->keep_alive << 1 | r->expect_continue);
}

static void log_error(conn_t *c, int status, const char *error) {
    log_put(&c->events, "E", 1);
    log_u64(&c->events, (uint64_t)status);
    log_put(&c->events, error, strlen(error) + 1);
    c->state = DEAD;
}

/* Runs the request loop over what has arrived. */
static void process(conn_t *c) {
    for (;;) {
        switch (c->state) {
        case HEAD: {
            kl_http1_header_t h[NHDR];
            kl_http1_request_t req;
            memset(&req, 0, sizeof req);
            req.headers = h;
            req.num_headers = NHDR;
            int r = kl_http1_parse_request(c->buf, c->have, c->last_len, c->lim, &req);
            if (r == KL_HTTP1_INCOMPLETE) {
                c->last_len = c->have;
                return;
            }
            if (r == KL_HTTP1_ERROR) {
                log_error(c, req.status, req.error);
                return;
            }
            if ((size_t)r > c->have) abort();
            log_head(c, &req);
            consume(c, (size_t)r);
            c->last_len = 0;
            if (req.body == KL_HTTP1_BODY_LENGTH) {
                c->state = LENGTH;
                c->remaining = req.content_length;
            } else if (req.body == KL_HTTP1_BODY_CHUNKED) {
                c->state = CHUNKED;
                memset(&c->ch, 0, sizeof c->ch);
                c->ch.max_body = c->lim->max_body;
            }
            break;
        }
        case LENGTH: {
            size_t n = c->have < c->remaining ? c->have : (size_t)c->remaining;
            log_put(&c->body, c->buf, n);
            consume(c, n);
            c->remaining -= n;
            if (c->remaining) return;
            log_put(&c->events, "B", 1);
            c->state = HEAD;
            break;
        }
        case CHUNKED: {
            if (c->have == 0) return;
            size_t l = c->have;
            ssize_t r = kl_http1_decode_chunked(&c->ch, c->buf, &l);
            if (l > c->have) abort();
            /* also on ERROR: the data before the error, so pieces and whole agree */
            log_put(&c->body, c->buf, l);
            if (r == KL_HTTP1_ERROR) {
                log_error(c, c->ch.status, c->ch.error);
                return;
            }
            if (r == KL_HTTP1_INCOMPLETE) {
                c->have = 0;
                return;
            }
            if (l + (size_t)r > c->have) abort();
            memmove(c->buf, c->buf + l, (size_t)r);
            c->have = (size_t)r;
            log_put(&c->events, "C", 1);
            log_u64(&c->events, c->ch.total);
            c->state = HEAD;
            break;
        }
        case DEAD:
            return;
        }
    }
}

static void run(const char *in, size_t len, const kl_http1_limits_t *lim, unsigned seed, int pieces, conn_t *c) {
    memset(c, 0, sizeof *c);
    c->lim = lim;
    c->buf = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t off = 0; off < len && c->state != DEAD;) {
        size_t k = len - off;
        if (pieces) {
            size_t n = 1;
            if (seed) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                n = 1 + x % (seed % 64 + 1);
            }
            if (n < k) k = n;
        }
        memcpy(c->buf + c->have, in + off, k);
        c->have += k;
        off += k;
        process(c);
    }
    /* the state the input ended in */
    log_put(&c->events, "S", 1);
    log_u64(&c->events, c->state);
    log_u64(&c->events, c->state == HEAD ? c->have : c->state == LENGTH ? c->remaining : c->state == CHUNKED ? c->ch.total : 0);
    free(c->buf);
}

static const kl_http1_limits_t limit_sets[4] = {
    {.max_request_line = 8192, .max_head = 16384, .max_body = 1048576},
    {.max_request_line = 64, .max_head = 256, .max_body = 128},
    {.max_request_line = 200, .max_head = 600, .max_body = 2000},
    {0}, /* from input bytes 1-3, see below */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned seed = data[0];
    const kl_http1_limits_t *lim = &limit_sets[seed >> 6];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    kl_http1_limits_t own;
    if (seed >> 6 == 3) { /* any limits, even absurd ones: bytes 1-3 are the limits */
        if (size < 4) return 0;
        own = (kl_http1_limits_t){.max_request_line = data[1], .max_head = data[2], .max_body = data[3]};
        lim = &own;
        in += 3;
        len -= 3;
    }
    conn_t whole, split;
    run(in, len, lim, seed, 0, &whole);
    run(in, len, lim, seed, 1, &split);
    if (whole.events.len != split.events.len || memcmp(whole.events.p, split.events.p, whole.events.len) != 0 ||
        whole.body.len != split.body.len || (whole.body.len && memcmp(whole.body.p, split.body.p, whole.body.len) != 0)) {
        fprintf(stderr, "http1_connection: pieces (seed %u) differ from feeding at once\n", seed);
        abort();
    }
    free(whole.events.p);
    free(whole.body.p);
    free(split.events.p);
    free(split.body.p);
    return 0;
}
