/* test_ipaddr.c - address literals (against inet_pton), grouping, CIDR lists, and the client
 * behind trusted proxies: what a client may write into X-Forwarded-For or Forwarded and
 * what keel then counts it as. Every input sits at the end of a page followed by a
 * PROT_NONE page, so an over-read faults. */
#include <arpa/inet.h>
#include <errno.h>

#include "kt.h"
#include "proto/ipaddr.h"

static bool parse(const char *s, kl_ip_t *ip) {
    size_t n = strlen(s);
    char *g = kt_guard_copy(s, n);
    bool ok = kl_ip_parse(g, n, ip);
    kt_guard_free(g, n);
    return ok;
}

static kl_ip_t ip_of(const char *s) {
    kl_ip_t ip;
    if (!parse(s, &ip)) {
        fprintf(stderr, "  ip_of(%s) failed\n", s);
        kt_failed_checks_++;
        memset(&ip, 0, sizeof(ip));
    }
    return ip;
}

/* kl_ip_parse agrees with inet_pton, bytes included. */
static void check_like_inet_pton(const char *s) {
    uint8_t ref[16];
    bool want;
    if (inet_pton(AF_INET6, s, ref) == 1) {
        want = true;
    } else {
        uint8_t v4[4];
        want = inet_pton(AF_INET, s, v4) == 1;
        memset(ref, 0, 10);
        ref[10] = ref[11] = 0xff;
        memcpy(ref + 12, v4, 4);
    }
    kl_ip_t ip;
    bool got = parse(s, &ip);
    if (got != want || (got && memcmp(ip.b, ref, 16) != 0)) {
        fprintf(stderr, "  \"%s\": kl_ip_parse %d, inet_pton %d\n", s, got, want);
        kt_failed_checks_++;
    }
}

static void literals_match_inet_pton(void) {
    static const char *cases[] = {
        "0.0.0.0", "1.2.3.4", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04",
        "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "0x1.2.3.4", "1.2.3.4/8", "",
        "::", "::1", "1::", "1::2", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "1::2::3", ":1::2", "1::2:", ":::",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1::1.2.3.4:5", "12345::", "abcd:EF01::",
        "g::", "fe80::1%eth0", "[::1]", "::ffff:01.2.3.4", "2001:db8::", "1:2:3:4:5::1.2.3.4",
        "::1.2.3", "1:", ":", "1.2.3.4:80", "::ffff:256.1.1.1", "0:0:0:0:0:0:0:0", "::0:0",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) check_like_inet_pton(cases[i]);
}

static void v4_is_mapped_and_v6_groups_by_64(void) {
    kl_ip_t a = ip_of("1.2.3.4"), b = ip_of("::ffff:1.2.3.4"), g;
    KT_CHECK(memcmp(a.b, b.b, 16) == 0); /* a dual-stack listener's mapped peer is the IPv4 client */
    KT_CHECK(kl_ip_is_v4(&a));
    kl_ip_group(&a, &g);
    KT_CHECK(memcmp(g.b, a.b, 16) == 0); /* IPv4 alone, never all of IPv4 in one /64 */
    kl_ip_t c = ip_of("2001:db8:1:2:aaaa::1"), d = ip_of("2001:db8:1:2:ffff::9"), e = ip_of("2001:db8:1:3::1");
    kl_ip_t gc, gd, ge;
    KT_CHECK(!kl_ip_is_v4(&c));
    kl_ip_group(&c, &gc);
    kl_ip_group(&d, &gd);
    kl_ip_group(&e, &ge);
    KT_CHECK(memcmp(gc.b, gd.b, 16) == 0);
    KT_CHECK(memcmp(gc.b, ge.b, 16) != 0);
    kl_ip_t one = ip_of("::1"), g1;
    kl_ip_group(&one, &g1);
    kl_ip_t m = ip_of("::ffff:9.9.9.9"), gm;
    kl_ip_group(&m, &gm);
    KT_CHECK(memcmp(g1.b, gm.b, 16) != 0); /* ::/64 holds the mapped range; IPv4 stays apart */
}

static size_t list(const char *s, kl_cidr_t *out, size_t max, int *rc, char *bad) {
    size_t n = strlen(s), count = 99, bl = 0;
    const char *b = NULL;
    char *g = kt_guard_copy(s, n);
    *rc = kl_cidr_list_parse(g, n, out, max, &count, &b, &bl);
    if (*rc < 0) snprintf(bad, 64, "%.*s", (int)bl, b);
    kt_guard_free(g, n);
    return count;
}

