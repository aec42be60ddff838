/* jws.h - JWS signature verification (RFC 7515; algorithms of RFC 7518 and RFC 8037)
 * through libcrypto, and the keys it verifies with.
 *
 * A key is pinned to exactly one algorithm when it is made, and verification never takes
 * the algorithm from a token alone: a token's "alg" must equal its key's. So an RS256 public
 * key can never serve as an HMAC secret (RFC 8725 2.1), and "none" has no key at all.
 *
 * Algorithms: HS256/384/512 (HMAC, secret at least as long as the hash), RS256/384/512 and
 * PS256 (RSA, 2048 to 8192 bits; PSS with MGF1 over the same hash and a salt as long as the
 * hash, RFC 7518 3.5), ES256/ES384 (P-256 with SHA-256, P-384 with SHA-384; JOSE sends R||S
 * raw, converted to DER for libcrypto), EdDSA (Ed25519 only; RFC 8037).
 *
 * Keys are immutable once added, and a key set may be read by many threads at once: every
 * verification works on contexts of its own, and reads the key through const pointers
 * (libcrypto's rule for concurrent use). An HMAC key keeps a MAC context already keyed;
 * each verification duplicates it, which skips hashing the key pads again. */
#ifndef KL_JWS_H
#define KL_JWS_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Longest "kid" kept, in bytes; a longer one is refused in a key and in a token. */
#define KL_JWS_KID_MAX 255
/** Longest signature of any supported algorithm (RSA 8192 bits), in bytes. */
#define KL_JWS_SIG_MAX 1024

/** The supported algorithms; KL_JWS_NONE is "not one of them" ("none" included). */
typedef enum {
    KL_JWS_NONE = 0,
    KL_JWS_HS256,
    KL_JWS_HS384,
    KL_JWS_HS512,
    KL_JWS_RS256,
    KL_JWS_RS384,
    KL_JWS_RS512,
    KL_JWS_PS256,
    KL_JWS_ES256,
    KL_JWS_ES384,
    KL_JWS_EDDSA,
    KL_JWS_ALG_COUNT,
} kl_jws_alg_t;

/** kl_jws_keys_find results besides 0. */
enum {
    KL_JWS_ENOKEY = -1,  /**< no key with the token's kid (or, without a kid, no single candidate) */
    KL_JWS_EALGKEY = -2, /**< the key (or every key) is pinned to another algorithm */
};

/** One verification key, pinned to alg. */
typedef struct {
    kl_jws_alg_t alg;              /**< the only algorithm this key verifies */
    bool has_kid;                  /**< whether it has a "kid" */
    char kid[KL_JWS_KID_MAX + 1];  /**< NUL-terminated; may hold no NUL itself */
    size_t kid_len;
    size_t sig_len;                /**< the exact length its signatures have */
    EVP_PKEY *pkey;                /**< the public key (RS/PS/ES/EdDSA); NULL for HMAC */
    EVP_MAC_CTX *mac;              /**< HMAC keyed with the secret (HS); NULL otherwise */
} kl_jws_key_t;

/** A set of keys, immutable once published. */
typedef struct {
    kl_jws_key_t *key; /**< key[0..n) */
    size_t n, cap;
    uint64_t version;  /**< the publisher's number for this set (0 when unpublished) */
} kl_jws_keys_t;

/** The algorithm named s[0..n) (exact, case-sensitive: "HS256", ..., "EdDSA"), or KL_JWS_NONE. */
kl_jws_alg_t kl_jws_alg_parse(const char *s, size_t n);
/** The JOSE name of a ("none" for KL_JWS_NONE). */
const char *kl_jws_alg_name(kl_jws_alg_t a);
/** Whether a is one of HS256/384/512. */
bool kl_jws_alg_is_hmac(kl_jws_alg_t a);

/** An empty key set (never NULL: dies on out of memory like kl_malloc). */
kl_jws_keys_t *kl_jws_keys_new(void);
/** Frees ks and every key in it (NULL is fine). */
void kl_jws_keys_free(kl_jws_keys_t *ks);
/** Adds an HMAC key for alg (an HS algorithm) with secret[0..len), which must be at least as
 * long as the hash (RFC 7518 3.2: 32, 48 or 64 bytes); kid may be NULL (no kid). Returns 0,
 * or -EINVAL (with a reason in err) for a wrong algorithm, a short secret or a long kid. */
int kl_jws_keys_add_hmac(kl_jws_keys_t *ks, kl_jws_alg_t alg, const uint8_t *secret, size_t len, const char *kid,
                         size_t kid_len, char *err, size_t errlen);
/** Adds a public key for alg, taking a reference to pkey (the caller keeps its own). Its
 * type must fit alg: RSA of 2048 to 8192 bits for RS and PS, a P-256 or P-384 point for
 * ES256 or ES384, Ed25519 for EdDSA. Returns 0 or -EINVAL with a reason in err. */
int kl_jws_keys_add_pkey(kl_jws_keys_t *ks, kl_jws_alg_t alg, EVP_PKEY *pkey, const char *kid, size_t kid_len,
                         char *err, size_t errlen);

/** Picks the key for a token whose header says alg and kid (kid NULL: the header has none).
 * With a kid: the key with that kid and alg; KL_JWS_EALGKEY when keys have the kid but none
 * has alg; without any key of that kid, a key without a kid pinned to alg (a configured
 * secret) when there is one, else KL_JWS_ENOKEY. Without a kid: the first key without a kid
 * pinned to alg, else the only key pinned to alg; KL_JWS_EALGKEY when no key has alg,
 * KL_JWS_ENOKEY when several do (the token must say which). Returns 0 with *out set. */
int kl_jws_keys_find(const kl_jws_keys_t *ks, kl_jws_alg_t alg, const char *kid, size_t kid_len,
                     const kl_jws_key_t **out);

/** Verifies that sig[0..siglen) signs input[0..len) under k (with k's algorithm). Returns 0
 * when it does, -1 when it does not (wrong length, wrong signature, malformed), -ENOMEM when
 * libcrypto could not allocate. */
int kl_jws_verify(const kl_jws_key_t *k, const void *input, size_t len, const uint8_t *sig, size_t siglen);

/** Converts a JOSE ECDSA signature rs[0..n) (R then S, n/2 bytes each, big-endian, n even
 * and at most 132) into the DER ECDSA-Sig-Value libcrypto verifies (RFC 3279 2.2.3):
 * minimal INTEGERs, a zero byte in front of a set high bit. Returns the DER length, or -1
 * when n is odd, 0 or too long, or cap is too small (KL_JWS_ECDSA_DER_MAX(n) always fits). */
ssize_t kl_jws_ecdsa_der(const uint8_t *rs, size_t n, uint8_t *der, size_t cap);
/** Room kl_jws_ecdsa_der needs for an n-byte R||S. */
#define KL_JWS_ECDSA_DER_MAX(n) ((n) + 9)

#endif
