/* url.c - libFuzzer driver for src/proto/url.c: percent-decoding, query-string iteration
 * and the typed values route parameters accept, the way a request target reaches them.
 *
 * Byte 0's bit 0 is plus_is_space for the whole-input decode; the rest is a query string
 * (the bytes after '?'). Checked with abort():
 *  - kl_url_decode: -1 or a length <= the input; the same answer and bytes as a reference
 *    decoder written here; never an encoded NUL (NUL bytes out only as many as came in raw);
 *    re-encoding the decoded bytes and decoding them again gives them back, in both modes;
 *  - kl_query_begin/next: the pairs are exactly the non-empty '&'-separated pieces of the
 *    input, in order, split at their first '=', every key and value a range of the input,
 *    and iteration ends with the input (and stays ended);
 *  - kl_value_int accepts exactly the strings strtoll reads whole that print back the same
 *    ("%lld": no '+', no leading zeros, no "-0", within int64) and gives strtoll's value;
 *    kl_value_uuid and kl_value_bool equal references written from their contracts;
 *    each is applied to the whole input and to every key and value, raw and decoded. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/url.h"

static int hex(char c) {
    if (!isxdigit((unsigned char)c)) return -1;
    char s[2] = {c, 0};
    return (int)strtol(s, NULL, 16);
}

static ssize_t ref_decode(char *out, const char *in, size_t len, bool plus) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = plus && in[i] == '+' ? ' ' : in[i];
            continue;
        }
        if (i + 2 >= len || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return -1;
        int b = hex(in[i + 1]) * 16 + hex(in[i + 2]);
        if (b == 0) return -1;
        out[o++] = (char)b;
        i += 2;
    }
    return (ssize_t)o;
}

/* Decodes in[0..len) with kl_url_decode into a buffer of exactly len bytes (ASan sees a
 * write past it) and checks it against the reference; returns the length or -1, the
 * decoded bytes in *out (malloc'd, caller frees). */
static ssize_t decode(const char *in, size_t len, bool plus, char **out) {
    char *copy = malloc(len ? len : 1), *o = malloc(len ? len : 1), *r = malloc(len ? len : 1);
    memcpy(copy, in, len);
    ssize_t n = kl_url_decode(o, copy, len, plus);
    ssize_t rn = ref_decode(r, in, len, plus);
    if (n != rn || n < -1 || n > (ssize_t)len) abort();
    if (n > 0 && memcmp(o, r, (size_t)n) != 0) abort();
    if (n >= 0) {
        size_t nul_in = 0, nul_out = 0;
        for (size_t i = 0; i < len; i++) nul_in += in[i] == '\0';
        for (ssize_t i = 0; i < n; i++) nul_out += o[i] == '\0';
        if (nul_out != nul_in) abort();
    }
    free(copy);
    free(r);
    *out = o;
    return n;
}

/* Percent-encodes every byte but the unreserved ones (a space as '+' when plus). */
static size_t encode(char *out, const char *in, size_t len, bool plus) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c < 0x80 && isalnum(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else if (plus && c == ' ') {
            out[o++] = '+';
        } else {
            o += (size_t)snprintf(out + o, 4, "%%%02X", c);
        }
    }
    return o;
}

static void round_trip(const char *dec, size_t n) {
    if (memchr(dec, '\0', n)) return; /* an encoded NUL is refused by design */
    char *enc = malloc(3 * n + 1);
    for (int plus = 0; plus < 2; plus++) {
        size_t e = encode(enc, dec, n, plus);
        char *again;
        ssize_t m = decode(enc, e, plus, &again);
        if (m != (ssize_t)n || memcmp(again, dec, n) != 0) abort();
        free(again);
    }
    free(enc);
}

static bool ref_int(kl_str_t s, int64_t *v) {
    if (s.len == 0 || s.len > 20 || memchr(s.base, '\0', s.len)) return false;
    char buf[32], back[32];
    memcpy(buf, s.base, s.len);
    buf[s.len] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    snprintf(back, sizeof back, "%lld", x);
    if (strcmp(back, buf) != 0) return false;
    *v = x;
    return true;
}

static bool ref_uuid(kl_str_t s) {
    if (s.len != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s.base[i] != '-' : !isxdigit((unsigned char)s.base[i])) return false;
    }
    return true;
}

static void check_values(kl_str_t s) {
    int64_t v = 0, rv = 0;
    bool ok = kl_value_int(s, &v);
    if (ok != ref_int(s, &rv) || (ok && v != rv)) abort();
    if (kl_value_uuid(s) != ref_uuid(s)) abort();
    bool b = false;
    bool bok = kl_value_bool(s, &b);
    bool is_true = s.len == 4 ? memcmp(s.base, "true", 4) == 0 : s.len == 1 && s.base[0] == '1';
    bool is_false = s.len == 5 ? memcmp(s.base, "false", 5) == 0 : s.len == 1 && s.base[0] == '0';
    if (bok != (is_true || is_false) || (bok && b != is_true)) abort();
}

/* Checks a raw key or value, then decodes it as a query piece and checks that too. */
static void check_piece(kl_str_t s) {
    check_values(s);
    char *dec;
    ssize_t n = decode(s.base, s.len, true, &dec);
    if (n >= 0) check_values((kl_str_t){dec, (size_t)n});
    free(dec);
}

static void check_query(const char *q, size_t len) {
    kl_query_iter_t it;
    kl_str_t key, value;
    kl_query_begin(&it, (kl_str_t){NULL, 0});
    if (kl_query_next(&it, &key, &value)) abort();

    kl_query_begin(&it, (kl_str_t){q, len});
    size_t at = 0; /* the reference: the next piece starts here */
    for (;;) {
        while (at < len && q[at] == '&') at++;
        bool more = kl_query_next(&it, &key, &value);
        if (at == len) {
            if (more || kl_query_next(&it, &key, &value)) abort();
            break;
        }
        if (!more) abort();
        const char *amp = memchr(q + at, '&', len - at);
        size_t end = amp ? (size_t)(amp - q) : len;
        const char *eq = memchr(q + at, '=', end - at);
        size_t klen = eq ? (size_t)(eq - q) - at : end - at;
        if (key.base != q + at || key.len != klen) abort();
        if (eq ? value.base != eq + 1 || value.len != end - at - klen - 1 : value.len != 0) abort();
        check_piece(key);
        check_piece(value);
        at = end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    bool plus = data[0] & 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    char *dec;
    ssize_t n = decode(in, len, plus, &dec);
    if (n >= 0) round_trip(dec, (size_t)n);
    free(dec);
    check_values((kl_str_t){in, len});
    check_query(in, len);
    return 0;
}
