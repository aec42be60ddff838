/* ipaddr.c - libFuzzer driver for src/proto/ipaddr.c: address literals, CIDR lists
 * (KEEL_TRUSTED_PROXIES) and the client behind trusted proxies (X-Forwarded-For and
 * Forwarded, which a client writes).
 *
 * Input: byte 0 picks where the rest is split for the prefix check below; the rest is fed to
 * every function. Checked with abort():
 * - kl_ip_parse accepts exactly what inet_pton (AF_INET6, else AF_INET as ::ffff:a.b.c.d)
 *   accepts, with the same 16 bytes;
 * - kl_cidr_list_parse: a list that parses gives the same count when only counted, every
 *   network has bits <= 128 (>= 96 for IPv4 text) and no host bits, and holds its own
 *   address; a failure names an item inside the input;
 * - kl_ip_client, for both headers, equals a reference written here the direct way (split
 *   the header into hops, keep them in an array, walk them from the right), whose hop
 *   parser is built on inet_pton; from an untrusted peer it is always the peer;
 * - no spoofing: when the X-Forwarded-For answer is an untrusted hop of the header, putting
 *   anything (the input's first part) plus "," in front of the header changes nothing. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ipaddr.h"

static const char trusted_text[] = "10.0.0.0/8 fd00::/8 192.0.2.1";
static kl_cidr_t trusted[3];
static size_t ntrusted;

/* ---- reference ---------------------------------------------------------------------- */

static bool ref_literal(const char *s, size_t n, uint8_t out[16]) {
    char buf[128];
    if (n >= sizeof(buf) || memchr(s, '\0', n)) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, out) == 1) return true;
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    return inet_pton(AF_INET, buf, out + 12) == 1;
}

static bool ref_port(const char *p, size_t n) {
    if (n == 0) return false;
    if (p[0] == '_') {
        if (n < 2) return false;
        for (size_t i = 1; i < n; i++)
            if (!(((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
                  p[i] == '_' || p[i] == '-'))
                return false;
        return true;
    }
    if (n > 5) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 65535;
}

static bool ref_node(const char *s, size_t n, bool bare_v6, uint8_t out[16]) {
    if (n == 0) return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        size_t alen = (size_t)(close - s) - 1, rest = n - alen - 2;
        char buf[128];
        if (alen >= sizeof(buf) || memchr(s + 1, '\0', alen)) return false;
        memcpy(buf, s + 1, alen);
        buf[alen] = '\0';
        if (inet_pton(AF_INET6, buf, out) != 1) return false;
        if (rest == 0) return true;
        return close[1] == ':' && ref_port(close + 2, rest - 1);
    }
    size_t colons = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':' && colons++ == 0) first = i;
    if (colons == 0) return ref_literal(s, n, out) && !memchr(s, ':', n);
    if (colons == 1) return ref_literal(s, first, out) && ref_port(s + first + 1, n - first - 1);
    return bare_v6 && ref_literal(s, n, out);
}

typedef struct {
    bool ok;
    uint8_t ip[16];
} ref_hop_t;

static bool trusted_ref(const uint8_t ip[16]) {
    kl_ip_t x;
    memcpy(x.b, ip, 16);
    for (size_t i = 0; i < ntrusted; i++) {
        unsigned bits = trusted[i].bits;
        bool in = true;
        for (unsigned b = 0; b < bits && in; b++)
            in = ((x.b[b / 8] ^ trusted[i].net.b[b / 8]) & (0x80u >> (b % 8))) == 0;
        if (in) return true;
    }
    return false;
}

static void ref_walk(const ref_hop_t *h, size_t n, const uint8_t peer[16], uint8_t out[16]) {
    memcpy(out, peer, 16);
    for (size_t i = n; i-- > 0;) {
        if (!h[i].ok) return;
        memcpy(out, h[i].ip, 16);
        if (!trusted_ref(h[i].ip)) return;
    }
}

static size_t ref_xff(const char *s, size_t n, ref_hop_t *h) {
    size_t k = 0, i = 0;
    for (;;) {
        size_t e = i;
        while (e < n && s[e] != ',') e++;
        size_t a = i, b = e;
        while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
        h[k].ok = ref_node(s + a, b - a, true, h[k].ip);
        k++;
        if (e == n) return k;
        i = e + 1;
    }
}

