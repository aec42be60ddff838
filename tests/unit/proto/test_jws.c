/* test_jws.c - keys and signatures: every algorithm verifies what libcrypto signs (keys
 * generated here, signatures made with EVP_DigestSign and, for ECDSA, turned into JOSE's
 * R||S with libcrypto's own ECDSA_SIG), and refuses tampered input, other keys and other
 * lengths; keys are pinned (an RSA public key is never an HMAC secret); key choice by kid;
 * the R||S -> DER conversion against i2d_ECDSA_SIG; a key set shared by threads. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <pthread.h>

#include "proto/base64url.h"
#include "proto/jws.h"
#include "proto/jwt.h"
#include "kt.h"

static EVP_PKEY *RSA2048, *RSA2048B, *P256, *P384, *ED, *ED_B;
static char ERR[160];

static const char *md_of(kl_jws_alg_t a) {
    switch (a) {
    case KL_JWS_RS384: case KL_JWS_ES384: return "SHA384";
    case KL_JWS_RS512: return "SHA512";
    case KL_JWS_EDDSA: return NULL;
    default: return "SHA256";
    }
}

/* Signs in[0..n) with k for alg into sig (JOSE form); returns its length. */
static size_t sign(EVP_PKEY *k, kl_jws_alg_t alg, const void *in, size_t n, uint8_t *sig) {
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t der[1100];
    size_t dl = sizeof der;
    KT_EQ(EVP_DigestSignInit_ex(m, &pc, md_of(alg), NULL, NULL, k, NULL), 1);
    if (alg == KL_JWS_PS256) {
        KT_CHECK(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0);
        KT_CHECK(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0);
    }
    KT_EQ(EVP_DigestSign(m, der, &dl, in, n), 1);
    EVP_MD_CTX_free(m);
    if (alg != KL_JWS_ES256 && alg != KL_JWS_ES384) {
        memcpy(sig, der, dl);
        return dl;
    }
    size_t half = alg == KL_JWS_ES256 ? 32 : 48;
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    KT_CHECK(es != NULL);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half);
    ECDSA_SIG_free(es);
    return 2 * half;
}

static EVP_PKEY *key_for(kl_jws_alg_t a) {
    switch (a) {
    case KL_JWS_ES256: return P256;
    case KL_JWS_ES384: return P384;
    case KL_JWS_EDDSA: return ED;
    default: return RSA2048;
    }
}

static kl_jws_keys_t *one_key(kl_jws_alg_t a, EVP_PKEY *k, const char *kid) {
    kl_jws_keys_t *ks = kl_jws_keys_new();
    KT_EQ(kl_jws_keys_add_pkey(ks, a, k, kid, kid ? strlen(kid) : 0, ERR, sizeof ERR), 0);
    return ks;
}

static void every_algorithm_verifies(void) {
    static const kl_jws_alg_t algs[] = {KL_JWS_RS256, KL_JWS_RS384, KL_JWS_RS512, KL_JWS_PS256,
                                        KL_JWS_ES256, KL_JWS_ES384, KL_JWS_EDDSA};
    const char msg[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0";
    uint8_t sig[1024];
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        kl_jws_alg_t a = algs[i];
        kl_jws_keys_t *ks = one_key(a, key_for(a), NULL);
        const kl_jws_key_t *k = &ks->key[0];
        size_t n = sign(key_for(a), a, msg, strlen(msg), sig);
        KT_EQ(n, k->sig_len);
        int ok = kl_jws_verify(k, msg, strlen(msg), sig, n);
        if (ok != 0) fprintf(stderr, "  %s refused its own signature\n", kl_jws_alg_name(a));
        KT_EQ(ok, 0);
        /* one bit anywhere in the signature, one byte of the input, the length */
        for (size_t b = 0; b < n; b += n / 7 + 1) {
            sig[b] ^= 0x10;
            KT_EQ(kl_jws_verify(k, msg, strlen(msg), sig, n), -1);
            sig[b] ^= 0x10;
        }
        char other[sizeof msg];
        memcpy(other, msg, sizeof msg);
        other[5] ^= 1;
        KT_EQ(kl_jws_verify(k, other, strlen(other), sig, n), -1);
        KT_EQ(kl_jws_verify(k, msg, strlen(msg) - 1, sig, n), -1);
        KT_EQ(kl_jws_verify(k, msg, strlen(msg), sig, n - 1), -1);
        KT_EQ(kl_jws_verify(k, msg, strlen(msg), sig, 0), -1);
        kl_jws_keys_free(ks);
        /* another key of the same kind does not verify it */
        EVP_PKEY *o = a == KL_JWS_EDDSA ? ED_B : a == KL_JWS_ES256 ? NULL : a == KL_JWS_ES384 ? NULL : RSA2048B;
        if (o) {
            ks = one_key(a, o, NULL);
            KT_EQ(kl_jws_verify(&ks->key[0], msg, strlen(msg), sig, n), -1);
            kl_jws_keys_free(ks);
        }
    }
}

