/* hash.c - the wyhash construction (Wang Yi, public domain) written out for keel: the
 * input is read as 64-bit words, each pair of words is XORed with a constant and
 * multiplied 64x64->128, and the two halves of the product are XORed together. Inputs
 * up to 16 bytes need one multiply plus the finish; longer ones take 16 or 48 bytes per
 * round (three independent lanes, so the multiplies overlap in the pipeline). */
#include "proto/hash.h"

/* Odd 64-bit constants with 32 set bits each (wyhash's default secret). */
#define P0 0xa0761d6478bd642full
#define P1 0xe7037ed1a0b428dbull
#define P2 0x8ebc6af09c88c6e3ull
#define P3 0x589965cc75374cc3ull

static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Little-endian loads byte by byte: compilers fuse these into one mov on x86/arm64, and
 * the hash (hence every ETag) is the same on big-endian hosts. */
static inline uint64_t rd64(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t rd32(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

uint64_t kl_hash64(const void *data, size_t n, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t a, b;
    seed ^= mix(seed ^ P0, P1);
    if (n <= 16) {
        if (n >= 4) {
            /* two overlapping 4-byte reads from each end cover 4..16 bytes without branches */
            size_t q = (n >> 3) << 2;
            a = rd32(p) << 32 | rd32(p + q);
            b = rd32(p + n - 4) << 32 | rd32(p + n - 4 - q);
        } else if (n > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        if (i > 48) {
            uint64_t s1 = seed, s2 = seed;
            do {
                seed = mix(rd64(p) ^ P1, rd64(p + 8) ^ seed);
                s1 = mix(rd64(p + 16) ^ P2, rd64(p + 24) ^ s1);
                s2 = mix(rd64(p + 32) ^ P3, rd64(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = mix(rd64(p) ^ P1, rd64(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        /* the last 16 bytes, overlapping what the rounds consumed when i < 16 */
        a = rd64(p + i - 16);
        b = rd64(p + i - 8);
    }
    a ^= P1;
    b ^= seed;
    __uint128_t r = (__uint128_t)a * b;
    a = (uint64_t)r;
    b = (uint64_t)(r >> 64);
    return mix(a ^ P0 ^ (uint64_t)n, b ^ P1);
}
