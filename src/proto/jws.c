/* jws.c - JWS signatures through libcrypto's EVP interface (see jws.h). */
#include "proto/jws.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *const names[KL_JWS_ALG_COUNT] = {
    [KL_JWS_NONE] = "none",   [KL_JWS_HS256] = "HS256", [KL_JWS_HS384] = "HS384", [KL_JWS_HS512] = "HS512",
    [KL_JWS_RS256] = "RS256", [KL_JWS_RS384] = "RS384", [KL_JWS_RS512] = "RS512", [KL_JWS_PS256] = "PS256",
    [KL_JWS_ES256] = "ES256", [KL_JWS_ES384] = "ES384", [KL_JWS_EDDSA] = "EdDSA",
};

/* The digest each algorithm signs with (NULL: EdDSA hashes internally). */
static const char *digest(kl_jws_alg_t a) {
    switch (a) {
    case KL_JWS_HS256: case KL_JWS_RS256: case KL_JWS_PS256: case KL_JWS_ES256: return "SHA256";
    case KL_JWS_HS384: case KL_JWS_RS384: case KL_JWS_ES384: return "SHA384";
    case KL_JWS_HS512: case KL_JWS_RS512: return "SHA512";
    default: return NULL;
    }
}

kl_jws_alg_t kl_jws_alg_parse(const char *s, size_t n) {
    for (int a = KL_JWS_NONE + 1; a < KL_JWS_ALG_COUNT; a++)
        if (strlen(names[a]) == n && memcmp(names[a], s, n) == 0) return (kl_jws_alg_t)a;
    return KL_JWS_NONE;
}

const char *kl_jws_alg_name(kl_jws_alg_t a) { return a > KL_JWS_NONE && a < KL_JWS_ALG_COUNT ? names[a] : "none"; }

bool kl_jws_alg_is_hmac(kl_jws_alg_t a) { return a == KL_JWS_HS256 || a == KL_JWS_HS384 || a == KL_JWS_HS512; }

kl_jws_keys_t *kl_jws_keys_new(void) { return kl_calloc(sizeof(kl_jws_keys_t)); }

void kl_jws_keys_free(kl_jws_keys_t *ks) {
    if (!ks) return;
    for (size_t i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->key[i].pkey);
        EVP_MAC_CTX_free(ks->key[i].mac); /* its copy of the secret is cleansed by libcrypto */
    }
    kl_free(ks->key);
    kl_free(ks);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* A new zeroed slot at the end of ks, with the kid set; NULL (reason in err) for a bad kid. */
static kl_jws_key_t *slot(kl_jws_keys_t *ks, kl_jws_alg_t alg, const char *kid, size_t kid_len, char *err,
                          size_t errlen) {
    if (kid && (kid_len > KL_JWS_KID_MAX || memchr(kid, 0, kid_len))) {
        fail(err, errlen, "kid longer than %d bytes or holding a NUL", KL_JWS_KID_MAX);
        return NULL;
    }
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 4;
        ks->key = kl_realloc(ks->key, ks->cap * sizeof(kl_jws_key_t));
    }
    kl_jws_key_t *k = &ks->key[ks->n];
    memset(k, 0, sizeof(*k));
    k->alg = alg;
    if (kid) {
        k->has_kid = true;
        memcpy(k->kid, kid, kid_len);
        k->kid_len = kid_len;
    }
    return k;
}

int kl_jws_keys_add_hmac(kl_jws_keys_t *ks, kl_jws_alg_t alg, const uint8_t *secret, size_t len, const char *kid,
                         size_t kid_len, char *err, size_t errlen) {
    if (!kl_jws_alg_is_hmac(alg)) return fail(err, errlen, "%s is not an HMAC algorithm", kl_jws_alg_name(alg));
    size_t need = alg == KL_JWS_HS256 ? 32 : alg == KL_JWS_HS384 ? 48 : 64;
    if (len < need) /* RFC 7518 3.2: at least the hash's output */
        return fail(err, errlen, "an %s secret must be at least %zu bytes (it has %zu)", kl_jws_alg_name(alg), need, len);
    kl_jws_key_t *k = slot(ks, alg, kid, kid_len, err, errlen);
    if (!k) return -EINVAL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest(alg), 0),
                      OSSL_PARAM_construct_end()};
    if (!c || !EVP_MAC_init(c, secret, len, p)) {
        EVP_MAC_CTX_free(c);
        return fail(err, errlen, "libcrypto cannot make an HMAC key for %s", kl_jws_alg_name(alg));
    }
    k->mac = c;
    k->sig_len = need;
    ks->n++;
    return 0;
}

