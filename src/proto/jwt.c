/* jwt.c - JWT verification and the small strict JSON scanner it needs.
 *
 * Order matters for what an unauthenticated client can reach: the header is decoded and
 * parsed first (its "alg" and "kid" pick the key, which must be pinned to that alg), then
 * the signature is checked, and only a token whose signature verifies gets its payload
 * parsed. Both JSON objects are parsed
 * into the caller's kl_jwt_claims_t (the header as scratch, then the payload over it), and
 * both parts are decoded into one stack buffer, so nothing is allocated.
 *
 * Storage cannot overflow for a token within KL_JWT_MAX_TOKEN (a member "n":v takes at
 * least 4 bytes of JSON for the 2 NULs it adds, an unescaped string is never longer than
 * its JSON, and the decoded payload is at most 6 KiB), but every write is bounds-checked
 * anyway, so the limits can change independently. */
#include "proto/jwt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/base64url.h"
#include "proto/utf8.h"

typedef struct {
    const uint8_t *p, *end;
} cur_t;

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static void skip_ws(cur_t *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Scans the string whose opening quote is at c->p. With dst, also writes its unescaped
 * UTF-8 (no NUL) to dst[0..cap) and its length to *n, and refuses \u0000 (the text must be
 * a C string). Returns 0, or -1 for a malformed string or too little room. */
static int scan_string(cur_t *c, char *dst, size_t cap, size_t *n) {
    const uint8_t *p = c->p + 1, *end = c->end;
    size_t o = 0;
    for (;;) {
        if (p == end) return -1;
        /* a run of plain printable ASCII is copied at once */
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (dst && p > run) {
            if (cap - o < (size_t)(p - run)) return -1;
            memcpy(dst + o, run, (size_t)(p - run));
            o += (size_t)(p - run);
        }
        if (p == end) return -1;
        uint8_t ch = *p;
        if (ch == '"') break;
        if (ch < 0x20) return -1;
        if (ch != '\\') {
            size_t k = kl_utf8_len(p, (size_t)(end - p));
            if (!k) return -1;
            if (dst) {
                if (cap - o < k) return -1;
                memcpy(dst + o, p, k);
                o += k;
            }
            p += k;
            continue;
        }
        if (end - p < 2) return -1;
        uint32_t cp;
        switch (p[1]) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (end - p < 6 || kl_utf8_hex4(p + 2, &cp)) return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff) return -1; /* a low surrogate alone */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || kl_utf8_hex4(p + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            if (cp == 0 && dst) return -1;
            p += 4;
            break;
        default: return -1;
        }
        p += 2;
        if (dst) {
            uint8_t b[4];
            size_t k = kl_utf8_put(b, cp);
            if (cap - o < k) return -1;
            memcpy(dst + o, b, k);
            o += k;
        }
    }
    c->p = p + 1;
    if (n) *n = o;
    return 0;
}

/* Scans a number per RFC 8259's grammar at c->p; what follows is the caller's to check. */
static int scan_number(cur_t *c) {
    const uint8_t *p = c->p, *end = c->end;
    if (p < end && *p == '-') p++;
    if (p == end) return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) p++;
    } else {
        return -1;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) return -1;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !is_digit(*p)) return -1;
        while (p < end && is_digit(*p)) p++;
    }
    c->p = p;
    return 0;
}

static int scan_literal(cur_t *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return -1;
    c->p += n;
    return 0;
}

/* Scans a string, number or literal at c->p and returns its type, or -1. */
static int scan_scalar(cur_t *c) {
    switch (*c->p) {
    case '"': return scan_string(c, NULL, 0, NULL) ? -1 : KL_JWT_STRING;
    case 't': return scan_literal(c, "true", 4) ? -1 : KL_JWT_TRUE;
    case 'f': return scan_literal(c, "false", 5) ? -1 : KL_JWT_FALSE;
    case 'n': return scan_literal(c, "null", 4) ? -1 : KL_JWT_NULL;
    default: return scan_number(c) ? -1 : KL_JWT_NUMBER;
    }
}

/* Scans `"name" ws : ws` inside a nested object. */
static int scan_key(cur_t *c) {
    if (c->p == c->end || *c->p != '"' || scan_string(c, NULL, 0, NULL)) return -1;
    skip_ws(c);
    if (c->p == c->end || *c->p != ':') return -1;
    c->p++;
    skip_ws(c);
    return 0;
}

