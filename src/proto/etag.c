#include "proto/etag.h"

#include "proto/hash.h"

/* Changing this changes every ETag keel has ever sent: clients revalidate once, no harm,
 * but instances behind one balancer must agree on it. */
#define ETAG_SEED 0x6b65656c45546167ull /* "keelETag" */

uint64_t kl_etag_hash(const void *body, size_t len) { return kl_hash64(body, len, ETAG_SEED); }

size_t kl_etag_format(uint64_t h, bool gzip_variant, char out[KL_ETAG_MAX]) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    out[n++] = '"';
    for (int shift = 60; shift >= 0; shift -= 4) out[n++] = hex[(h >> shift) & 15];
    if (gzip_variant) {
        out[n++] = '-';
        out[n++] = 'g';
        out[n++] = 'z';
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

size_t kl_etag_make(const void *body, size_t len, bool gzip_variant, char out[KL_ETAG_MAX]) {
    return kl_etag_format(kl_etag_hash(body, len), gzip_variant, out);
}

/* etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3): visible ASCII except DQUOTE, or >= 0x80. */
static inline bool etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

static inline bool ows(char c) { return c == ' ' || c == '\t'; }

/* Strips a W/ prefix and checks the rest is one opaque-tag; returns the opaque-tag (quotes
 * included) or {NULL,0} when t is not an entity-tag. */
static kl_str_t opaque(kl_str_t t) {
    const char *p = t.base, *end = t.base + t.len;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2; /* weak = %s"W/": case-sensitive */
    if (end - p < 2 || p[0] != '"' || end[-1] != '"') return (kl_str_t){NULL, 0};
    for (const char *q = p + 1; q < end - 1; q++)
        if (!etagc((unsigned char)*q)) return (kl_str_t){NULL, 0};
    return (kl_str_t){p, (size_t)(end - p)};
}

bool kl_etag_match(kl_str_t inm, kl_str_t etag) {
    if (!inm.base || !etag.base) return false;
    kl_str_t mine = opaque(etag);
    const char *p = inm.base, *end = inm.base + inm.len;
    if (!mine.base) return false;
    while (p < end && ows(*p)) p++;
    while (end > p && ows(end[-1])) end--;
    if (end - p == 1 && *p == '*') return true;

    /* Validate the whole list before answering: a malformed list never matches. */
    bool matched = false;
    while (p < end) {
        while (p < end && ows(*p)) p++;
        if (p < end && *p == ',') { /* empty element */
            p++;
            continue;
        }
        if (p == end) break;
        /* one entity-tag: [W/] DQUOTE *etagc DQUOTE; the closing quote ends it. Weak
         * comparison: only the opaque-tags (from the opening quote) are compared. */
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
        if (p == end || *p != '"') return false;
        const char *theirs = p++;
        while (p < end && *p != '"') {
            if (!etagc((unsigned char)*p)) return false;
            p++;
        }
        if (p == end) return false; /* unterminated */
        p++;
        if ((size_t)(p - theirs) == mine.len && memcmp(theirs, mine.base, mine.len) == 0) matched = true;
        while (p < end && ows(*p)) p++;
        if (p < end) {
            if (*p != ',') return false; /* junk after a tag */
            p++;
        }
    }
    return matched;
}
