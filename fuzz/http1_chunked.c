/* http1_chunked.c - libFuzzer driver for kl_http1_decode_chunked (src/proto/http1.c) on
 * its own: a chunked request body, without a request head in front (http1_request reaches
 * the decoder only after a head that says chunked).
 *
 * Input format: byte 0 is the seed, the rest is the body bytes as they arrive. Bits 6-7 of
 * the seed pick max_body: 0 = 1 MiB, 1 = 0, 2 = 16, 3 = 1000 (413 reachable). Bits 0-5 pick
 * how the body is cut when fed in pieces: 0 = one byte at a time, else a xorshift generator
 * seeded from the seed draws piece sizes in 1..(bits + 1).
 *
 * Checked with abort(): decoding all at once and in pieces gives the same data, leftover,
 * verdict, status and reason; framing is bounded (data + leftover <= input, total == data
 * <= max_body); the leftover is exactly the input's tail; an accepted body's data is what a
 * naive walk over its (valid) framing extracts and the walk ends where the leftover starts;
 * a decoder that has ended hands any further bytes back as leftover, one that failed keeps
 * failing. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

typedef struct {
    ssize_t verdict; /* >= 0: ended (the leftover's length); INCOMPLETE; ERROR */
    int status;
    const char *error;
    char *data, *left;
    size_t data_len, left_len;
    uint64_t total;
} outcome_t;

static uint32_t xorshift(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Feeds body[0..len) in pieces (piece_max 0: all at once) into a fresh decoder. */
static void feed(const char *body, size_t len, uint64_t max_body, uint8_t seed, size_t piece_max, outcome_t *out) {
    kl_http1_chunked_t st;
    memset(&st, 0, sizeof st);
    st.max_body = max_body;
    memset(out, 0, sizeof *out);
    out->data = malloc(len + 1);
    out->left = malloc(len + 1);
    out->verdict = KL_HTTP1_INCOMPLETE;
    uint32_t rng = 0x9e3779b9u ^ seed;
    size_t at = 0;
    while (at < len) {
        size_t n = piece_max == 0 ? len - at : 1 + xorshift(&rng) % piece_max;
        if (n > len - at) n = len - at;
        /* each piece in its own allocation of exactly n bytes: ASan sees any over-read */
        char *piece = malloc(n);
        memcpy(piece, body + at, n);
        size_t l = n;
        ssize_t r = kl_http1_decode_chunked(&st, piece, &l);
        if (l > n) abort();
        memcpy(out->data + out->data_len, piece, l);
        out->data_len += l;
        at += n;
        if (r >= 0) {
            if (l + (size_t)r > n) abort();
            memcpy(out->left, piece + l, (size_t)r);
            memcpy(out->left + r, body + at, len - at);
            out->left_len = (size_t)r + len - at;
            out->verdict = (ssize_t)out->left_len;
        } else if (r == KL_HTTP1_ERROR) {
            if ((st.status != 400 && st.status != 413) || !st.error || !st.error[0]) abort();
            out->verdict = r;
            out->status = st.status;
            out->error = st.error;
        } else if (r != KL_HTTP1_INCOMPLETE) {
            abort();
        }
        free(piece);
        if (r != KL_HTTP1_INCOMPLETE) break;
    }
    out->total = st.total;
    if (st.total > st.max_body) abort();
    if (out->verdict != KL_HTTP1_ERROR && st.total != out->data_len) abort();

    /* after the end, more bytes are all leftover; after an error, every call fails */
    if (out->verdict != KL_HTTP1_INCOMPLETE) {
        char more[3] = {'0', '\r', '\n'};
        size_t l = sizeof more;
        ssize_t r = kl_http1_decode_chunked(&st, more, &l);
        if (out->verdict >= 0 ? r != (ssize_t)sizeof more || l != 0 : r != KL_HTTP1_ERROR || l != 0) abort();
    }
}

static void release(outcome_t *o) {
    free(o->data);
    free(o->left);
}

static const char *line_end(const char *p, const char *end) {
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf || lf == p || lf[-1] != '\r') abort(); /* accepted framing has CRLF line ends */
    return lf + 1;
}

/* The data of an accepted body, walked naively: size line, data, CRLF, ... last chunk,
 * trailer lines, empty line. Returns the bytes the framing took. */
static size_t walk(const char *b, size_t len, char *out, size_t *out_len) {
    const char *p = b, *end = b + len;
    size_t o = 0;
    for (;;) {
        uint64_t size = 0;
        for (; p < end && isxdigit((unsigned char)*p); p++) {
            char digit[2] = {*p, 0};
            size = size * 16 + (uint64_t)strtoul(digit, NULL, 16);
        }
        p = line_end(p, end);
        if (size == 0) break;
        if (size > (uint64_t)(end - p) || (uint64_t)(end - p) - size < 2) abort();
        memcpy(out + o, p, (size_t)size);
        o += (size_t)size;
        p += size;
        if (p[0] != '\r' || p[1] != '\n') abort();
        p += 2;
    }
    while (!(end - p >= 2 && p[0] == '\r' && p[1] == '\n')) p = line_end(p, end);
    *out_len = o;
    return (size_t)(p + 2 - b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    static const uint64_t max_bodies[] = {1u << 20, 0, 16, 1000};
    uint8_t seed = data[0];
    uint64_t max_body = max_bodies[seed >> 6];
    size_t piece_max = (seed & 0x3f) ? (size_t)(seed & 0x3f) + 1 : 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    outcome_t once, pieces;
    feed(body, len, max_body, seed, 0, &once);
    feed(body, len, max_body, seed, piece_max, &pieces);

    if (once.verdict != pieces.verdict || once.status != pieces.status || once.total != pieces.total) abort();
    if (once.error != pieces.error && strcmp(once.error, pieces.error) != 0) abort();
    if (once.data_len != pieces.data_len || memcmp(once.data, pieces.data, once.data_len) != 0) abort();
    if (once.left_len != pieces.left_len || memcmp(once.left, pieces.left, once.left_len) != 0) abort();
    if (once.data_len + once.left_len > len) abort();

    if (once.verdict >= 0) {
        if (memcmp(once.left, body + len - once.left_len, once.left_len) != 0) abort();
        char *walked = malloc(len + 1);
        size_t walked_len;
        size_t framing = walk(body, len, walked, &walked_len);
        if (framing != len - once.left_len || walked_len != once.data_len ||
            memcmp(walked, once.data, walked_len) != 0)
            abort();
        free(walked);
    }
    release(&once);
    release(&pieces);
    return 0;
}