/* Validates one JSON value at c->p (no leading whitespace) and moves past it; containers
 * may nest `room` levels. Iterative with an explicit stack of closing brackets, so hostile
 * nesting costs neither C stack nor time beyond one pass. */
static int skip_value(cur_t *c, int room) {
    uint8_t stack[KL_JWT_MAX_DEPTH];
    int depth = 0;
    for (;;) {
        if (c->p == c->end) return -1;
        uint8_t ch = *c->p;
        if (ch == '{' || ch == '[') {
            uint8_t close = ch == '{' ? '}' : ']';
            if (depth >= room || depth >= KL_JWT_MAX_DEPTH) return -1;
            c->p++;
            skip_ws(c);
            if (c->p < c->end && *c->p == close) {
                c->p++; /* an empty container is a complete value */
            } else {
                stack[depth++] = close;
                if (ch == '{' && scan_key(c)) return -1;
                continue; /* its first value is next */
            }
        } else if (scan_scalar(c) < 0) {
            return -1;
        }
        /* a value is complete: close what it completes, then find the next value */
        for (;;) {
            if (depth == 0) return 0;
            skip_ws(c);
            if (c->p == c->end) return -1;
            if (*c->p == stack[depth - 1]) {
                c->p++;
                depth--;
                continue;
            }
            if (*c->p != ',') return -1;
            c->p++;
            skip_ws(c);
            if (stack[depth - 1] == '}' && scan_key(c)) return -1;
            break;
        }
    }
}

/* Parses json[0..n), which must be exactly one object, into out's members. On -1, out's
 * count and storage are garbage; the caller resets count. */
static int parse_object(const uint8_t *json, size_t n, kl_jwt_claims_t *out) {
    cur_t c = {json, json + n};
    char *st = out->_storage;
    uint32_t hashes[KL_JWT_MAX_CLAIMS];
    size_t used = 0, len;
    out->count = 0;
    skip_ws(&c);
    if (c.p == c.end || *c.p != '{') return -1;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            if (out->count == KL_JWT_MAX_CLAIMS || c.p == c.end || *c.p != '"') return -1;
            size_t name_at = used;
            if (scan_string(&c, st + used, KL_JWT_STORAGE - used, &len)) return -1;
            used += len;
            if (used == KL_JWT_STORAGE) return -1;
            st[used++] = 0;
            /* duplicates: a hash first, so 64 long look-alike names in an unsigned header cost
             * integer compares, not full string compares; crafted collisions only fall back to
             * strcmp, bounded by the 2016 pairs of KL_JWT_MAX_CLAIMS names either way */
            uint32_t hsh = 2166136261u; /* FNV-1a */
            for (size_t i = name_at; i < name_at + len; i++) hsh = (hsh ^ (uint8_t)st[i]) * 16777619u;
            for (uint32_t i = 0; i < out->count; i++)
                if (hashes[i] == hsh && strcmp(st + out->_name[i], st + name_at) == 0) return -1;
            hashes[out->count] = hsh;
            skip_ws(&c);
            if (c.p == c.end || *c.p != ':') return -1;
            c.p++;
            skip_ws(&c);
            if (c.p == c.end) return -1;

            size_t value_at = used;
            int type;
            if (*c.p == '"') {
                if (scan_string(&c, st + used, KL_JWT_STORAGE - used, &len)) return -1;
                type = KL_JWT_STRING;
            } else {
                const uint8_t *start = c.p;
                if (*c.p == '{' || *c.p == '[') {
                    type = *c.p == '{' ? KL_JWT_OBJECT : KL_JWT_ARRAY;
                    if (skip_value(&c, KL_JWT_MAX_DEPTH - 1)) return -1;
                } else if ((type = scan_scalar(&c)) < 0) {
                    return -1;
                }
                len = (size_t)(c.p - start); /* raw JSON holds no NUL byte: it would be invalid */
                if (len > KL_JWT_STORAGE - used) return -1;
                memcpy(st + used, start, len);
            }
            used += len;
            if (used == KL_JWT_STORAGE) return -1;
            st[used++] = 0;
            out->_name[out->count] = (uint16_t)name_at;
            out->_value[out->count] = (uint16_t)value_at;
            out->_type[out->count] = (uint8_t)type;
            out->count++;

            skip_ws(&c);
            if (c.p == c.end) return -1;
            if (*c.p == '}') {
                c.p++;
                break;
            }
            if (*c.p != ',') return -1;
            c.p++;
            skip_ws(&c);
        }
    }
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

