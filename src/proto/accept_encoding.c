#include "proto/accept_encoding.h"

#include <stdint.h>

static inline bool ows(char c) { return c == ' ' || c == '\t'; }

/* tchar (RFC 9110 5.6.2) */
static inline bool tchar(unsigned char c) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    if (c >= '0' && c <= '9') return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 when malformed. */
static int qvalue(const char *p, const char *end) {
    if (p == end || (*p != '0' && *p != '1')) return -1;
    int whole = *p++ - '0', frac = 0, digits = 0;
    if (p < end) {
        if (*p++ != '.') return -1;
        for (; p < end; p++, digits++) {
            if (digits == 3 || *p < '0' || *p > '9') return -1;
            frac = frac * 10 + (*p - '0');
        }
    }
    for (int d = digits; d < 3; d++) frac *= 10;
    if (whole == 1 && frac != 0) return -1;
    return whole * 1000 + frac;
}

/* Parses one list element [p,end) (no commas inside); on success sets the coding and its
 * weight in thousandths and returns true. */
static bool element(const char *p, const char *end, kl_str_t *coding, int *q) {
    while (p < end && ows(*p)) p++;
    while (end > p && ows(end[-1])) end--;
    const char *c = p;
    while (p < end && tchar((unsigned char)*p)) p++;
    if (p == c) return false;
    *coding = (kl_str_t){c, (size_t)(p - c)};
    *q = 1000;
    while (p < end && ows(*p)) p++;
    if (p == end) return true;
    if (*p++ != ';') return false;
    while (p < end && ows(*p)) p++;
    if (end - p < 2 || (p[0] | 0x20) != 'q' || p[1] != '=') return false;
    *q = qvalue(p + 2, end);
    return *q >= 0;
}

/* A coding listed twice keeps its lowest weight: the cautious reading. */
static inline void keep_lowest(int *slot, int q) {
    if (*slot < 0 || q < *slot) *slot = q;
}

bool kl_accept_gzip(kl_str_t v) {
    if (!v.base) return false;
    int gz = -1, id = -1, star = -1; /* -1: not listed */
    const char *p = v.base, *end = v.base + v.len;
    while (p < end) {
        /* An element ends at a comma outside a quoted-string: no valid element holds a
         * quote, but skipping quoted commas keeps `x;p="a,gzip"` from smuggling one in. */
        const char *s = p;
        bool quoted = false;
        for (; p < end; p++) {
            if (quoted) {
                if (*p == '\\' && p + 1 < end) p++;
                else if (*p == '"') quoted = false;
            } else if (*p == '"') {
                quoted = true;
            } else if (*p == ',') {
                break;
            }
        }
        kl_str_t coding;
        int q;
        if (element(s, p, &coding, &q)) {
            if (kl_str_ieq(coding, "gzip") || kl_str_ieq(coding, "x-gzip")) keep_lowest(&gz, q);
            else if (kl_str_ieq(coding, "identity")) keep_lowest(&id, q);
            else if (kl_str_eq(coding, "*")) keep_lowest(&star, q);
        }
        if (p < end) p++; /* the comma */
    }
    if (gz < 0) gz = star < 0 ? 0 : star;
    if (id < 0) id = star < 0 ? 0 : star;
    return gz > 0 && gz >= id;
}