static void cidr_lists(void) {
    kl_cidr_t c[8];
    int rc;
    char bad[64] = "";
    size_t n = list(" 10.0.0.0/8,192.168.1.7 ,, fd00::/8\t::1 0.0.0.0/0", c, 8, &rc, bad);
    KT_EQ(rc, 0);
    KT_EQ(n, 5);
    kl_ip_t in = ip_of("10.200.0.1"), out = ip_of("11.0.0.1"), host = ip_of("192.168.1.7");
    KT_CHECK(kl_cidr_match(c, 1, &in));
    KT_CHECK(!kl_cidr_match(c, 1, &out));
    KT_CHECK(kl_cidr_match(c + 1, 1, &host));
    kl_ip_t near = ip_of("192.168.1.8");
    KT_CHECK(!kl_cidr_match(c + 1, 1, &near));
    kl_ip_t v6 = ip_of("fdff::1"), v6out = ip_of("fe00::1");
    KT_CHECK(kl_cidr_match(c + 2, 1, &v6));
    KT_CHECK(!kl_cidr_match(c + 2, 1, &v6out));
    KT_CHECK(!kl_cidr_match(c + 2, 1, &in));
    KT_CHECK(kl_cidr_match(c + 4, 1, &out)); /* 0.0.0.0/0: every IPv4 address */
    KT_CHECK(!kl_cidr_match(c + 4, 1, &v6));
    KT_EQ(list("", c, 8, &rc, bad), 0);
    KT_EQ(rc, 0);
    KT_EQ(list(" , ", c, 8, &rc, bad), 0);
    /* ::/0 holds everything, IPv4 too (mapped) */
    list("::/0", c, 8, &rc, bad);
    KT_CHECK(rc == 0 && kl_cidr_match(c, 1, &in));
    /* counting only */
    KT_EQ(list("1.1.1.1 2.2.2.2 3.3.3.3", NULL, 0, &rc, bad), 3);
    KT_EQ(rc, 0);
    static const struct {
        const char *in, *bad;
    } errs[] = {
        {"10.0.0.1/8", "10.0.0.1/8"}, {"10.0.0.0/33", "10.0.0.0/33"}, {"10.0.0.0/", "10.0.0.0/"},
        {"1.1.1.1, banana", "banana"}, {"::1/129", "::1/129"}, {"10.0.0.0/08", "10.0.0.0/08"},
        {"fd00::1/8", "fd00::1/8"}, {"10.0.0.0/8/8", "10.0.0.0/8/8"}, {"1.2.3.4/-1", "1.2.3.4/-1"},
        {"/8", "/8"},
    };
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        list(errs[i].in, c, 8, &rc, bad);
        KT_EQ(rc, -EINVAL);
        if (strcmp(bad, errs[i].bad) != 0) {
            fprintf(stderr, "  %s: bad item \"%s\", want \"%s\"\n", errs[i].in, bad, errs[i].bad);
            kt_failed_checks_++;
        }
    }
    /* more items than room */
    list("1.1.1.1 2.2.2.2 3.3.3.3", c, 2, &rc, bad);
    KT_EQ(rc, -EINVAL);
    KT_CHECK(strcmp(bad, "3.3.3.3") == 0);
    /* "::ffff:10.0.0.0/104" is IPv6 text: its prefix counts over 128 bits */
    list("::ffff:10.0.0.0/104", c, 8, &rc, bad);
    KT_CHECK(rc == 0 && kl_cidr_match(c, 1, &in) && !kl_cidr_match(c, 1, &out));
}

/* The client for a header from peer, with the trusted list "10.0.0.0/8 fd00::/8". */
static void expect_client(const char *peer, kl_ip_fwd_t kind, const char *hdr, const char *want) {
    kl_cidr_t t[2];
    size_t n, bl;
    const char *b;
    static const char trusted[] = "10.0.0.0/8 fd00::/8";
    kl_cidr_list_parse(trusted, sizeof(trusted) - 1, t, 2, &n, &b, &bl);
    kl_ip_t p = ip_of(peer), got, w = ip_of(want);
    size_t hl = hdr ? strlen(hdr) : 0;
    char *g = hdr ? kt_guard_copy(hdr, hl) : NULL;
    kl_ip_client(&p, t, n, kind, g, hl, &got);
    if (g) kt_guard_free(g, hl);
    if (memcmp(got.b, w.b, 16) != 0) {
        char s[64];
        inet_ntop(AF_INET6, got.b, s, sizeof(s));
        fprintf(stderr, "  peer %s, %s \"%s\": got %s, want %s\n", peer, kind == KL_IP_FWD_XFF ? "XFF" : "Forwarded",
                hdr ? hdr : "(absent)", s, want);
        kt_failed_checks_++;
    }
}