/* Compares the JSON number text s (grammar already checked, NUL-terminated) with v exactly:
 * -1, 0 or 1. The value is the significant digits d with `point` of them before the
 * decimal point; since d starts with a non-zero digit, point >= 20 means >= 1e19, beyond
 * any int64, and point <= 19 leaves an integer part that fits a uint64. */
static int num_cmp(const char *s, int64_t v) {
    bool neg = *s == '-';
    if (neg) s++;
    const char *ip = s, *fp = "";
    size_t ni = 0, nf = 0;
    while (is_digit((uint8_t)ip[ni])) ni++;
    s = ip + ni;
    if (*s == '.') {
        fp = s + 1;
        while (is_digit((uint8_t)fp[nf])) nf++;
        s = fp + nf;
    }
    long e = 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        bool eneg = *s == '-';
        if (*s == '+' || *s == '-') s++;
        for (; is_digit((uint8_t)*s); s++)
            if (e < 1000000) e = e * 10 + (*s - '0'); /* beyond that, only the sign of point matters */
        if (eneg) e = -e;
    }
#define DIG(k) ((k) < ni ? ip[k] : fp[(k) - ni])
    size_t nd = ni + nf, lead = 0, last = nd;
    while (lead < nd && DIG(lead) == '0') lead++;
    while (last > lead && DIG(last - 1) == '0') last--;
    if (lead == last) return v > 0 ? -1 : v < 0 ? 1 : 0; /* zero, of either sign */
    size_t sig = last - lead;
    long point = (long)ni + e - (long)lead;
    uint64_t ipart = 0;
    bool frac = true, huge = point > 19;
    if (!huge && point > 0) {
        for (long k = 0; k < point; k++) ipart = ipart * 10 + ((size_t)k < sig ? (uint64_t)(DIG(lead + (size_t)k) - '0') : 0);
        frac = (size_t)point < sig;
    }
#undef DIG
    if (!neg) {
        if (huge || ipart > (uint64_t)INT64_MAX) return 1;
        int64_t x = (int64_t)ipart; /* value = x + f, 0 <= f < 1, f > 0 iff frac */
        return x > v ? 1 : x < v ? -1 : frac ? 1 : 0;
    }
    if (huge || ipart > (uint64_t)INT64_MAX + 1) return -1;
    int64_t x = ipart == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)ipart; /* value = x - f */
    return x < v ? -1 : x > v ? 1 : frac ? -1 : 0;
}

/* RFC 7515 4.1.9: a media type, compared case-insensitively, "application/" optional;
 * RFC 7519 5.1 ("JWT") and RFC 9068 2.1 ("at+jwt", OAuth access tokens). */
static bool typ_ok(const char *t) {
    if (!strncasecmp(t, "application/", 12)) t += 12;
    return !strcasecmp(t, "JWT") || !strcasecmp(t, "at+jwt");
}

/* Reads the header's alg and kid (*kid NULL when absent). */
static int check_header(const kl_jwt_claims_t *h, kl_jws_alg_t *alg, const char **kid, size_t *kid_len) {
    int a = kl_jwt_claim_index(h, "alg");
    if (a < 0 || h->_type[a] != KL_JWT_STRING) return KL_JWT_EALG;
    const char *name = kl_jwt_claim_value(h, (size_t)a);
    if ((*alg = kl_jws_alg_parse(name, strlen(name))) == KL_JWS_NONE) return KL_JWT_EALG;
    if (kl_jwt_claim_index(h, "crit") >= 0) return KL_JWT_EALG; /* we implement no extension */
    int typ = kl_jwt_claim_index(h, "typ");
    if (typ >= 0 && (h->_type[typ] != KL_JWT_STRING || !typ_ok(kl_jwt_claim_value(h, (size_t)typ))))
        return KL_JWT_EMALFORMED;
    int k = kl_jwt_claim_index(h, "kid");
    *kid = NULL;
    *kid_len = 0;
    if (k >= 0) {
        if (h->_type[k] != KL_JWT_STRING) return KL_JWT_EMALFORMED;
        *kid = kl_jwt_claim_value(h, (size_t)k);
        if ((*kid_len = strlen(*kid)) > KL_JWS_KID_MAX) return KL_JWT_EMALFORMED;
    }
    return 0;
}