static void pss_and_pkcs1_are_distinct(void) {
    const char msg[] = "header.payload";
    uint8_t sig[512];
    kl_jws_keys_t *rs = one_key(KL_JWS_RS256, RSA2048, NULL), *ps = one_key(KL_JWS_PS256, RSA2048, NULL);
    size_t n = sign(RSA2048, KL_JWS_RS256, msg, strlen(msg), sig);
    KT_EQ(kl_jws_verify(&rs->key[0], msg, strlen(msg), sig, n), 0);
    KT_EQ(kl_jws_verify(&ps->key[0], msg, strlen(msg), sig, n), -1);
    n = sign(RSA2048, KL_JWS_PS256, msg, strlen(msg), sig);
    KT_EQ(kl_jws_verify(&ps->key[0], msg, strlen(msg), sig, n), 0);
    KT_EQ(kl_jws_verify(&rs->key[0], msg, strlen(msg), sig, n), -1);
    /* RS384 with an RS256 signature (same key, other hash) */
    kl_jws_keys_t *r384 = one_key(KL_JWS_RS384, RSA2048, NULL);
    n = sign(RSA2048, KL_JWS_RS256, msg, strlen(msg), sig);
    KT_EQ(kl_jws_verify(&r384->key[0], msg, strlen(msg), sig, n), -1);
    kl_jws_keys_free(rs);
    kl_jws_keys_free(ps);
    kl_jws_keys_free(r384);
}

