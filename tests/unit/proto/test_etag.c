#include "proto/etag.h"

#include "kt.h"
#include "proto/hash.h"

/* If-None-Match value from a C string, placed against a PROT_NONE page. */
static bool inm(const char *value, const char *etag) {
    size_t n = strlen(value);
    char *g = kt_guard_copy(value, n);
    size_t en = strlen(etag);
    char *ge = kt_guard_copy(etag, en);
    bool r = kl_etag_match((kl_str_t){g, n}, (kl_str_t){ge, en});
    kt_guard_free(ge, en);
    kt_guard_free(g, n);
    return r;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static void etag_shape(void) {
    char id[KL_ETAG_MAX], gz[KL_ETAG_MAX];
    const char *body = "{\"id\":1,\"title\":\"fix the roof\"}";
    size_t n = kl_etag_make(body, strlen(body), false, id);
    size_t m = kl_etag_make(body, strlen(body), true, gz);
    KT_EQ(n, 18);
    KT_EQ(m, 21);
    KT_EQ(strlen(id), n);
    KT_EQ(strlen(gz), m);
    KT_CHECK(id[0] == '"' && id[17] == '"');
    for (int i = 1; i <= 16; i++) KT_CHECK(is_hex(id[i]));
    /* same digits, different representation */
    KT_CHECK(strcmp(id, gz) != 0);
    KT_CHECK(memcmp(id, gz, 17) == 0);
    KT_CHECK(strcmp(gz + 17, "-gz\"") == 0);
    /* deterministic across calls (and processes: the seed is fixed) */
    char again[KL_ETAG_MAX];
    kl_etag_make(body, strlen(body), false, again);
    KT_CHECK(strcmp(id, again) == 0);
    /* one byte changes the tag */
    char other[KL_ETAG_MAX];
    kl_etag_make("{\"id\":2,\"title\":\"fix the roof\"}", strlen(body), false, other);
    KT_CHECK(strcmp(id, other) != 0);
    kl_etag_make("", 0, false, other);
    KT_EQ(strlen(other), 18);
    /* format and make agree */
    char f[KL_ETAG_MAX];
    kl_etag_format(kl_etag_hash(body, strlen(body)), true, f);
    KT_CHECK(strcmp(f, gz) == 0);
    kl_etag_format(0x0123456789abcdefull, false, f);
    KT_CHECK(strcmp(f, "\"0123456789abcdef\"") == 0);
}

static void hash_quality(void) {
    /* every length 0..200 hashes differently and is sensitive to every byte: a flipped
     * bit anywhere changes the result (reads beyond n would show up under ASan/guard) */
    static unsigned char buf[256];
    for (int i = 0; i < 256; i++) buf[i] = (unsigned char)(i * 37 + 11);
    int same = 0;
    for (size_t n = 0; n <= 200; n++) {
        char *g = kt_guard_copy(buf, n);
        uint64_t h = kl_hash64(g, n, 7);
        for (size_t i = 0; i < n; i++) {
            g[i] ^= 0x10;
            if (kl_hash64(g, n, 7) == h) same++;
            g[i] ^= 0x10;
        }
        if (n && kl_hash64(g, n - 1, 7) == h) same++;
        if (kl_hash64(g, n, 8) == h) same++;
        kt_guard_free(g, n);
    }
    KT_EQ(same, 0);
    KT_CHECK(kl_hash64(NULL, 0, 1) != kl_hash64(NULL, 0, 2));
    /* low bits spread: 4096 sequential keys into 256 buckets, none badly overloaded */
    int buckets[256] = {0}, worst = 0;
    char key[32];
    for (int i = 0; i < 4096; i++) {
        int n = snprintf(key, sizeof key, "GET /api/bounties/%d", i);
        int b = (int)(kl_hash64(key, (size_t)n, 0) & 255);
        if (++buckets[b] > worst) worst = buckets[b];
    }
    KT_CHECK(worst < 40); /* mean 16 */
}

#define ET "\"0123456789abcdef\""
#define ETGZ "\"0123456789abcdef-gz\""

static void matches_lists(void) {
    KT_CHECK(inm(ET, ET));
    KT_CHECK(inm("\"aaa\", " ET, ET));
    KT_CHECK(inm("\"aaa\"," ET ",\"bbb\"", ET));
    KT_CHECK(inm(" \t" ET " \t", ET));
    KT_CHECK(inm("\"aaa\" ,\t" ET, ET));
    KT_CHECK(!inm("\"aaa\", \"bbb\"", ET));
    KT_CHECK(!inm("\"0123456789abcdee\"", ET));
    /* the gzip representation has its own tag */
    KT_CHECK(!inm(ET, ETGZ));
    KT_CHECK(!inm(ETGZ, ET));
    KT_CHECK(inm(ETGZ, ETGZ));
    KT_CHECK(inm(ET ", " ETGZ, ETGZ));
    /* empty list elements are allowed (RFC 9110 5.6.1) */
    KT_CHECK(inm(", ," ET ",", ET));
    KT_CHECK(inm(",,," ET, ET));
    /* an opaque-tag may hold a comma and obs-text */
    KT_CHECK(inm("\"a,b\", " ET, ET));
    KT_CHECK(inm("\"\xe2\x82\xac\", " ET, ET));
    KT_CHECK(inm("\"\"", "\"\""));
}

static void weak_comparison(void) {
    KT_CHECK(inm("W/" ET, ET));
    KT_CHECK(inm("\"x\", W/" ET, ET));
    KT_CHECK(inm(ET, "W/" ET));
    KT_CHECK(inm("W/" ET, "W/" ET));
    KT_CHECK(!inm("W/" ETGZ, ET));
    /* W/ is case-sensitive: w/ is malformed */
    KT_CHECK(!inm("w/" ET, ET));
    KT_CHECK(!inm("W /" ET, ET));
    KT_CHECK(!inm("W/ " ET, ET));
}

static void star(void) {
    KT_CHECK(inm("*", ET));
    KT_CHECK(inm(" * ", ETGZ));
    KT_CHECK(!inm("*, " ET, "\"other\"")); /* "*" only alone */
    KT_CHECK(!inm("**", ET));
    KT_CHECK(!inm("\"*\"", ET));
}

static void malformed_never_match(void) {
    const char *bad[] = {
        "",
        " ",
        "0123456789abcdef",             /* unquoted */
        ET " junk",                     /* junk after a tag */
        ET " " ET,                      /* missing comma */
        "\"0123456789abcdef",           /* unterminated */
        "\"",
        "W/",
        "W",
        "W/\"",
        "\"x\"y, " ET,                  /* junk glued to a tag */
        "\"a\x01\", " ET,               /* control byte in a tag */
        "\"a b\", " ET,                 /* space is not etagc */
        "\"a\x7f\", " ET,
        ET ", \"unterminated",          /* malformed after a match still fails */
        ET ", ;",
        "\"\\\"\", " ET,                /* backslash is no escape: "\" then junk */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool r = inm(bad[i], ET);
        if (r) fprintf(stderr, "  matched malformed #%zu: %s\n", i, bad[i]);
        KT_CHECK(!r);
    }
    /* NULs and high bytes, every prefix of a valid list, straight against the guard page */
    const char *v = "W/\"ab\", \"0123456789abcdef\" , \"cd\"";
    for (size_t n = 0; n <= strlen(v); n++) {
        char *g = kt_guard_copy(v, n);
        (void)kl_etag_match((kl_str_t){g, n}, KL_STR(ET));
        kt_guard_free(g, n);
    }
    KT_CHECK(!kl_etag_match((kl_str_t){"\"a\0\"", 4}, KL_STR("\"a\0\"")));
    KT_CHECK(!kl_etag_match((kl_str_t){NULL, 0}, KL_STR(ET)));
    /* our own tag malformed: nothing matches it */
    KT_CHECK(!inm("\"abc\"", "abc"));
}

int main(void) {
    KT_RUN(etag_shape);
    KT_RUN(hash_quality);
    KT_RUN(matches_lists);
    KT_RUN(weak_comparison);
    KT_RUN(star);
    KT_RUN(malformed_never_match);
    return KT_DONE();
}