static bool integer_text(const char *s) {
    if (*s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (!is_digit((uint8_t)*s)) return false;
    return true;
}

static int64_t add_sat(int64_t a, int64_t b) { /* b >= 0 */
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t sub_sat(int64_t a, int64_t b) { /* b >= 0 */
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

/* Longest policy audience compared; a longer one matches nothing. */
#define AUD_MAX 1024

/* Whether the JSON string at c->p (already validated) decodes to exactly want; moves past it. */
static bool string_is(cur_t *c, const char *want, size_t wlen) {
    char buf[AUD_MAX];
    size_t n;
    cur_t save = *c;
    if (wlen <= sizeof(buf) && scan_string(c, buf, wlen, &n) == 0) return n == wlen && memcmp(buf, want, wlen) == 0;
    *c = save; /* longer than want (or holding \u0000): not it; skip it */
    scan_string(c, NULL, 0, NULL);
    return false;
}

/* Whether the raw JSON array text (validated by parse_object) holds the string want. */
static bool array_has(const char *json, const char *want) {
    cur_t c = {(const uint8_t *)json, (const uint8_t *)json + strlen(json)};
    size_t wlen = strlen(want);
    c.p++; /* '[' */
    for (;;) {
        skip_ws(&c);
        if (c.p == c.end || *c.p == ']') return false;
        if (*c.p == '"') {
            if (string_is(&c, want, wlen)) return true;
        } else if (skip_value(&c, KL_JWT_MAX_DEPTH)) {
            return false;
        }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') c.p++;
    }
}

int kl_jwt_check_claims(const kl_jwt_claims_t *c, const kl_jwt_policy_t *pol, int64_t now_s) {
    int sub = kl_jwt_claim_index(c, "sub"), exp = kl_jwt_claim_index(c, "exp"), nbf = kl_jwt_claim_index(c, "nbf");
    int iat = kl_jwt_claim_index(c, "iat");
    if (sub < 0) return KL_JWT_EMALFORMED;
    if (c->_type[sub] != KL_JWT_STRING &&
        !(c->_type[sub] == KL_JWT_NUMBER && integer_text(kl_jwt_claim_value(c, (size_t)sub))))
        return KL_JWT_EMALFORMED;
    if ((exp >= 0 && c->_type[exp] != KL_JWT_NUMBER) || (nbf >= 0 && c->_type[nbf] != KL_JWT_NUMBER) ||
        (iat >= 0 && c->_type[iat] != KL_JWT_NUMBER))
        return KL_JWT_EMALFORMED;
    int64_t leeway = pol->leeway_s > 0 ? pol->leeway_s : 0;
    if (exp < 0 && pol->require_exp) return KL_JWT_ENOEXP;
    /* valid while now < exp + leeway, i.e. expired once exp <= now - leeway */
    if (exp >= 0 && num_cmp(kl_jwt_claim_value(c, (size_t)exp), sub_sat(now_s, leeway)) <= 0) return KL_JWT_EEXPIRED;
    if (nbf >= 0 && num_cmp(kl_jwt_claim_value(c, (size_t)nbf), add_sat(now_s, leeway)) > 0) return KL_JWT_ENOTYET;
    if (iat >= 0 && num_cmp(kl_jwt_claim_value(c, (size_t)iat), add_sat(now_s, leeway)) > 0) return KL_JWT_EIAT;
    if (pol->issuer) {
        int i = kl_jwt_claim_index(c, "iss");
        if (i < 0 || c->_type[i] != KL_JWT_STRING || strcmp(kl_jwt_claim_value(c, (size_t)i), pol->issuer) != 0)
            return KL_JWT_EISSUER;
    }
    if (pol->audience) {
        int i = kl_jwt_claim_index(c, "aud");
        const char *v = i >= 0 ? kl_jwt_claim_value(c, (size_t)i) : NULL;
        bool ok = v && ((c->_type[i] == KL_JWT_STRING && strcmp(v, pol->audience) == 0) ||
                        (c->_type[i] == KL_JWT_ARRAY && array_has(v, pol->audience)));
        if (!ok) return KL_JWT_EAUDIENCE;
    }
    return 0;
}

int kl_jwt_verify(const char *token, size_t len, const kl_jws_keys_t *keys, const kl_jwt_policy_t *policy,
                  int64_t now_s, kl_jwt_claims_t *out, char *err, size_t errlen) {
    /* one buffer for the decoded header, then the signature, then the payload */
    uint8_t buf[KL_BASE64URL_DECODED_MAX(KL_JWT_MAX_TOKEN)];
    const char *dot1, *dot2, *end = token + len, *kid;
    size_t kid_len;
    kl_jws_alg_t alg;
    const kl_jws_key_t *key;
    ssize_t n;
    int r = KL_JWT_EMALFORMED;

    out->count = 0;
    if (len == 0 || len > KL_JWT_MAX_TOKEN) goto fail;
    if (!(dot1 = memchr(token, '.', len))) goto fail;
    if (!(dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)))) goto fail;
    if (memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) goto fail; /* JWE and other shapes */

    n = kl_base64url_decode(token, (size_t)(dot1 - token), buf, sizeof buf);
    if (n <= 0 || parse_object(buf, (size_t)n, out)) goto fail;
    if ((r = check_header(out, &alg, &kid, &kid_len))) goto fail;
    switch (kl_jws_keys_find(keys, alg, kid, kid_len, &key)) {
    case 0: break;
    case KL_JWS_EALGKEY: r = KL_JWT_EALGKEY; goto fail;
    default: r = KL_JWT_EKEY; goto fail;
    }
    /* kid points into out, which the payload overwrites: the key is chosen, it is not needed */

    r = KL_JWT_EMALFORMED;
    n = kl_base64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), buf, sizeof buf);
    if (n < 0) goto fail;
    r = KL_JWT_ESIGNATURE;
    if (kl_jws_verify(key, token, (size_t)(dot2 - token), buf, (size_t)n) != 0) goto fail;

    r = KL_JWT_EMALFORMED;
    n = kl_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, sizeof buf);
    if (n <= 0 || parse_object(buf, (size_t)n, out)) goto fail;
    if ((r = kl_jwt_check_claims(out, policy, now_s))) goto fail;
    return 0;

