/* http1.c - strict, incremental HTTP/1.1 request heads and chunked bodies (RFC 9112).
 *
 * A head is parsed in two passes, picohttpparser-style. find_head_end() walks the LFs from
 * where the previous call stopped (last_len) and stops at the first of: a bare LF, the
 * request line outgrowing its limit (414), the head outgrowing its limit (431), or the empty
 * line. Each of those is decided by the bytes up to one position, and the walk visits
 * positions in order, so feeding a head byte by byte reaches the same verdict as feeding it
 * at once. Only a complete head is parsed (parse_head()), once, and that parse may rely on
 * the head ending in CRLF CRLF: every scanning loop stops at CR, which is never a token,
 * target or field-value byte, so the loops need no bounds checks.
 *
 * The chunked decoder is a byte-level state machine whose state lives in the caller's
 * kl_http1_chunked_t, so input may be split anywhere; chunk data is moved in bulk.
 */
#include "proto/http1.h"

#include <limits.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

const kl_http1_limits_t kl_http1_default_limits = {
    .max_request_line = 8192,
    .max_head = 16384,
    .max_body = 1048576,
};

enum {
    T_TOKEN = 1,   /* tchar (RFC 9110 5.6.2) */
    T_VALUE = 2,   /* field-vchar, obs-text, SP, HTAB (RFC 9110 5.5) */
    T_TARGET = 4,  /* what we accept in a request-target: VCHAR (0x21-0x7E) */
    T_HEX = 8,     /* HEXDIG */
    T_HOST = 16,   /* uri-host and port: unreserved, pct-encoded, sub-delims, ':', '[', ']' */
    T_QDTEXT = 32, /* qdtext (RFC 9110 5.6.4) */
};

/* Generated: one flag byte per octet, see the enum above. */
static const unsigned char ctype[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  34, 0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    34, 55, 6,  39, 55, 55, 55, 55, 54, 54, 55, 55, 54, 55, 55, 38,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 54, 54, 38, 54, 38, 38,
    38, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 54, 6,  54, 39, 55,
    39, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 38, 39, 38, 55, 0,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
};

#define IS(c, t) (ctype[(unsigned char)(c)] & (t))

static int fail(kl_http1_request_t *req, int status, const char *msg) {
    req->status = status;
    req->error = msg;
    return KL_HTTP1_ERROR;
}

/* Bit i set when p[i] is LF, for the LF_BLOCK bytes at p: the head-end search walks a
 * block's LFs from one compare instead of restarting a search (or a memchr call) per line. */
#if defined(__AVX2__)
#define LF_BLOCK 32
static inline uint32_t lf_mask(const char *p) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')));
}
#elif defined(__SSE2__)
#define LF_BLOCK 16
static inline uint32_t lf_mask(const char *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
}
#else
#define LF_BLOCK 8
static inline uint32_t lf_mask(const char *p) {
    uint32_t m = 0;
    for (int i = 0; i < LF_BLOCK; i++) m |= (uint32_t)(p[i] == '\n') << i;
    return m;
}
#endif

/* First byte at or after p that is not a tchar; CR stops it before e. (A nibble-lookup
 * SSSE3 version measured slower on typical 4-20 byte names than this well-predicted loop.) */
static inline const char *scan_token(const char *p) {
    while (IS(*p, T_TOKEN)) p++;
    return p;
}

/* First byte at or after p that is not VCHAR. The head's final CRLF stops it before e. */
static const char *scan_target(const char *p, const char *e) {
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(0x20), tilde = _mm_set1_epi8(0x7e);
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        int low = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, sp), sp));       /* <= 0x20 */
        int ok = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, tilde), v));      /* <= 0x7e */
        int bad = low | (ok ^ 0xffff);
        if (bad) return p + __builtin_ctz((unsigned)bad);
        p += 16;
    }
#endif
    (void)e;
    while (IS(*p, T_TARGET)) p++;
    return p;
}

/* First byte at or after p that is not a field-value byte; the final CRLF stops it. */
static const char *scan_value(const char *p, const char *e) {
#if defined(__SSE2__)
    const __m128i c1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8(9), del = _mm_set1_epi8(0x7f);
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f); /* <= 0x1f */
        ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl);
        ctl = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, del));
        int bad = _mm_movemask_epi8(ctl);
        if (bad) return p + __builtin_ctz((unsigned)bad);
        p += 16;
    }
