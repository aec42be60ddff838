/* ipaddr.c - see ipaddr.h. */
#include "proto/ipaddr.h"

#include <errno.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four decimal octets into out[0..4); inet_pton's rules (no leading zeros, no empty ones). */
static bool parse_v4(const char *s, size_t n, uint8_t out[4]) {
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (i == n || s[i] != '.') return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i])) {
            if (i > start && v == 0) return false; /* "01" */
            v = v * 10 + (unsigned)(s[i] - '0');
            if (v > 255) return false;
            i++;
        }
        if (i == start) return false;
        out[k] = (uint8_t)v;
    }
    return i == n;
}

static bool parse_v6(const char *s, size_t n, uint8_t out[16]) {
    uint8_t g[16];
    size_t ng = 0;          /* bytes of groups written to g */
    long gap = -1;          /* byte offset in g where "::" stands, or -1 */
    size_t i = 0;
    if (n >= 1 && s[0] == ':') {
        if (n < 2 || s[1] != ':') return false;
        gap = 0;
        i = 2;
        if (i == n) goto done; /* "::" */
    }
    for (;;) {
        size_t end = i;
        while (end < n && s[end] != ':') end++;
        if (end == i) return false; /* empty group (":::" or a trailing ':') */
        if (memchr(s + i, '.', end - i)) {
            /* an IPv4 tail: the last thing in the text, and it takes two groups */
            if (end != n || ng + 4 > 16 || !parse_v4(s + i, end - i, g + ng)) return false;
            ng += 4;
            break;
        }
        if (end - i > 4 || ng + 2 > 16) return false;
        unsigned v = 0;
        for (size_t k = i; k < end; k++) {
            int h = hex_value(s[k]);
            if (h < 0) return false;
            v = v << 4 | (unsigned)h;
        }
        g[ng++] = (uint8_t)(v >> 8);
        g[ng++] = (uint8_t)v;
        if (end == n) break;
        i = end + 1; /* past ':' */
        if (i < n && s[i] == ':') {
            if (gap >= 0) return false; /* a second "::" */
            gap = (long)ng;
            i++;
            if (i == n) break; /* "...::" */
        } else if (i == n) {
            return false; /* a trailing single ':' */
        }
    }
done:
    if (gap < 0) {
        if (ng != 16) return false;
        memcpy(out, g, 16);
        return true;
    }
    if (ng == 16) return false; /* "::" must stand for at least one group */
    size_t tail = ng - (size_t)gap;
    memset(out, 0, 16);
    memcpy(out, g, (size_t)gap);
    memcpy(out + 16 - tail, g + gap, tail);
    return true;
}

bool kl_ip_parse(const char *s, size_t n, kl_ip_t *out) {
    if (memchr(s, ':', n)) return parse_v6(s, n, out->b);
    memcpy(out->b, v4_mapped, 12);
    return parse_v4(s, n, out->b + 12);
}

bool kl_ip_is_v4(const kl_ip_t *ip) { return memcmp(ip->b, v4_mapped, 12) == 0; }

void kl_ip_group(const kl_ip_t *ip, kl_ip_t *out) {
    *out = *ip;
    if (!kl_ip_is_v4(ip)) memset(out->b + 8, 0, 8);
}