static void hmac_against_one_shot_hmac(void) {
    static const kl_jws_alg_t algs[] = {KL_JWS_HS256, KL_JWS_HS384, KL_JWS_HS512};
    uint8_t secret[64], mac[64];
    for (int i = 0; i < 64; i++) secret[i] = (uint8_t)(i * 37 + 1);
    const char msg[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0";
    for (int i = 0; i < 3; i++) {
        size_t len = (size_t)(32 + 16 * i);
        const EVP_MD *md = i == 0 ? EVP_sha256() : i == 1 ? EVP_sha384() : EVP_sha512();
        unsigned ml = 0;
        HMAC(md, secret, (int)len, (const uint8_t *)msg, strlen(msg), mac, &ml);
        kl_jws_keys_t *ks = kl_jws_keys_new();
        KT_EQ(kl_jws_keys_add_hmac(ks, algs[i], secret, len, NULL, 0, ERR, sizeof ERR), 0);
        KT_EQ(ks->key[0].sig_len, ml);
        for (int k = 0; k < 3; k++) /* the keyed context is reused, never consumed */
            KT_EQ(kl_jws_verify(&ks->key[0], msg, strlen(msg), mac, ml), 0);
        mac[ml - 1] ^= 1;
        KT_EQ(kl_jws_verify(&ks->key[0], msg, strlen(msg), mac, ml), -1);
        KT_EQ(kl_jws_verify(&ks->key[0], msg, strlen(msg), mac, ml - 1), -1);
        kl_jws_keys_free(ks);
    }
}

static void keys_fit_their_algorithm(void) {
    kl_jws_keys_t *ks = kl_jws_keys_new();
    uint8_t s[64] = {1};
    /* RFC 7518 3.2: secrets at least as long as the hash */
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS256, s, 31, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_CHECK(strstr(ERR, "at least 32 bytes") != NULL);
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS384, s, 47, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS512, s, 63, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS256, s, 0, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_RS256, s, 64, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_NONE, s, 64, NULL, 0, ERR, sizeof ERR), -EINVAL);
    /* a public key never becomes an HMAC key, nor the wrong kind of public key */
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_HS256, RSA2048, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, P256, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_PS256, ED, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_ES256, P384, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_ES384, P256, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_ES256, RSA2048, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_EDDSA, P256, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_NONE, P256, NULL, 0, ERR, sizeof ERR), -EINVAL);
    /* RSA below 2048 bits */
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, small, NULL, 0, ERR, sizeof ERR), -EINVAL);
    KT_CHECK(strstr(ERR, "2048") != NULL);
    EVP_PKEY_free(small);
    /* kids: at most KL_JWS_KID_MAX bytes, no NUL */
    char kid[KL_JWS_KID_MAX + 2];
    memset(kid, 'k', sizeof kid);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, RSA2048, kid, KL_JWS_KID_MAX + 1, ERR, sizeof ERR), -EINVAL);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, RSA2048, "a\0b", 3, ERR, sizeof ERR), -EINVAL);
    KT_EQ(ks->n, 0);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, RSA2048, kid, KL_JWS_KID_MAX, ERR, sizeof ERR), 0);
    KT_EQ(ks->n, 1);
    kl_jws_keys_free(ks);
    /* names: exact */
    KT_EQ(kl_jws_alg_parse("EdDSA", 5), KL_JWS_EDDSA);
    KT_EQ(kl_jws_alg_parse("none", 4), KL_JWS_NONE);
    KT_EQ(kl_jws_alg_parse("RS256", 4), KL_JWS_NONE);
    KT_EQ(kl_jws_alg_parse("ES384x", 6), KL_JWS_NONE);
    for (int a = KL_JWS_NONE + 1; a < KL_JWS_ALG_COUNT; a++)
        KT_EQ(kl_jws_alg_parse(kl_jws_alg_name((kl_jws_alg_t)a), strlen(kl_jws_alg_name((kl_jws_alg_t)a))), a);
}

static void the_kid_picks_the_key(void) {
    kl_jws_keys_t *ks = kl_jws_keys_new();
    uint8_t s[32] = {7};
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS256, s, 32, NULL, 0, ERR, sizeof ERR), 0); /* a secret */
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, RSA2048, "a", 1, ERR, sizeof ERR), 0);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_ES256, P256, "b", 1, ERR, sizeof ERR), 0);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_RS256, RSA2048B, "c", 1, ERR, sizeof ERR), 0);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_PS256, RSA2048B, "c", 1, ERR, sizeof ERR), 0); /* same kid, other alg */
    const kl_jws_key_t *k = NULL;
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_RS256, "a", 1, &k), 0);
    KT_CHECK(k == &ks->key[1]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_RS256, "c", 1, &k), 0);
    KT_CHECK(k == &ks->key[3]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_PS256, "c", 1, &k), 0);
    KT_CHECK(k == &ks->key[4]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_ES256, "a", 1, &k), KL_JWS_EALGKEY); /* a's alg is RS256 */
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_HS256, "a", 1, &k), KL_JWS_EALGKEY); /* never the secret instead */
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_RS256, "zz", 2, &k), KL_JWS_ENOKEY);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_RS256, "", 0, &k), KL_JWS_ENOKEY);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_HS256, "zz", 2, &k), 0); /* an unknown kid: the secret */
    KT_CHECK(k == &ks->key[0]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_HS256, NULL, 0, &k), 0);
    KT_CHECK(k == &ks->key[0]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_ES256, NULL, 0, &k), 0); /* the only ES256 key */
    KT_CHECK(k == &ks->key[2]);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_RS256, NULL, 0, &k), KL_JWS_ENOKEY); /* two: say which */
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_EDDSA, NULL, 0, &k), KL_JWS_EALGKEY);
    KT_EQ(kl_jws_keys_find(ks, KL_JWS_NONE, NULL, 0, &k), KL_JWS_EALGKEY);
    kl_jws_keys_free(ks);
}