#endif
    (void)e;
    while (IS(*p, T_VALUE)) p++;
    return p;
}

/* Case-insensitive compare of n bytes against a lower-case literal. Only bytes that are
 * valid tokens / field values reach here, and for those c | 0x20 equals a lower-case letter,
 * digit or '-' only when c is that character in either case. */
static bool lower_eq(const char *s, const char *lower, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower[i]) return false;
    return true;
}

/* What one LF at index `at` means, once the request line's LF is behind us: 1 the head
 * ends after it, 0 go on, or ERROR. */
static int at_lf(const char *buf, size_t at, size_t skip, kl_http1_request_t *req) {
    if (at == 0 || buf[at - 1] != '\r') return fail(req, 400, "bare LF in request head");
    if (at == skip + 1) return fail(req, 400, "empty line before the request line");
    return at >= skip + 2 && buf[at - 2] == '\n';
}

/* Finds the end of the head. Returns 0 with *end (index after the empty line's LF),
 * INCOMPLETE or ERROR. LFs before last_len were examined by earlier calls, which returned
 * INCOMPLETE, so they were all preceded by CR and none ended the head. */
static int find_head_end(const char *buf, size_t len, size_t last_len, size_t max_rl,
                         size_t max_head, size_t *skip_out, size_t *end, kl_http1_request_t *req) {
    /* RFC 9112 2.2: ignore one empty line before the request line (sent after some
     * bodies by old clients). Only one: a stream of CRLFs must not make us rescan it. */
    if (len == 1 && buf[0] == '\r') return KL_HTTP1_INCOMPLETE; /* skip not known yet */
    size_t skip = len >= 2 && buf[0] == '\r' && buf[1] == '\n' ? 2 : 0;
    size_t lim = len < max_head ? len : max_head; /* only LFs before this count */
    /* (a call with len 1 returned INCOMPLETE without looking: start over after it) */
    size_t p = last_len <= len && last_len >= 2 ? last_len : 0, at = 0;
    if (p < skip) p = skip;
    if (p > lim) p = lim;
    int r;
    *skip_out = skip;

    /* The request line's LF must come before rl_limit. If p is past rl_limit, the call
     * that returned INCOMPLETE at last_len saw the whole window, so it did. Otherwise
     * look for the next LF; only if there is none before rl_limit do the bytes before p
     * matter, and they are read again only in the call that crosses the limit. */
    size_t rl_limit = max_rl > SIZE_MAX - skip ? SIZE_MAX : skip + max_rl;
    if (p < rl_limit || p == skip) {
        const char *q = p < lim ? memchr(buf + p, '\n', lim - p) : NULL;
        at = q ? (size_t)(q - buf) : lim;
        if (at >= rl_limit && (p == skip || !memchr(buf + skip, '\n', p - skip)))
            return fail(req, 414, "request line too long");
        if (q && (r = at_lf(buf, at, skip, req)) != 0) goto out;
        p = q ? at + 1 : lim;
    }
    /* every further LF, a block at a time */
    for (; lim - p >= LF_BLOCK; p += LF_BLOCK)
        for (uint32_t m = lf_mask(buf + p); m; m &= m - 1)
            if ((r = at_lf(buf, at = p + (size_t)__builtin_ctz(m), skip, req)) != 0) goto out;
    for (; p < lim; p++)
        if (buf[p] == '\n' && (r = at_lf(buf, at = p, skip, req)) != 0) goto out;
    if (len >= max_head) return fail(req, 431, "request head too large");
    return KL_HTTP1_INCOMPLETE;
out:
    if (r < 0) return r;
    *end = at + 1;
    return 0;
}

/* CR or whatever stopped a scan inside a line: a bare CR gets its own message. */
static int bad_byte(kl_http1_request_t *req, const char *p, const char *msg) {
    if (*p == '\r' && p[1] != '\n') return fail(req, 400, "bare CR in request head");
    return fail(req, 400, msg);
}