int kl_jws_keys_add_pkey(kl_jws_keys_t *ks, kl_jws_alg_t alg, EVP_PKEY *pkey, const char *kid, size_t kid_len,
                         char *err, size_t errlen) {
    size_t sig_len = 0;
    char group[64] = "";
    switch (alg) {
    case KL_JWS_RS256: case KL_JWS_RS384: case KL_JWS_RS512: case KL_JWS_PS256: {
        if (!EVP_PKEY_is_a(pkey, "RSA")) return fail(err, errlen, "%s needs an RSA key", kl_jws_alg_name(alg));
        int bits = EVP_PKEY_get_bits(pkey);
        /* RFC 7518 3.3: 2048 bits or more; above 8192 a verification costs too much */
        if (bits < 2048 || bits > 8192)
            return fail(err, errlen, "an RSA key must have 2048 to 8192 bits (it has %d)", bits);
        sig_len = (size_t)EVP_PKEY_get_size(pkey);
        break;
    }
    case KL_JWS_ES256: case KL_JWS_ES384: {
        const char *want = alg == KL_JWS_ES256 ? "prime256v1" : "secp384r1";
        if (!EVP_PKEY_is_a(pkey, "EC") ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) ||
            strcmp(group, want) != 0)
            return fail(err, errlen, "%s needs a %s key", kl_jws_alg_name(alg), alg == KL_JWS_ES256 ? "P-256" : "P-384");
        sig_len = alg == KL_JWS_ES256 ? 64 : 96;
        break;
    }
    case KL_JWS_EDDSA:
        if (!EVP_PKEY_is_a(pkey, "ED25519")) return fail(err, errlen, "EdDSA needs an Ed25519 key");
        sig_len = 64;
        break;
    default:
        return fail(err, errlen, "%s does not verify with a public key", kl_jws_alg_name(alg));
    }
    kl_jws_key_t *k = slot(ks, alg, kid, kid_len, err, errlen);
    if (!k) return -EINVAL;
    if (!EVP_PKEY_up_ref(pkey)) return fail(err, errlen, "libcrypto cannot reference the key");
    k->pkey = pkey;
    k->sig_len = sig_len;
    ks->n++;
    return 0;
}

int kl_jws_keys_find(const kl_jws_keys_t *ks, kl_jws_alg_t alg, const char *kid, size_t kid_len,
                     const kl_jws_key_t **out) {
    const kl_jws_key_t *keyless = NULL, *only = NULL;
    size_t with_alg = 0;
    bool kid_seen = false;
    for (size_t i = 0; i < ks->n; i++) {
        const kl_jws_key_t *k = &ks->key[i];
        if (kid && k->has_kid && k->kid_len == kid_len && memcmp(k->kid, kid, kid_len) == 0) {
            if (k->alg == alg) {
                *out = k;
                return 0;
            }
            kid_seen = true;
        }
        if (k->alg != alg) continue;
        if (!k->has_kid && !keyless) keyless = k;
        with_alg++;
        only = k;
    }
    if (kid_seen) return KL_JWS_EALGKEY;
    if (keyless) {
        *out = keyless;
        return 0;
    }
    if (kid) return KL_JWS_ENOKEY;
    if (with_alg == 0) return KL_JWS_EALGKEY;
    if (with_alg > 1) return KL_JWS_ENOKEY;
    *out = only;
    return 0;
}

ssize_t kl_jws_ecdsa_der(const uint8_t *rs, size_t n, uint8_t *der, size_t cap) {
    if (n == 0 || n % 2 || n > 132) return -1;
    size_t half = n / 2, len[2], skip[2], pad[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *v = rs + i * half;
        size_t z = 0;
        while (z + 1 < half && v[z] == 0) z++; /* minimal: no leading zero bytes, but keep one byte */
        skip[i] = z;
        pad[i] = v[z] & 0x80 ? 1 : 0; /* INTEGER is signed: a set high bit needs a zero in front */
        len[i] = half - z + pad[i];
    }
    size_t body = 2 + len[0] + 2 + len[1];
    size_t total = body + (body < 128 ? 2 : 3);
    if (total > cap) return -1;
    size_t o = 0;
    der[o++] = 0x30;
    if (body >= 128) der[o++] = 0x81;
    der[o++] = (uint8_t)body;
    for (int i = 0; i < 2; i++) {
        der[o++] = 0x02;
        der[o++] = (uint8_t)len[i];
        if (pad[i]) der[o++] = 0;
        memcpy(der + o, rs + i * half + skip[i], half - skip[i]);
        o += half - skip[i];
    }
    return (ssize_t)o;
}

static int verify_hmac(const kl_jws_key_t *k, const void *input, size_t len, const uint8_t *sig, size_t siglen) {
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t ml = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->mac); /* reads the shared keyed context only */
    if (!c) return -ENOMEM;
    int ok = EVP_MAC_update(c, input, len) && EVP_MAC_final(c, mac, &ml, sizeof(mac));
    EVP_MAC_CTX_free(c);
    int r = ok && ml == siglen && CRYPTO_memcmp(mac, sig, ml) == 0 ? 0 : -1;
    OPENSSL_cleanse(mac, sizeof(mac)); /* the MAC of a forged input is a valid signature for it */
    return ok ? r : -ENOMEM;
}

int kl_jws_verify(const kl_jws_key_t *k, const void *input, size_t len, const uint8_t *sig, size_t siglen) {
    if (siglen != k->sig_len) return -1;
    if (k->mac) return verify_hmac(k, input, len, sig, siglen);
    uint8_t der[KL_JWS_ECDSA_DER_MAX(96)];
    if (k->alg == KL_JWS_ES256 || k->alg == KL_JWS_ES384) {
        ssize_t dl = kl_jws_ecdsa_der(sig, siglen, der, sizeof(der));
        if (dl < 0) return -1;
        sig = der;
        siglen = (size_t)dl;
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m) return -ENOMEM;
    EVP_PKEY_CTX *pc = NULL;
    const char *md = digest(k->alg);
    int r = -ENOMEM;
    if (EVP_DigestVerifyInit_ex(m, &pc, md, NULL, NULL, k->pkey, NULL) != 1) goto out;
    if (k->alg == KL_JWS_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, md, NULL) <= 0 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) <= 0))
        goto out;
    /* 1 valid, 0 invalid, < 0 malformed (e.g. an ECDSA integer out of range): refused alike */
    r = EVP_DigestVerify(m, sig, siglen, input, len) == 1 ? 0 : -1;
out:
    EVP_MD_CTX_free(m);
    return r;
}