static void x_forwarded_for(void) {
    const kl_ip_fwd_t x = KL_IP_FWD_XFF;
    /* an untrusted peer is the client, whatever it writes */
    expect_client("1.2.3.4", x, "9.9.9.9", "1.2.3.4");
    expect_client("1.2.3.4", x, "10.0.0.1", "1.2.3.4");
    /* a trusted peer: the right-most address that is not a trusted proxy */
    expect_client("10.0.0.1", x, "9.9.9.9", "9.9.9.9");
    expect_client("10.0.0.1", x, "6.6.6.6, 9.9.9.9", "9.9.9.9");           /* spoofed left part ignored */
    expect_client("10.0.0.1", x, "6.6.6.6, 9.9.9.9, 10.1.1.1", "9.9.9.9"); /* two proxies */
    expect_client("10.0.0.1", x, "10.2.2.2,10.1.1.1", "10.2.2.2");         /* all trusted: the left-most */
    expect_client("10.0.0.1", x, NULL, "10.0.0.1");                        /* no header: the proxy */
    expect_client("10.0.0.1", x, "", "10.0.0.1");
    /* a hop that is not an address ends the walk at the proxy that reported it */
    expect_client("10.0.0.1", x, "9.9.9.9, unknown", "10.0.0.1");
    expect_client("10.0.0.1", x, "9.9.9.9, garbage, 10.1.1.1", "10.1.1.1");
    expect_client("10.0.0.1", x, "9.9.9.9,,10.1.1.1", "10.1.1.1");
    expect_client("10.0.0.1", x, "1.2.3.4 5.6.7.8", "10.0.0.1");
    /* ports and IPv6 */
    expect_client("10.0.0.1", x, "9.9.9.9:4711", "9.9.9.9");
    expect_client("10.0.0.1", x, "2001:db8::7", "2001:db8::7");
    expect_client("10.0.0.1", x, "[2001:db8::7]:443", "2001:db8::7");
    expect_client("10.0.0.1", x, "[2001:db8::7]", "2001:db8::7");
    expect_client("10.0.0.1", x, " 9.9.9.9 ,\t10.3.3.3 ", "9.9.9.9");
    expect_client("fd00::5", x, "2001:db8::9", "2001:db8::9");
    expect_client("::ffff:10.0.0.1", x, "9.9.9.9", "9.9.9.9"); /* a mapped peer is the IPv4 proxy */
    expect_client("10.0.0.1", x, "9.9.9.9:99999", "10.0.0.1");
    expect_client("10.0.0.1", x, "[1.2.3.4]", "10.0.0.1");
    expect_client("10.0.0.1", x, "9.9.9.9:", "10.0.0.1");
}

static void forwarded(void) {
    const kl_ip_fwd_t f = KL_IP_FWD_FORWARDED;
    expect_client("1.2.3.4", f, "for=9.9.9.9", "1.2.3.4");
    expect_client("10.0.0.1", f, "for=9.9.9.9", "9.9.9.9");
    expect_client("10.0.0.1", f, "For=\"9.9.9.9:4711\";proto=https;by=10.0.0.1", "9.9.9.9");
    expect_client("10.0.0.1", f, "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17");
    expect_client("10.0.0.1", f, "for=9.9.9.9;proto=http, for=10.7.7.7", "9.9.9.9");
    /* a comma inside quotes belongs to its value: the element is unreadable, not two */
    expect_client("10.0.0.1", f, "for=9.9.9.9, for=\"6.6.6.6,7.7.7.7\"", "10.0.0.1");
    expect_client("10.0.0.1", f, "for=9.9.9.9, for=unknown", "10.0.0.1");
    expect_client("10.0.0.1", f, "for=9.9.9.9, for=_hidden, for=10.1.1.1", "10.1.1.1");
    expect_client("10.0.0.1", f, "for=9.9.9.9, proto=https", "10.0.0.1");     /* no for= */
    expect_client("10.0.0.1", f, "for=9.9.9.9, for=8.8.8.8;for=7.7.7.7", "10.0.0.1"); /* twice */
    expect_client("10.0.0.1", f, "for=2001:db8::1", "10.0.0.1"); /* IPv6 must be quoted and bracketed */
    expect_client("10.0.0.1", f, "for=\"2001:db8::1\"", "10.0.0.1");
    expect_client("10.0.0.1", f, "for=\"[2001:db8::1]\"", "2001:db8::1");
    expect_client("10.0.0.1", f, "for=\"9.9.9.9", "10.0.0.1");                   /* unterminated */
    expect_client("10.0.0.1", f, "for=\"9.9.9.9\\\"\"", "10.0.0.1");             /* 9.9.9.9" */
    expect_client("10.0.0.1", f, "for=\"9.9\\.9.9\"", "9.9.9.9");                 /* quoted-pair */
    expect_client("10.0.0.1", f, "for=9.9.9.9 junk", "10.0.0.1");
    expect_client("10.0.0.1", f, "=9.9.9.9", "10.0.0.1");
    expect_client("10.0.0.1", f, "for=10.9.9.9", "10.9.9.9");
    expect_client("10.0.0.1", f, "", "10.0.0.1");
    expect_client("10.0.0.1", f, "for=\"[2001:db8::1]:_abc\"", "2001:db8::1");
    expect_client("10.0.0.1", f, "for=\"[2001:db8::1]:_\"", "10.0.0.1");
    /* a value longer than any node */
    expect_client("10.0.0.1", f,
                  "for=\"[2001:db8::1]:11111111111111111111111111111111111111111111111111111111111111111\"",
                  "10.0.0.1");
}

int main(void) {
    KT_RUN(literals_match_inet_pton);
    KT_RUN(v4_is_mapped_and_v6_groups_by_64);
    KT_RUN(cidr_lists);
    KT_RUN(x_forwarded_for);
    KT_RUN(forwarded);
    return KT_DONE();
}