/* Authority characters with at least one byte; '@' (userinfo) is not among them. */
static bool valid_authority(const char *p, const char *e) {
    if (p == e) return false;
    for (; p < e; p++)
        if (!IS(*p, T_HOST)) return false;
    return true;
}

/* Splits the request-target into path and query per its form (RFC 9112 3.2). */
static int parse_target(kl_http1_request_t *req) {
    const char *t = req->target.base, *te = t + req->target.len;
    bool connect = kl_str_eq(req->method, "CONNECT");
    /* A fragment is the client's own business and never part of a request-target (RFC 9112
     * 3.2); a server that cut it off would answer for a target the client did not send. */
    if (memchr(t, '#', (size_t)(te - t))) return fail(req, 400, "fragment (#) in request-target");
    req->query = (kl_str_t){te, 0};
    if (connect) {
        /* authority-form = uri-host ":" port */
        const char *colon = NULL;
        for (const char *p = t; p < te; p++)
            if (*p == ':') colon = p;
        if (!colon || colon == t || colon + 1 == te || !valid_authority(t, te))
            return fail(req, 400, "CONNECT needs an authority-form target (host:port)");
        for (const char *p = colon + 1; p < te; p++)
            if ((unsigned)(*p - '0') > 9) return fail(req, 400, "invalid port in CONNECT target");
        req->path = (kl_str_t){t, 0};
        return 0;
    }
    if (*t == '/') { /* origin-form */
        const char *q = memchr(t, '?', (size_t)(te - t));
        req->path = (kl_str_t){t, (size_t)((q ? q : te) - t)};
        if (q) req->query = (kl_str_t){q + 1, (size_t)(te - q - 1)};
        return 0;
    }
    if (*t == '*') {
        if (te - t != 1) return fail(req, 400, "invalid request-target");
        if (!kl_str_eq(req->method, "OPTIONS"))
            return fail(req, 400, "asterisk-form target is only allowed with OPTIONS");
        req->path = req->target;
        return 0;
    }
    /* absolute-form: only http and https URIs name something we serve */
    const char *p = t;
    while (p < te && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) p++;
    size_t slen = (size_t)(p - t);
    if (!((slen == 4 && lower_eq(t, "http", 4)) || (slen == 5 && lower_eq(t, "https", 5))) ||
        te - p < 3 || memcmp(p, "://", 3) != 0)
        return fail(req, 400, "invalid request-target");
    p += 3;
    const char *auth = p;
    while (p < te && *p != '/' && *p != '?') p++;
    if (!valid_authority(auth, p)) return fail(req, 400, "invalid authority in request-target");
    req->host = (kl_str_t){auth, (size_t)(p - auth)};
    const char *q = memchr(p, '?', (size_t)(te - p));
    const char *pe = q ? q : te;
    req->path = pe > p ? (kl_str_t){p, (size_t)(pe - p)} : KL_STR("/");
    if (q) req->query = (kl_str_t){q + 1, (size_t)(te - q - 1)};
    return 0;
}

/* Transfer-Encoding: a list of codings that must end in exactly one chunked (RFC 9112 6.1).
 * Returns 0 for plain chunked, 501 for other codings before it, 400 for anything else. */
static int check_te(const char *v, const char *ve) {
    size_t codings = 0;
    bool last_chunked = false;
    for (const char *p = v;;) {
        while (p < ve && (*p == ' ' || *p == '\t')) p++;
        const char *s = p;
        while (p < ve && IS(*p, T_TOKEN)) p++;
        if (p == s) return 400; /* empty element or not a token */
        if (last_chunked) return 400; /* chunked must be the final coding, applied once */
        last_chunked = p - s == 7 && lower_eq(s, "chunked", 7);
        codings++;
        while (p < ve && (*p == ' ' || *p == '\t')) p++;
        if (p == ve) break;
        if (*p++ != ',') return 400;
    }
    if (!last_chunked) return 400;
    return codings == 1 ? 0 : 501;
}