static bool in_net(const kl_cidr_t *c, const kl_ip_t *ip) {
    unsigned full = c->bits / 8u, rest = c->bits % 8u;
    if (memcmp(c->net.b, ip->b, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.b[full] & mask) == (ip->b[full] & mask);
}

bool kl_cidr_match(const kl_cidr_t *list, size_t n, const kl_ip_t *ip) {
    for (size_t i = 0; i < n; i++)
        if (in_net(&list[i], ip)) return true;
    return false;
}

static bool is_sep(char c) { return c == ',' || c == ' ' || c == '\t'; }

/* One list item: ADDRESS or ADDRESS/PREFIX. */
static bool parse_cidr(const char *s, size_t n, kl_cidr_t *out) {
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (!kl_ip_parse(s, alen, &out->net)) return false;
    bool v4 = kl_ip_is_v4(&out->net) && !memchr(s, ':', alen); /* "::ffff:1.2.3.4/n" is IPv6 text */
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *p = slash + 1;
        size_t plen = n - alen - 1;
        if (plen == 0 || plen > 3 || (plen > 1 && p[0] == '0')) return false;
        bits = 0;
        for (size_t k = 0; k < plen; k++) {
            if (!is_digit(p[k])) return false;
            bits = bits * 10 + (unsigned)(p[k] - '0');
        }
        if (bits > max) return false;
    }
    out->bits = (uint8_t)(v4 ? 96 + bits : bits);
    /* host bits must be zero: "10.0.0.1/8" is a mistake to point out, not to guess at */
    kl_cidr_t probe = *out;
    for (unsigned b = out->bits; b < 128; b++) probe.net.b[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
    return memcmp(probe.net.b, out->net.b, 16) == 0;
}

int kl_cidr_list_parse(const char *s, size_t n, kl_cidr_t *out, size_t max, size_t *count, const char **bad,
                       size_t *bad_len) {
    size_t i = 0, k = 0;
    *count = 0;
    while (i < n) {
        if (is_sep(s[i])) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < n && !is_sep(s[end])) end++;
        kl_cidr_t c;
        if (!parse_cidr(s + i, end - i, &c) || (out && k == max)) {
            *bad = s + i;
            *bad_len = end - i;
            return -EINVAL;
        }
        if (out) out[k] = c;
        k++;
        i = end;
    }
    *count = k;
    return 0;
}

/* ---- the hops of a proxy chain ------------------------------------------------------ */

/* A node as a proxy reports it: IPv4, IPv4:port, [IPv6], [IPv6]:port, or (bare_v6, for
 * X-Forwarded-For) bare IPv6. A port is 0..65535 or an obfuscated "_token" (RFC 7239
 * 6.3); it is checked, then dropped. */
static bool parse_node(const char *s, size_t n, bool bare_v6, kl_ip_t *out) {
    if (n == 0) return false;
    const char *a = s, *rest = s + n;
    size_t alen = n;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        a = s + 1;
        alen = (size_t)(close - a);
        rest = close + 1;
        if (!memchr(a, ':', alen)) return false; /* brackets hold IPv6 only */
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && !memchr(colon + 1, ':', (size_t)(s + n - colon - 1))) {
            alen = (size_t)(colon - s); /* one colon: IPv4:port (IPv6 has two or more) */
            rest = colon;
        } else if (colon && !bare_v6) {
            return false; /* Forwarded quotes IPv6 in brackets */
        }
    }
    size_t plen = (size_t)(s + n - rest);
    if (plen > 0) {
        if (plen < 2 || rest[0] != ':') return false;
        const char *p = rest + 1;
        plen--;
        if (p[0] == '_') {
            if (plen < 2) return false;
            for (size_t k = 1; k < plen; k++) {
                char c = p[k];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '_' ||
                      c == '-'))
                    return false;
            }
        } else {
            unsigned port = 0;
            if (plen > 5) return false;
            for (size_t k = 0; k < plen; k++) {
                if (!is_digit(p[k])) return false;
                port = port * 10 + (unsigned)(p[k] - '0');
            }
            if (port > 65535) return false;
        }
    }
    return alen > 0 && kl_ip_parse(a, alen, out);
}

/* The walk from the right as a fold from the left (so no hop needs to be stored): after the
 * hops h1..hj, the answer for an initial address X is either X itself (`identity`: the walk
 * from hj would end at X, or never got past an unreadable hop) or a fixed hop `c`. A new
 * hop h: unreadable -> identity (the walk stops there and answers the hop to its right);
 * not trusted -> h; trusted -> whatever the walk further left gives when started at h,
 * i.e. h when that is identity. The answer is the state applied to the peer. */
