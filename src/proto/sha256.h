/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), portable C, no allocation,
 * no global state. Written for keel's JWT check (HS256); it is not a general crypto
 * library: there is no SHA-224, no hardware acceleration. Pure functions over byte
 * buffers; the HMAC wipes its key-derived stack copies before it returns. */
#ifndef KL_SHA256_H
#define KL_SHA256_H

#include <stddef.h>
#include <stdint.h>

/** Bytes in a SHA-256 digest. */
#define KL_SHA256_LEN 32
/** Bytes in one SHA-256 input block (also HMAC's key block). */
#define KL_SHA256_BLOCK 64

/** An incremental SHA-256 computation; plain data, safe to copy (a copy forks the hash). */
typedef struct {
    uint32_t _h[8];                  /**< chaining state */
    uint64_t _len;                   /**< message bytes absorbed so far */
    uint8_t _buf[KL_SHA256_BLOCK];   /**< a partial block not yet compressed */
    size_t _buflen;                  /**< bytes in _buf, always < KL_SHA256_BLOCK */
} kl_sha256_t;

/** Starts a new hash in ctx. */
void kl_sha256_init(kl_sha256_t *ctx);
/** Absorbs data[0..len) (data may be NULL when len is 0); call any number of times. */
void kl_sha256_update(kl_sha256_t *ctx, const void *data, size_t len);
/** Writes the digest of everything absorbed to out; ctx must be re-initialised before reuse. */
void kl_sha256_final(kl_sha256_t *ctx, uint8_t out[KL_SHA256_LEN]);
/** One-shot SHA-256 of data[0..len) into out. */
void kl_sha256(const void *data, size_t len, uint8_t out[KL_SHA256_LEN]);
/** HMAC-SHA256(key, msg) into out (RFC 2104; a key longer than 64 bytes is hashed first).
 * key and msg may be NULL when their length is 0. */
void kl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[KL_SHA256_LEN]);

#endif