/* Connection: comma-separated options; only close and keep-alive matter here. */
static void scan_connection(const char *v, const char *ve, bool *want_close, bool *want_keep) {
    for (const char *p = v; p < ve;) {
        while (p < ve && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        const char *s = p;
        while (p < ve && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - s);
        if (n == 5 && lower_eq(s, "close", 5)) *want_close = true;
        if (n == 10 && lower_eq(s, "keep-alive", 10)) *want_keep = true;
    }
}

/* Parses a complete head: buf[skip..end) is the request line through the empty line. */
static int parse_head(const char *buf, size_t skip, size_t end, uint64_t max_body,
                      kl_http1_request_t *req) {
    const char *p = buf + skip, *e = buf + end;
    size_t cap = req->num_headers, n = 0;
    bool have_cl = false, have_te = false, have_host = false, have_auth = false, expect_bad = false;
    bool conn_close = false, conn_keep = false;
    int te_status = 0;
    uint64_t cl = 0;

    req->num_headers = 0;
    req->host = (kl_str_t){buf, 0};
    req->body = KL_HTTP1_BODY_NONE;
    req->content_length = 0;
    req->keep_alive = false;
    req->expect_continue = false;
    req->status = 0;
    req->error = NULL;

    /* request-line = method SP request-target SP HTTP-version CRLF, single spaces */
    const char *m = p;
    p = scan_token(p);
    if (*p != ' ' || p == m) {
        if (p == m || *p == '\r') return bad_byte(req, p, "malformed request line");
        return bad_byte(req, p, "invalid character in method");
    }
    req->method = (kl_str_t){m, (size_t)(p - m)};
    const char *t = ++p;
    p = scan_target(p, e);
    if (*p != ' ' || p == t) {
        if (p == t || *p == '\r') return bad_byte(req, p, "malformed request line");
        return bad_byte(req, p, "invalid character in request-target");
    }
    req->target = (kl_str_t){t, (size_t)(p - t)};
    p++;
    if (e - p < 10 || memcmp(p, "HTTP/", 5) != 0 || (unsigned)(p[5] - '0') > 9 || p[6] != '.' ||
        (unsigned)(p[7] - '0') > 9 || p[8] != '\r' || p[9] != '\n') {
        /* error path only: name the likeliest cause */
        for (const char *q = p; *q != '\r'; q++)
            if (*q == ' ') return fail(req, 400, "malformed request line");
        return bad_byte(req, memchr(p, '\r', (size_t)(e - p)), "malformed HTTP version");
    }
    if (p[5] != '1') return fail(req, 505, "HTTP version not supported");
    req->minor_version = p[7] == '0' ? 0 : 1;
    p += 10;
    if (parse_target(req) != 0) return KL_HTTP1_ERROR;

    /* field-line = field-name ":" OWS field-value OWS CRLF */
    for (;;) {
        if (*p == '\r') {
            if (p[1] != '\n') return fail(req, 400, "bare CR in request head");
            break; /* the empty line: find_head_end made it the last one, p + 2 == e */
        }
        if (*p == ' ' || *p == '\t')
            return fail(req, 400, n == 0 ? "whitespace before the first header field"
                                         : "obsolete line folding in header field");
        const char *name = p;
        p = scan_token(p);
        if (*p != ':') {
            if (*p == ' ' || *p == '\t') return fail(req, 400, "whitespace before colon in header field");
            if (*p == '\r') return bad_byte(req, p, "header field without colon");
            return fail(req, 400, "invalid character in header field name");
        }
        if (p == name) return fail(req, 400, "empty header field name");
        size_t nlen = (size_t)(p - name);
        p++;
        while (*p == ' ' || *p == '\t') p++;
        const char *v = p;
        p = scan_value(p, e);
        if (*p != '\r') return fail(req, 400, "invalid character in header field value");
        if (p[1] != '\n') return fail(req, 400, "bare CR in request head");
        const char *ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        p += 2;
        if (n == cap) return fail(req, 431, "too many header fields");
        req->headers[n].name = (kl_str_t){name, nlen};
        req->headers[n].value = (kl_str_t){v, (size_t)(ve - v)};
        n++;

        switch (nlen) {
        case 4:
            if (!lower_eq(name, "host", 4)) break;
            if (have_host) return fail(req, 400, "duplicate Host");
            have_host = true;
            for (const char *c = v; c < ve; c++)
                if (!IS(*c, T_HOST)) return fail(req, 400, "invalid Host");
            if (req->host.len == 0) req->host = (kl_str_t){v, (size_t)(ve - v)};
            break;
        case 6:
            if (!lower_eq(name, "expect", 6)) break;
            if (ve - v == 12 && lower_eq(v, "100-continue", 12))
                req->expect_continue = req->minor_version == 1; /* RFC 9110 10.1.1 */
            else
                expect_bad = true;
            break;
        case 10:
            if (lower_eq(name, "connection", 10)) scan_connection(v, ve, &conn_close, &conn_keep);
            break;
        case 13:
            /* Two credentials make it ambiguous whose request this is. */
            if (!lower_eq(name, "authorization", 13)) break;
            if (have_auth) return fail(req, 400, "duplicate Authorization");
            have_auth = true;
            break;
        case 14:
            if (!lower_eq(name, "content-length", 14)) break;
            if (have_cl) return fail(req, 400, "duplicate Content-Length");
            have_cl = true;
            if (v == ve) return fail(req, 400, "invalid Content-Length");
            for (const char *c = v; c < ve; c++) {
                unsigned d = (unsigned)(*c - '0');
                if (d > 9) return fail(req, 400, "invalid Content-Length");
                if (cl > (UINT64_MAX - d) / 10) return fail(req, 400, "Content-Length overflows");
                cl = cl * 10 + d;
            }
            break;
        case 17:
            if (!lower_eq(name, "transfer-encoding", 17)) break;
            if (have_te) return fail(req, 400, "duplicate Transfer-Encoding");
            have_te = true;
            te_status = check_te(v, ve);
            if (te_status == 400) return fail(req, 400, "Transfer-Encoding must end in a single chunked");
            break;
        default:
            break;
        }
    }
    req->num_headers = n;

    /* Framing decisions once every field is known (RFC 9112 6.1, 6.3). */
    if (req->minor_version == 1 && !have_host) return fail(req, 400, "missing Host");
    if (have_te) {
        if (req->minor_version == 0) return fail(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (have_cl) return fail(req, 400, "both Content-Length and Transfer-Encoding");
        if (te_status == 501) return fail(req, 501, "unsupported transfer coding");
        req->body = KL_HTTP1_BODY_CHUNKED;
    } else if (have_cl) {
        if (cl > max_body) return fail(req, 413, "body too large");
        req->content_length = cl;
        req->body = cl ? KL_HTTP1_BODY_LENGTH : KL_HTTP1_BODY_NONE;
    }
    if (expect_bad) return fail(req, 417, "unsupported expectation");
    req->keep_alive = req->minor_version == 1 ? !conn_close : conn_keep && !conn_close;
    return 0;
}

int kl_http1_parse_request(const char *buf, size_t len, size_t last_len,
                           const kl_http1_limits_t *limits, kl_http1_request_t *req) {
    if (!limits) limits = &kl_http1_default_limits;
    size_t max_head = limits->max_head < INT_MAX ? limits->max_head : INT_MAX;
    size_t skip = 0, end = 0;
    if (len == 0) return KL_HTTP1_INCOMPLETE;
    int r = find_head_end(buf, len, last_len, limits->max_request_line, max_head, &skip, &end, req);
    if (r != 0) return r;
    if (parse_head(buf, skip, end, limits->max_body, req) != 0) return KL_HTTP1_ERROR;
    return (int)end;
}

/* Chunked decoder states. The size-line states come first and the trailer states last, so
 * that line lengths are counted by comparing against CH_DATA and CH_TRAILER_START. */
enum {
    CH_SIZE = 0,         /* hex digits (none yet when _hex_digits == 0) */
    CH_SIZE_WS,          /* BWS after the size or an extension: only ';' may follow */
    CH_EXT_PRE_NAME,     /* after ';': BWS, then the extension name */
    CH_EXT_NAME,         /* in the name */
    CH_EXT_NAME_WS,      /* BWS after the name: '=' or ';' may follow */
    CH_EXT_PRE_VALUE,    /* after '=': BWS, then a token or a quoted-string */
    CH_EXT_TOKEN,        /* in a token value */
    CH_EXT_QUOTED,       /* in a quoted-string value */
    CH_EXT_QUOTED_PAIR,  /* after a backslash in a quoted-string */
    CH_EXT_AFTER_QUOTED, /* after the closing quote */
    CH_SIZE_LF,          /* CR ending the size line seen, LF needed */
    CH_DATA,             /* _chunk_left data bytes to go */
    CH_DATA_CR,          /* CRLF after the data */
    CH_DATA_LF,
    CH_TRAILER_START,    /* start of a trailer field line, or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,       /* CR ending a trailer line seen */
    CH_END_LF,           /* CR of the final CRLF seen */
    CH_DONE,
};

static unsigned hexval(unsigned char c) {
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

ssize_t kl_http1_decode_chunked(kl_http1_chunked_t *st, char *buf, size_t *len) {
    size_t n = *len, src = 0, dst = 0;
    int s = st->_state, status = 400;
    const char *msg = NULL;

    if (s == CH_DONE) {
        *len = 0;
        return (ssize_t)n;
    }
    if (s < 0) { /* an earlier call failed: status and error still say why */
        *len = 0;
        return KL_HTTP1_ERROR;
    }
    while (src < n) {
        if (s == CH_DATA) {
            /* dst <= src always: decoded bytes never overtake the input they came from */
            size_t take = n - src;
            if (st->_chunk_left < take) take = (size_t)st->_chunk_left;
            if (dst != src) memmove(buf + dst, buf + src, take);
            dst += take;
            src += take;
            st->_chunk_left -= take;
            st->total += take;
            if (st->_chunk_left == 0) s = CH_DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)buf[src++];
        if (s < CH_DATA) {
            if (++st->_line_len > KL_HTTP1_CHUNK_MAX_LINE) {
                msg = "chunk size line too long";
                goto fail;
            }
        } else if (s >= CH_TRAILER_START) {
            if (++st->_line_len > KL_HTTP1_CHUNK_MAX_LINE) {
                msg = "trailer field line too long";
                goto fail;
            }
            if (++st->_trailer_len > KL_HTTP1_CHUNK_MAX_TRAILER) {
                msg = "trailer section too large";
                goto fail;
            }
        }
        if (c == '\n' && s != CH_SIZE_LF && s != CH_DATA_LF && s != CH_TRAILER_LF && s != CH_END_LF) {
            msg = "bare LF in chunked body";
            goto fail;
        }
        switch (s) {
        case CH_SIZE:
            if (IS(c, T_HEX)) {
                if (st->_hex_digits == 16) {
                    msg = "chunk size too large";
                    goto fail;
                }
                st->_hex_digits++;
                st->_chunk_left = st->_chunk_left << 4 | hexval(c);
                break;
            }
            if (st->_hex_digits == 0) {
                msg = "invalid chunk size";
                goto fail;
            }
            if (c == '\r') s = CH_SIZE_LF;
            else if (c == ';') s = CH_EXT_PRE_NAME;
            else if (c == ' ' || c == '\t') s = CH_SIZE_WS;
            else {
                msg = "invalid chunk size";
                goto fail;
            }
            break;
        case CH_SIZE_WS:
            if (c == ';') s = CH_EXT_PRE_NAME;
            else if (c != ' ' && c != '\t') {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_PRE_NAME:
            if (IS(c, T_TOKEN)) s = CH_EXT_NAME;
            else if (c != ' ' && c != '\t') {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_NAME:
        case CH_EXT_NAME_WS:
            if (s == CH_EXT_NAME && IS(c, T_TOKEN)) break;
            if (c == '=') s = CH_EXT_PRE_VALUE;
            else if (c == ';') s = CH_EXT_PRE_NAME;
            else if (c == ' ' || c == '\t') s = CH_EXT_NAME_WS;
            else if (c == '\r' && s == CH_EXT_NAME) s = CH_SIZE_LF;
            else {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_PRE_VALUE:
            if (c == '"') s = CH_EXT_QUOTED;
            else if (IS(c, T_TOKEN)) s = CH_EXT_TOKEN;
            else if (c != ' ' && c != '\t') {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_TOKEN:
        case CH_EXT_AFTER_QUOTED:
            if (s == CH_EXT_TOKEN && IS(c, T_TOKEN)) break;
            if (c == ';') s = CH_EXT_PRE_NAME;
            else if (c == ' ' || c == '\t') s = CH_SIZE_WS;
            else if (c == '\r') s = CH_SIZE_LF;
            else {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_QUOTED:
            if (c == '"') s = CH_EXT_AFTER_QUOTED;
            else if (c == '\\') s = CH_EXT_QUOTED_PAIR;
            else if (!IS(c, T_QDTEXT)) {
                msg = "invalid chunk extension";
                goto fail;
            }
            break;
        case CH_EXT_QUOTED_PAIR:
            if (!IS(c, T_VALUE)) {
                msg = "invalid chunk extension";
                goto fail;
            }
            s = CH_EXT_QUOTED;
            break;
        case CH_SIZE_LF: {
            if (c != '\n') {
                msg = "bare CR in chunked body";
                goto fail;
            }
            uint64_t size = st->_chunk_left;
            if (size > st->max_body - st->total) { /* total <= max_body holds throughout */
                status = 413;
                msg = "body too large";
                goto fail;
            }
            /* Go net/http's bound on framing: 16 bytes per chunk plus twice its data are
             * free, beyond that at most 16 KiB, so extensions cannot dwarf the data. */
            uint64_t allow = 16 + (size > (UINT64_C(1) << 40) ? UINT64_C(1) << 41 : 2 * size);
            uint64_t ex = st->_excess + st->_line_len;
            st->_excess = ex > allow ? ex - allow : 0;
            if (st->_excess > 16384) {
                msg = "too much chunk framing";
                goto fail;
            }
            st->_line_len = 0;
            s = size ? CH_DATA : CH_TRAILER_START;
            break;
        }
        case CH_DATA_CR:
            if (c != '\r') {
                msg = "missing CRLF after chunk data";
                goto fail;
            }
            s = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n') {
                msg = "bare CR in chunked body";
                goto fail;
            }
            st->_hex_digits = 0;
            s = CH_SIZE;
            break;
        case CH_TRAILER_START:
            if (c == '\r') s = CH_END_LF;
            else if (IS(c, T_TOKEN)) s = CH_TRAILER_NAME;
            else {
                msg = c == ' ' || c == '\t' ? "obsolete line folding in trailer field"
                      : c == ':'            ? "empty trailer field name"
                                            : "invalid character in trailer field name";
                goto fail;
            }
            break;
        case CH_TRAILER_NAME:
            if (c == ':') s = CH_TRAILER_VALUE;
            else if (!IS(c, T_TOKEN)) {
                msg = c == ' ' || c == '\t' ? "whitespace before colon in trailer field"
                                            : "invalid character in trailer field name";
                goto fail;
            }
            break;
        case CH_TRAILER_VALUE:
            if (c == '\r') s = CH_TRAILER_LF;
            else if (!IS(c, T_VALUE)) {
                msg = "invalid character in trailer field value";
                goto fail;
            }
            break;
        case CH_TRAILER_LF:
            if (c != '\n') {
                msg = "bare CR in chunked body";
                goto fail;
            }
            st->_line_len = 0;
            s = CH_TRAILER_START;
            break;
        case CH_END_LF:
            if (c != '\n') {
                msg = "bare CR in chunked body";
                goto fail;
            }
            st->_state = CH_DONE;
            /* the next request's bytes go right after the decoded data */
            if (dst != src) memmove(buf + dst, buf + src, n - src);
            *len = dst;
            return (ssize_t)(n - src);
        default:
            msg = "chunked decoder state corrupted";
            goto fail;
        }
    }
    st->_state = s;
    *len = dst;
    return KL_HTTP1_INCOMPLETE;

fail:
    st->_state = -1; /* any further call fails too */
    st->status = status;
    st->error = msg;
    *len = dst;
    return KL_HTTP1_ERROR;
}

const char *kl_http1_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large"; /* RFC 9110 says "Content Too Large"; Node says this */
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 509: return "Bandwidth Limit Exceeded";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}