fail:
    out->count = 0;
    if (errlen) snprintf(err, errlen, "%s", kl_jwt_strerror(r));
    return r;
}

ssize_t kl_jwt_payload(const char *token, size_t len, char *out, size_t cap) {
    const char *dot1 = memchr(token, '.', len), *dot2;
    if (!dot1 || !(dot2 = memchr(dot1 + 1, '.', (size_t)(token + len - dot1 - 1)))) return -1;
    return kl_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), (uint8_t *)out, cap);
}

int kl_jwt_claim_seconds(const kl_jwt_claims_t *c, const char *name, int64_t *out) {
    int i = kl_jwt_claim_index(c, name);
    if (i < 0 || c->_type[i] != KL_JWT_NUMBER) return -1;
    long double d = floorl(strtold(kl_jwt_claim_value(c, (size_t)i), NULL));
    *out = d >= 9.2e18L ? INT64_MAX : d <= -9.2e18L ? INT64_MIN : (int64_t)d;
    return 0;
}

size_t kl_jwt_claims_used(const kl_jwt_claims_t *c) {
    size_t used = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        size_t v = c->_value[i] + strlen(c->_storage + c->_value[i]) + 1; /* values follow their names */
        if (v > used) used = v;
    }
    return used;
}

const char *kl_jwt_strerror(int code) {
    switch (code) {
    case KL_JWT_OK: return "";
    case KL_JWT_EALG: return "unsupported algorithm";
    case KL_JWT_ESIGNATURE: return "bad signature";
    case KL_JWT_EEXPIRED: return "token expired";
    case KL_JWT_ENOTYET: return "token not yet valid";
    case KL_JWT_EKEY: return "unknown key";
    case KL_JWT_EALGKEY: return "algorithm does not match the key";
    case KL_JWT_EIAT: return "token issued in the future";
    case KL_JWT_ENOEXP: return "token has no expiry";
    case KL_JWT_EISSUER: return "wrong issuer";
    case KL_JWT_EAUDIENCE: return "wrong audience";
    default: return "malformed token";
    }
}

int kl_jwt_claim_index(const kl_jwt_claims_t *c, const char *name) {
    for (uint32_t i = 0; i < c->count; i++)
        if (strcmp(c->_storage + c->_name[i], name) == 0) return (int)i;
    return -1;
}

const char *kl_jwt_claim(const kl_jwt_claims_t *c, const char *name) {
    int i = kl_jwt_claim_index(c, name);
    return i < 0 ? NULL : c->_storage + c->_value[i];
}

const char *kl_jwt_claim_name(const kl_jwt_claims_t *c, size_t i) { return c->_storage + c->_name[i]; }

const char *kl_jwt_claim_value(const kl_jwt_claims_t *c, size_t i) { return c->_storage + c->_value[i]; }

kl_jwt_type_t kl_jwt_claim_type(const kl_jwt_claims_t *c, size_t i) { return (kl_jwt_type_t)c->_type[i]; }

const char *kl_jwt_subject(const kl_jwt_claims_t *c) { return kl_jwt_claim(c, "sub"); }
