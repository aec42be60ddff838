/* test_sha256.c - SHA-256 against the FIPS 180-4 / NIST examples and block-boundary
 * lengths (digests from Python's hashlib), the incremental API split at every point,
 * and HMAC-SHA256 against RFC 4231 test cases 1-7. */
#include "proto/sha256.h"
#include "kt.h"

static void hex(const uint8_t *d, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

/* One-shot digest of msg[0..len), placed so that an over-read faults. */
static void sha_hex(const void *msg, size_t len, char out[65]) {
    uint8_t d[32];
    char *g = kt_guard_copy(msg, len);
    kl_sha256(g, len, d);
    kt_guard_free(g, len);
    hex(d, 32, out);
}

static void nist_vectors(void) {
    char h[65];
    sha_hex("", 0, h);
    KT_STREQ(h, 64, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, h);
    KT_STREQ(h, 64, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m448, strlen(m448), h);
    KT_STREQ(h, 64, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                       "klmnopqrlmnopqrsmnopqrstnopqrstu";
    KT_EQ(strlen(m896), 112);
    sha_hex(m896, strlen(m896), h);
    KT_STREQ(h, 64, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void million_a_incremental(void) {
    /* 1,000,000 'a' fed in uneven pieces, so the partial-block path runs across boundaries */
    char chunk[1024]; /* > the largest step below */
    memset(chunk, 'a', sizeof chunk);
    kl_sha256_t ctx;
    kl_sha256_init(&ctx);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t n = step;
        if (n > 1000000 - done) n = 1000000 - done;
        kl_sha256_update(&ctx, chunk, n);
        done += n;
        step = step % 997 + 13;
    }
    uint8_t d[32];
    char h[65];
    kl_sha256_final(&ctx, d);
    hex(d, 32, h);
    KT_STREQ(h, 64, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void padding_boundaries(void) {
    /* 55 is the longest message whose length fits the first block; 56..63 need a second */
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[128], h[65];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha_hex(a, v[i].n, h);
        KT_STREQ(h, 64, v[i].hex);
    }
}

static void incremental_matches_oneshot(void) {
    uint8_t msg[300], want[32], got[32];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof msg; len += 1 + len / 16) {
        kl_sha256(msg, len, want);
        for (size_t cut = 0; cut <= len; cut++) {
            kl_sha256_t ctx;
            kl_sha256_init(&ctx);
            kl_sha256_update(&ctx, msg, cut);
            kl_sha256_update(&ctx, NULL, 0);
            kl_sha256_update(&ctx, msg + cut, len - cut);
            kl_sha256_final(&ctx, got);
            if (memcmp(want, got, 32) != 0) {
                fprintf(stderr, "  len %zu cut %zu differs\n", len, cut);
                KT_CHECK(0);
                return;
            }
        }
    }
}

static void hmac_hex(const void *key, size_t klen, const void *msg, size_t mlen, char out[65]) {
    uint8_t d[32];
    char *gk = kt_guard_copy(key, klen), *gm = kt_guard_copy(msg, mlen);
    kl_hmac_sha256(gk, klen, gm, mlen, d);
    kt_guard_free(gk, klen);
    kt_guard_free(gm, mlen);
    hex(d, 32, out);
}

static void rfc4231(void) {
    uint8_t k[131], m[50];
    char h[65];

    memset(k, 0x0b, 20); /* 1 */
    hmac_hex(k, 20, "Hi There", 8, h);
    KT_STREQ(h, 64, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, h); /* 2 */
    KT_STREQ(h, 64, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(k, 0xaa, 20); /* 3 */
    memset(m, 0xdd, 50);
    hmac_hex(k, 20, m, 50, h);
    KT_STREQ(h, 64, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    for (int i = 0; i < 25; i++) k[i] = (uint8_t)(i + 1); /* 4 */
    memset(m, 0xcd, 50);
    hmac_hex(k, 25, m, 50, h);
    KT_STREQ(h, 64, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    memset(k, 0x0c, 20); /* 5: the RFC gives the first 128 bits */
    hmac_hex(k, 20, "Test With Truncation", 20, h);
    KT_STREQ(h, 32, "a3b6167473100ee06e0c796c2955552b");

    memset(k, 0xaa, 131); /* 6: key longer than a block */
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_hex(k, 131, m6, strlen(m6), h);
    KT_STREQ(h, 64, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    const char *m7 = "This is a test using a larger than block-size key and a larger than block-size data. "
                     "The key needs to be hashed before being used by the HMAC algorithm."; /* 7 */
    hmac_hex(k, 131, m7, strlen(m7), h);
    KT_STREQ(h, 64, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void hmac_key_lengths(void) {
    /* a 64-byte key is used as is, a 65-byte one is hashed first */
    uint8_t k[65], a[32], b[32];
    memset(k, 0x42, sizeof k);
    kl_hmac_sha256(k, 64, "x", 1, a);
    kl_hmac_sha256(k, 65, "x", 1, b);
    KT_CHECK(memcmp(a, b, 32) != 0);
    /* a key shorter than a block is zero-padded: "k" and "k\0" give the same MAC */
    kl_hmac_sha256("k\0", 1, "x", 1, a);
    kl_hmac_sha256("k\0", 2, "x", 1, b);
    KT_CHECK(memcmp(a, b, 32) == 0);
    /* and a key longer than a block equals its digest used as the key */
    uint8_t dk[32];
    kl_sha256(k, 65, dk);
    kl_hmac_sha256(dk, 32, "x", 1, a);
    kl_hmac_sha256(k, 65, "x", 1, b);
    KT_CHECK(memcmp(a, b, 32) == 0);
}

int main(void) {
    KT_RUN(nist_vectors);
    KT_RUN(million_a_incremental);
    KT_RUN(padding_boundaries);
    KT_RUN(incremental_matches_oneshot);
    KT_RUN(rfc4231);
    KT_RUN(hmac_key_lengths);
    return KT_DONE();
}