static char TOK[4096];

/* "header.payload" (base64url) into TOK; the caller appends the signature */
static size_t token(const char *h, const char *p) {
    size_t n = kl_base64url_encode((const uint8_t *)h, strlen(h), TOK, sizeof TOK);
    TOK[n++] = '.';
    n += kl_base64url_encode((const uint8_t *)p, strlen(p), TOK + n, sizeof TOK - n);
    TOK[n] = '\0';
    return n;
}

static void public_key_is_never_an_hmac_secret(void) {
    /* RFC 8725 2.1: a token signed with HMAC keyed by the RS256 public key (its PEM, as a
     * confused library would read it) must be refused however it names the key */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, RSA2048);
    char *pem;
    long pl = BIO_get_mem_data(b, &pem);
    kl_jws_keys_t *ks = one_key(KL_JWS_RS256, RSA2048, "rsa");
    kl_jwt_policy_t pol = {0};
    kl_jwt_claims_t *c = malloc(sizeof *c);
    static const char *headers[] = {"{\"alg\":\"HS256\",\"kid\":\"rsa\"}", "{\"alg\":\"HS256\"}",
                                    "{\"alg\":\"HS384\",\"kid\":\"rsa\"}", "{\"alg\":\"none\",\"kid\":\"rsa\"}"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = token(headers[i], "{\"sub\":\"admin\"}");
        uint8_t mac[32];
        HMAC(EVP_sha256(), pem, (int)pl, (const uint8_t *)TOK, n, mac, NULL);
        TOK[n++] = '.';
        n += kl_base64url_encode(mac, 32, TOK + n, sizeof TOK - n);
        int r = kl_jwt_verify(TOK, n, ks, &pol, 0, c, NULL, 0);
        KT_CHECK(r == (i == 3 ? KL_JWT_EALG : KL_JWT_EALGKEY));
    }
    /* and the honest RS256 token with that key passes */
    size_t n = token("{\"alg\":\"RS256\",\"kid\":\"rsa\"}", "{\"sub\":\"u\"}");
    uint8_t sig[512];
    size_t sl = sign(RSA2048, KL_JWS_RS256, TOK, n, sig);
    TOK[n++] = '.';
    n += kl_base64url_encode(sig, sl, TOK + n, sizeof TOK - n);
    KT_EQ(kl_jwt_verify(TOK, n, ks, &pol, 0, c, NULL, 0), 0);
    free(c);
    kl_jws_keys_free(ks);
    BIO_free(b);
}