static bool tchar(char c) {
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Forwarded, the long way: collect every element's pairs (names and unescaped values),
 * then decide each element. A syntax error: one unreadable element, and stop. */
static size_t ref_forwarded(const char *s, size_t n, ref_hop_t *h) {
    size_t k = 0, i = 0;
    char *val = malloc(n + 1), *forv = malloc(n + 1);
    for (;;) {
        int fors = 0;
        size_t forlen = 0;
        bool broken = false;
        for (;;) {
            while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i == n || s[i] == ',') break;
            if (s[i] == ';') {
                i++;
                continue;
            }
            size_t name = i;
            while (i < n && tchar(s[i])) i++;
            size_t nlen = i - name;
            if (nlen == 0 || i == n || s[i] != '=') {
                broken = true;
                break;
            }
            i++;
            size_t vlen = 0;
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
                    val[vlen++] = c;
                }
                if (!closed) {
                    broken = true;
                    break;
                }
            } else {
                while (i < n && tchar(s[i])) val[vlen++] = s[i++];
            }
            while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i < n && s[i] != ';' && s[i] != ',') {
                broken = true;
                break;
            }
            if (nlen == 3 && strncasecmp(s + name, "for", 3) == 0) {
                fors++;
                memcpy(forv, val, forlen = vlen);
            }
        }
        if (broken) {
            h[k++].ok = false;
            break;
        }
        h[k].ok = fors == 1 && forlen <= 64 && ref_node(forv, forlen, false, h[k].ip);
        k++;
        if (i == n) break;
        i++;
    }
    free(val);
    free(forv);
    return k;
}

/* ---- checks ------------------------------------------------------------------------- */

static void check_client(const char *s, size_t n, kl_ip_fwd_t kind, const kl_ip_t *peer, kl_ip_t *got) {
    ref_hop_t *h = malloc(sizeof(*h) * (n + 2));
    size_t k = kind == KL_IP_FWD_XFF ? ref_xff(s, n, h) : ref_forwarded(s, n, h);
    uint8_t want[16];
    if (trusted_ref(peer->b)) ref_walk(h, k, peer->b, want);
    else memcpy(want, peer->b, 16);
    kl_ip_client(peer, trusted, ntrusted, kind, s, n, got);
    if (memcmp(got->b, want, 16) != 0) abort();
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ntrusted == 0) {
        const char *bad;
        size_t bl;
        if (kl_cidr_list_parse(trusted_text, sizeof(trusted_text) - 1, trusted, 3, &ntrusted, &bad, &bl) != 0)
            abort();
    }
    if (size == 0) return 0;
    uint8_t split = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    /* literals */
    kl_ip_t ip;
    uint8_t ref[16];
    bool got = kl_ip_parse(s, n, &ip), want = ref_literal(s, n, ref);
    if (got != want || (got && memcmp(ip.b, ref, 16) != 0)) abort();
    if (got) {
        kl_ip_t g;
        kl_ip_group(&ip, &g);
        if (kl_ip_is_v4(&ip) ? memcmp(g.b, ip.b, 16) != 0 : (memcmp(g.b, ip.b, 8) != 0 || g.b[8] || g.b[15]))
            abort();
    }

    /* CIDR lists */
    size_t count = 0, count2 = 0, bl = 0;
    const char *bad = NULL;
    kl_cidr_t *list = malloc(sizeof(*list) * (n / 2 + 2));
    int rc = kl_cidr_list_parse(s, n, list, n / 2 + 2, &count, &bad, &bl);
    if (rc == 0) {
        if (kl_cidr_list_parse(s, n, NULL, 0, &count2, &bad, &bl) != 0 || count2 != count) abort();
        for (size_t i = 0; i < count; i++) {
            if (list[i].bits > 128) abort();
            if (!kl_cidr_match(&list[i], 1, &list[i].net)) abort();
            for (unsigned b = list[i].bits; b < 128; b++)
                if (list[i].net.b[b / 8] & (0x80u >> (b % 8))) abort();
        }
    } else if (bad < s || bad + bl > s + n || bl == 0) {
        abort();
    }
    free(list);

    /* the client behind proxies */
    kl_ip_t proxy, stranger, client;
    kl_ip_parse("10.0.0.1", 8, &proxy);
    kl_ip_parse("2001:db8::77", 12, &stranger);
    check_client(s, n, KL_IP_FWD_XFF, &stranger, &client);
    if (memcmp(client.b, stranger.b, 16) != 0) abort();
    check_client(s, n, KL_IP_FWD_FORWARDED, &stranger, &client);
    if (memcmp(client.b, stranger.b, 16) != 0) abort();
    check_client(s, n, KL_IP_FWD_FORWARDED, &proxy, &client);
    check_client(s, n, KL_IP_FWD_XFF, &proxy, &client);

    /* no spoofing past an untrusted hop: prefix + "," + header gives the same client */
    size_t cut = n * split / 256;
    const char *hdr = s + cut;
    size_t hl = n - cut;
    kl_ip_t c1, c2;
    kl_ip_client(&proxy, trusted, ntrusted, KL_IP_FWD_XFF, hdr, hl, &c1);
    if (!kl_cidr_match(trusted, ntrusted, &c1)) {
        char *joined = malloc(n + 2);
        memcpy(joined, s, cut);
        joined[cut] = ',';
        memcpy(joined + cut + 1, hdr, hl);
        kl_ip_client(&proxy, trusted, ntrusted, KL_IP_FWD_XFF, joined, n + 1, &c2);
        if (memcmp(c1.b, c2.b, 16) != 0) abort();
        free(joined);
    }
    return 0;
}