typedef struct {
    bool fixed;
    kl_ip_t c;
    const kl_cidr_t *trusted;
    size_t ntrusted;
} walk_t;

static void hop(walk_t *w, bool readable, const kl_ip_t *h) {
    if (!readable) {
        w->fixed = false;
    } else if (!kl_cidr_match(w->trusted, w->ntrusted, h)) {
        w->fixed = true;
        w->c = *h;
    } else if (!w->fixed) {
        w->fixed = true;
        w->c = *h;
    }
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void walk_xff(walk_t *w, const char *s, size_t n) {
    size_t i = 0;
    for (;;) {
        size_t end = i;
        while (end < n && s[end] != ',') end++;
        size_t a = i, b = end;
        while (a < b && is_ows(s[a])) a++;
        while (b > a && is_ows(s[b - 1])) b--;
        kl_ip_t ip;
        bool ok = parse_node(s + a, b - a, true, &ip);
        hop(w, ok, &ip);
        if (end == n) return;
        i = end + 1;
    }
}

/* Forwarded: elements separated by ',', pairs by ';', values tokens or quoted strings (a
 * ',' inside quotes belongs to the value). An element's hop is its one for= value. A
 * syntax error makes the rest of the field one unreadable hop. */
static void walk_forwarded(walk_t *w, const char *s, size_t n) {
    size_t i = 0;
    for (;;) {
        char node[64];
        size_t node_len = 0;
        int fors = 0;
        bool ok = true;
        for (;;) { /* the pairs of one element */
            while (i < n && is_ows(s[i])) i++;
            if (i == n || s[i] == ',') break;
            if (s[i] == ';') {
                i++;
                continue;
            }
            size_t k = i;
            while (i < n && is_tchar(s[i])) i++;
            size_t klen = i - k;
            if (klen == 0 || i == n || s[i] != '=') {
                hop(w, false, NULL);
                return; /* not a pair: nothing after this can be read */
            }
            bool is_for = klen == 3 && (s[k] | 0x20) == 'f' && (s[k + 1] | 0x20) == 'o' && (s[k + 2] | 0x20) == 'r';
            i++;
            char val[64];
            size_t vlen = 0;
            bool fits = true;
            if (i < n && s[i] == '"') {
                i++;
                bool closed = false;
                while (i < n) {
                    char c = s[i++];
                    if (c == '"') {
                        closed = true;
                        break;
                    }
                    if (c == '\\') {
                        if (i == n) break;
                        c = s[i++];
                    }
                    if (vlen < sizeof(val)) val[vlen++] = c;
                    else fits = false;
                }
                if (!closed) {
                    hop(w, false, NULL);
                    return;
                }
            } else {
                size_t v = i;
                while (i < n && is_tchar(s[i])) i++;
                if (i - v > sizeof(val)) fits = false;
                else memcpy(val, s + v, vlen = i - v);
            }
            while (i < n && is_ows(s[i])) i++;
            if (i < n && s[i] != ';' && s[i] != ',') {
                hop(w, false, NULL);
                return;
            }
            if (is_for) {
                fors++;
                if (fits) memcpy(node, val, node_len = vlen);
                else ok = false;
            }
        }
        kl_ip_t ip;
        ok = ok && fors == 1 && parse_node(node, node_len, false, &ip);
        hop(w, ok, &ip);
        if (i == n) return;
        i++; /* past ',' */
    }
}

void kl_ip_client(const kl_ip_t *peer, const kl_cidr_t *trusted, size_t ntrusted, kl_ip_fwd_t kind,
                  const char *hdr, size_t hdr_len, kl_ip_t *out) {
    *out = *peer;
    if (hdr == NULL || !kl_cidr_match(trusted, ntrusted, peer)) return;
    walk_t w = {.fixed = false, .trusted = trusted, .ntrusted = ntrusted};
    if (kind == KL_IP_FWD_FORWARDED) walk_forwarded(&w, hdr, hdr_len);
    else walk_xff(&w, hdr, hdr_len);
    if (w.fixed) *out = w.c;
}