static void ecdsa_der_matches_libcrypto(void) {
    uint8_t rs[132], der[KL_JWS_ECDSA_DER_MAX(132)];
    static const size_t sizes[] = {64, 96, 132, 2};
    for (size_t si = 0; si < 4; si++) {
        size_t n = sizes[si], half = n / 2;
        for (int round = 0; round < 200; round++) {
            RAND_bytes(rs, (int)n);
            /* leading zeros, set high bits and zero values are the interesting cases */
            if (round % 4 == 1) memset(rs, 0, half / 2 + 1);
            if (round % 4 == 2) rs[half] |= 0x80, rs[0] |= 0x80;
            if (round % 7 == 3) memset(rs + half, 0, half);
            if (round == 5) memset(rs, 0, n);
            ECDSA_SIG *es = ECDSA_SIG_new();
            ECDSA_SIG_set0(es, BN_bin2bn(rs, (int)half, NULL), BN_bin2bn(rs + half, (int)half, NULL));
            uint8_t *want = NULL;
            int wl = i2d_ECDSA_SIG(es, &want);
            ssize_t got = kl_jws_ecdsa_der(rs, n, der, sizeof der);
            KT_EQ(got, wl);
            KT_CHECK(got == wl && memcmp(der, want, (size_t)wl) == 0);
            OPENSSL_free(want);
            ECDSA_SIG_free(es);
            /* one byte short of room */
            if (got > 0) KT_EQ(kl_jws_ecdsa_der(rs, n, der, (size_t)got - 1), -1);
        }
    }
    KT_EQ(kl_jws_ecdsa_der(rs, 0, der, sizeof der), -1);
    KT_EQ(kl_jws_ecdsa_der(rs, 63, der, sizeof der), -1);
    KT_EQ(kl_jws_ecdsa_der(rs, 134, der, sizeof der), -1);
    /* an ES256 signature of the wrong length, or in DER, is refused */
    kl_jws_keys_t *ks = one_key(KL_JWS_ES256, P256, NULL);
    uint8_t sig[64];
    const char msg[] = "a.b";
    size_t sl = sign(P256, KL_JWS_ES256, msg, 3, sig);
    KT_EQ(kl_jws_verify(&ks->key[0], msg, 3, sig, sl), 0);
    ssize_t dl = kl_jws_ecdsa_der(sig, sl, der, sizeof der);
    KT_EQ(kl_jws_verify(&ks->key[0], msg, 3, der, (size_t)dl), -1);
    /* R = 0 or S = 0 never verifies */
    memset(sig, 0, 32);
    KT_EQ(kl_jws_verify(&ks->key[0], msg, 3, sig, sl), -1);
    kl_jws_keys_free(ks);
}

typedef struct {
    const kl_jws_keys_t *ks;
    const uint8_t *hs, *es;
    size_t hsl, esl;
    int bad;
} shared_t;

static void *hammer(void *arg) {
    shared_t *s = arg;
    const char msg[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0";
    for (int i = 0; i < 3000; i++) {
        if (kl_jws_verify(&s->ks->key[0], msg, strlen(msg), s->hs, s->hsl) != 0) __atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
        if (i % 20 == 0 && kl_jws_verify(&s->ks->key[1], msg, strlen(msg), s->es, s->esl) != 0)
            __atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void one_set_many_threads(void) {
    /* shards share one published set: verifications at once must not disturb each other */
    kl_jws_keys_t *ks = kl_jws_keys_new();
    uint8_t secret[32] = {3}, hs[32], es[64];
    const char msg[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0";
    KT_EQ(kl_jws_keys_add_hmac(ks, KL_JWS_HS256, secret, 32, NULL, 0, ERR, sizeof ERR), 0);
    KT_EQ(kl_jws_keys_add_pkey(ks, KL_JWS_ES256, P256, "e", 1, ERR, sizeof ERR), 0);
    HMAC(EVP_sha256(), secret, 32, (const uint8_t *)msg, strlen(msg), hs, NULL);
    size_t esl = sign(P256, KL_JWS_ES256, msg, strlen(msg), es);
    shared_t s = {.ks = ks, .hs = hs, .es = es, .hsl = 32, .esl = esl};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, &s);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    KT_EQ(s.bad, 0);
    kl_jws_keys_free(ks);
}

int main(void) {
    RSA2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    RSA2048B = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    P256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    P384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ED = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ED_B = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!RSA2048 || !RSA2048B || !P256 || !P384 || !ED || !ED_B) {
        fprintf(stderr, "libcrypto cannot generate test keys\n");
        return 1;
    }
    KT_RUN(every_algorithm_verifies);
    KT_RUN(pss_and_pkcs1_are_distinct);
    KT_RUN(hmac_against_one_shot_hmac);
    KT_RUN(keys_fit_their_algorithm);
    KT_RUN(the_kid_picks_the_key);
    KT_RUN(public_key_is_never_an_hmac_secret);
    KT_RUN(ecdsa_der_matches_libcrypto);
    KT_RUN(one_set_many_threads);
    EVP_PKEY *all[] = {RSA2048, RSA2048B, P256, P384, ED, ED_B};
    for (int i = 0; i < 6; i++) EVP_PKEY_free(all[i]);
    return KT_DONE();
}
