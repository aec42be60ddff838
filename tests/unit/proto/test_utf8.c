/* test_utf8.c - the UTF-8 and \uXXXX pieces shared by keel's JSON reader, JSON writer and
 * JWT parser (src/proto/utf8.c): every scalar value round-trips, every ill-formed sequence
 * of RFC 3629 is refused, and a sequence cut short is refused without reading past it. */
#include "kt.h"
#include "proto/utf8.h"

#include <stdbool.h>

static void test_every_scalar_value_round_trips(void) {
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        uint8_t b[4];
        size_t n = kl_utf8_put(b, cp);
        size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        uint32_t back = n == 1 ? b[0] : (uint32_t)(b[0] & (0x7f >> n));
        for (size_t i = 1; i < n; i++) back = back << 6 | (b[i] & 0x3f);
        if (n != want || back != cp || kl_utf8_len(b, n) != n) {
            fprintf(stderr, "  U+%04X: %zu bytes, decoded U+%04X, len %zu\n", cp, n, back, kl_utf8_len(b, n));
            kt_failed_checks_++;
            return;
        }
        /* cut short at a guard page: refused, nothing read past it (every length class's
         * ends, and a sample between, as a guard page costs two system calls) */
        bool edge = cp == 0x80 || cp == 0x7ff || cp == 0x800 || cp == 0xffff || cp == 0x10000 || cp == 0x10ffff;
        if (!edge && cp % 1009) continue;
        for (size_t cut = 1; cut < n; cut++) {
            char *g = kt_guard_copy((const char *)b, cut);
            KT_EQ(kl_utf8_len((const uint8_t *)g, cut), 0);
            kt_guard_free(g, cut);
        }
    }
}

static void test_ill_formed_sequences_are_refused(void) {
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x80", 1},                 /* a continuation byte alone */
        {"\xbf", 1},
        {"\xc0\x80", 2},             /* overlong U+0000 */
        {"\xc1\xbf", 2},             /* overlong U+007F */
        {"\xe0\x80\x80", 3},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3},         /* overlong U+07FF */
        {"\xed\xa0\x80", 3},         /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 3},         /* U+DFFF */
        {"\xf0\x80\x80\x80", 4},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4},     /* overlong U+FFFF */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4},     /* no such lead byte */
        {"\xff", 1},
        {"\xc3\x28", 2},             /* a second byte that does not continue */
        {"\xe2\x82\x28", 3},         /* a third byte that does not continue */
        {"\xf0\x9f\x98\x28", 4},     /* a fourth byte that does not continue */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t got = kl_utf8_len((const uint8_t *)bad[i].s, bad[i].n);
        if (got != 0) {
            fprintf(stderr, "  case %zu accepted as %zu bytes\n", i, got);
            kt_failed_checks_++;
        }
    }
    KT_EQ(kl_utf8_len((const uint8_t *)"\xed\x9f\xbf", 3), 3);      /* U+D7FF, just below the surrogates */
    KT_EQ(kl_utf8_len((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), 4);  /* U+10FFFF, the last */
}

static void test_hex4(void) {
    char s[8];
    for (uint32_t v = 0; v <= 0xffff; v++) {
        uint32_t got = ~0u;
        snprintf(s, sizeof(s), v & 1 ? "%04x" : "%04X", v);
        if (kl_utf8_hex4((const uint8_t *)s, &got) != 0 || got != v) {
            fprintf(stderr, "  %s read as %x\n", s, got);
            kt_failed_checks_++;
            return;
        }
    }
    static const char *const bad[] = {"12g4", " 123", "-123", "12:4", "00G0", "\0\0\0\0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t got = 7;
        KT_EQ(kl_utf8_hex4((const uint8_t *)bad[i], &got), -1);
        KT_EQ(got, 7); /* untouched on failure */
    }
}

int main(void) {
    KT_RUN(test_every_scalar_value_round_trips);
    KT_RUN(test_ill_formed_sequences_are_refused);
    KT_RUN(test_hex4);
    return KT_DONE();
}
