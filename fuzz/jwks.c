/* jwks.c - libFuzzer driver for the JWK Set reader (src/proto/jwks.c: kl_jwks_parse, which
 * turns a document fetched from an issuer into libcrypto keys) and for kl_jwks_max_age (the
 * Cache-Control max-age that schedules the next fetch), both fed the input.
 *
 * Checked with abort(): kl_jwks_parse returns 0 or -EINVAL (with a reason); on 0 the report
 * adds up (added + skipped + refused == elements, added == keys in the set, at most
 * KL_JWKS_MAX_KEYS), a refusal has a reason, every key is pinned to a supported algorithm
 * with a signature length that algorithm has, a kid within KL_JWS_KID_MAX bytes without a
 * NUL, and an RSA key of 2048 to 8192 bits; parsing again into another set gives the same
 * keys; every key verifies nothing from a fixed forged signature; everything is freed
 * (LeakSanitizer). kl_jwks_max_age returns -1, 0 (and 0 seconds) or 1 (and 0..INT32_MAX). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwks.h"

static size_t sig_len_ok(const kl_jws_key_t *k) {
    switch (k->alg) {
    case KL_JWS_HS256: return k->sig_len == 32;
    case KL_JWS_HS384: return k->sig_len == 48;
    case KL_JWS_HS512: return k->sig_len == 64;
    case KL_JWS_RS256: case KL_JWS_RS384: case KL_JWS_RS512: case KL_JWS_PS256:
        return k->pkey && EVP_PKEY_get_bits(k->pkey) >= 2048 && EVP_PKEY_get_bits(k->pkey) <= 8192 &&
               k->sig_len == (size_t)EVP_PKEY_get_size(k->pkey);
    case KL_JWS_ES256: return k->sig_len == 64;
    case KL_JWS_ES384: return k->sig_len == 96;
    case KL_JWS_EDDSA: return k->sig_len == 64;
    default: return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* exactly size bytes, in their own allocation, so ASan sees any over-read */
    char *doc = malloc(size ? size : 1);
    memcpy(doc, data, size);
    kl_jws_keys_t *ks = kl_jws_keys_new(), *again = kl_jws_keys_new();
    kl_jwks_report_t rep, rep2;
    char err[128] = "";
    int r = kl_jwks_parse(doc, size, ks, &rep, err, sizeof err);
    if (r != 0 && r != -EINVAL) abort();
    if (r == -EINVAL && (!err[0] || ks->n != 0)) abort();
    if (r == 0) {
        if (rep.added + rep.skipped + rep.refused != rep.elements || rep.added != ks->n || ks->n > KL_JWKS_MAX_KEYS)
            abort();
        if (rep.refused && !rep.why[0]) abort();
        static const uint8_t forged[1024] = {1};
        for (size_t i = 0; i < ks->n; i++) {
            const kl_jws_key_t *k = &ks->key[i];
            if (k->alg <= KL_JWS_NONE || k->alg >= KL_JWS_ALG_COUNT || !sig_len_ok(k)) abort();
            if (k->has_kid ? (k->kid_len > KL_JWS_KID_MAX || memchr(k->kid, 0, k->kid_len) || k->kid[k->kid_len])
                           : k->kid_len != 0)
                abort();
            if (!k->pkey == !k->mac) abort(); /* exactly one of the two */
            if (kl_jws_verify(k, "a.b", 3, forged, k->sig_len) == 0) abort();
        }
        if (kl_jwks_parse(doc, size, again, &rep2, err, sizeof err) != 0 || again->n != ks->n ||
            rep2.refused != rep.refused || rep2.skipped != rep.skipped)
            abort();
        for (size_t i = 0; i < ks->n; i++)
            if (again->key[i].alg != ks->key[i].alg || again->key[i].kid_len != ks->key[i].kid_len ||
                memcmp(again->key[i].kid, ks->key[i].kid, ks->key[i].kid_len) != 0)
                abort();
    }
    kl_jws_keys_free(ks);
    kl_jws_keys_free(again);
    int64_t secs = -7;
    int m = kl_jwks_max_age(doc, size, &secs);
    if (m == 0 ? secs != 0 : m == 1 ? (secs < 0 || secs > INT32_MAX) : (m != -1 || secs != -7)) abort();
    free(doc);
    return 0;
}
