/* bench_jwt.c - microbenchmark of JWT verification through libcrypto: HS256 for a typical
 * ~200-byte bearer token (header, HMAC, payload parse, claim checks; the same token and
 * output lines as before the move to libcrypto, so the two builds compare), a forged
 * signature, the worst unsigned header; RS256, PS256, ES256 and EdDSA verification; and
 * keel's request path (kl_auth_verify: key set, policy, role, claims JSON) for an RS256
 * token with the per-shard token cache and without it. Prints figures only; it asserts
 * nothing about speed. */
#include "micro.h"
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/auth.h"
#include "app/config.h"
#include "proto/base64url.h"
#include "proto/jws.h"
#include "proto/jwt.h"

#define VERIFY_ITERS 500000
#define PK_ITERS 20000
#define SHA_MIB 256

static const char secret[] = "a-32-byte-secret-for-the-bench!!";
static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
/* what a Node.js app typically puts in an access token */
static const char payload[] =
    "{\"sub\":\"8f1c2a\",\"role\":\"member\",\"scope\":\"read write\",\"iat\":1700000000,\"exp\":1700003600}";
static const kl_jwt_policy_t policy = {.require_exp = true, .leeway_s = 30};
static unsigned long long sink;

/* header.payload of h and p, signed by k for alg (HMAC with secret when k is NULL). */
static size_t make(char *tok, size_t cap, const char *h, const char *p, EVP_PKEY *k, kl_jws_alg_t alg) {
    size_t n = kl_base64url_encode((const uint8_t *)h, strlen(h), tok, cap);
    tok[n++] = '.';
    n += kl_base64url_encode((const uint8_t *)p, strlen(p), tok + n, cap - n);
    uint8_t der[1024], sig[1024];
    size_t dl = sizeof der, sl;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *hk = k ? NULL : EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, (const uint8_t *)secret, 32);
    EVP_DigestSignInit_ex(m, &pc, alg == KL_JWS_EDDSA ? NULL : "SHA256", NULL, NULL, k ? k : hk, NULL);
    if (alg == KL_JWS_PS256) {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
    }
    EVP_DigestSign(m, der, &dl, (const uint8_t *)tok, n);
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(hk);
    sl = dl;
    memcpy(sig, der, dl);
    if (alg == KL_JWS_ES256) { /* DER -> JOSE R||S */
        const uint8_t *p2 = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p2, (long)dl);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
        ECDSA_SIG_free(es);
        sl = 64;
    }
    tok[n++] = '.';
    n += kl_base64url_encode(sig, sl, tok + n, cap - n);
    return n;
}

static double per_verify(const char *tok, size_t n, const kl_jws_keys_t *ks, int64_t t_now, int iters) {
    static kl_jwt_claims_t claims;
    double t0 = now();
    for (int i = 0; i < iters; i++) {
        int r = kl_jwt_verify(tok, n, ks, &policy, t_now, &claims, NULL, 0);
        sink += (unsigned)r + claims.count;
        __asm__ volatile("" ::: "memory");
    }
    return (now() - t0) / iters;
}

/* keel's request path for tok: kl_auth_verify with a JWKS file holding pkey as "k1". */
static double per_request(EVP_PKEY *pkey, const char *tok, size_t n, const char *cache_entries) {
    BIGNUM *bn = NULL, *be = NULL;
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn);
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &be);
    uint8_t nb[512], eb[8];
    int nl = BN_bn2bin(bn, nb), el = BN_bn2bin(be, eb);
    char ns[800], es[16], path[] = "/tmp/keel-bench-jwks-XXXXXX";
    kl_base64url_encode(nb, (size_t)nl, ns, sizeof ns);
    kl_base64url_encode(eb, (size_t)el, es, sizeof es);
    BN_free(bn);
    BN_free(be);
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}]}", ns, es);
    fclose(f);
    char *argv[] = {"bench", "--jwt-jwks", path, "--jwt-cache-entries", (char *)cache_entries, NULL};
    kl_config_t cfg;
    kl_auth_t *a = NULL;
    char err[256];
    if (kl_config_load(&cfg, 5, argv) != 0 || kl_auth_new(&cfg, &a, err, sizeof err) < 0 || kl_auth_start(a, 1) < 0) {
        fprintf(stderr, "bench_jwt: cannot set up auth: %s\n", err);
        exit(1);
    }
    unlink(path);
    kl_auth_shard_t *s = kl_auth_shard_new(a, 0);
    kl_recycler_t rec;
    kl_arena_t arena;
    kl_recycler_init(&rec, 8192, 64);
    kl_arena_init(&arena, &rec);
    kl_auth_id_t id;
    const char *why = "";
    int64_t t_now = (int64_t)time(NULL);
    if (kl_auth_verify(s, &arena, tok, n, t_now, &id, &why) != 0) {
        fprintf(stderr, "bench_jwt: the request path refuses the token: %s\n", why);
        exit(1);
    }
    int iters = cache_entries[0] == '0' ? PK_ITERS : VERIFY_ITERS;
    double t0 = now();
    for (int i = 0; i < iters; i++) {
        int r = kl_auth_verify(s, &arena, tok, n, t_now, &id, &why);
        sink += (unsigned)r + strlen(id.claims_json);
        kl_arena_reset(&arena);
        if (i % 1024 == 0) kl_auth_tick(s);
    }
    double dt = (now() - t0) / iters;
    kl_arena_reset(&arena);
    kl_recycler_destroy(&rec);
    kl_auth_shard_free(s);
    kl_auth_free(a);
    kl_config_free(&cfg);
    return dt;
}

int main(void) {
    static kl_jwt_claims_t claims;
    char tok[2048];
    kl_jws_keys_t *hs = kl_jws_keys_new();
    char err[128];
    if (kl_jws_keys_add_hmac(hs, KL_JWS_HS256, (const uint8_t *)secret, sizeof secret - 1, NULL, 0, err, sizeof err)) {
        fprintf(stderr, "bench_jwt: %s\n", err);
        return 1;
    }
    size_t n = make(tok, sizeof tok, header, payload, NULL, KL_JWS_HS256);
    int64_t t_now = 1700000100;
    if (kl_jwt_verify(tok, n, hs, &policy, t_now, &claims, err, sizeof err) != 0) {
        fprintf(stderr, "bench_jwt: token does not verify: %s\n", err);
        return 1;
    }
    double dt = per_verify(tok, n, hs, t_now, VERIFY_ITERS);
    printf("jwt verify (HS256): %zu-byte token, %u claims, %d iterations\n", n, claims.count, VERIFY_ITERS);
    printf("  %.0f verifications/s, %.2f us each\n", 1 / dt, dt * 1e6);

    /* the same token with a wrong signature: the cost an attacker can impose per request */
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    dt = per_verify(tok, n, hs, t_now, VERIFY_ITERS);
    printf("  forged signature: %.0f rejections/s, %.2f us each\n", 1 / dt, dt * 1e6);

    /* the worst header an unauthenticated client can send: KL_JWT_MAX_CLAIMS members whose
     * long names differ only at the end, so the duplicate-name check compares each pair in full */
    static char big[KL_JWT_MAX_TOKEN + 64], hj[KL_JWT_MAX_TOKEN];
    size_t hl = (size_t)snprintf(hj, sizeof hj, "{\"alg\":\"HS256\"");
    size_t name_len = (KL_JWT_MAX_TOKEN / 4 * 3 - 200) / KL_JWT_MAX_CLAIMS - 8;
    for (int m = 1; m < KL_JWT_MAX_CLAIMS; m++) {
        hl += (size_t)snprintf(hj + hl, sizeof hj - hl, ",\"");
        memset(hj + hl, 'k', name_len);
        hl += name_len;
        hl += (size_t)snprintf(hj + hl, sizeof hj - hl, "%02d\":0", m);
    }
    hl += (size_t)snprintf(hj + hl, sizeof hj - hl, "}");
    size_t bn = kl_base64url_encode((const uint8_t *)hj, hl, big, sizeof big);
    memcpy(big + bn, ".e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 48);
    bn += 48;
    if (kl_jwt_verify(big, bn, hs, &policy, t_now, &claims, err, sizeof err) != KL_JWT_ESIGNATURE) {
        fprintf(stderr, "bench_jwt: hostile header not parsed to the signature check: %s\n", err);
        return 1;
    }
    dt = per_verify(big, bn, hs, t_now, VERIFY_ITERS / 50);
    printf("  worst-case unsigned header (%zu-byte token, %d members, %zu-byte names): %.2f us each\n", bn,
           KL_JWT_MAX_CLAIMS, name_len + 2, dt * 1e6);

    n = make(tok, sizeof tok, header, payload, NULL, KL_JWS_HS256);
    const char *dot2 = strrchr(tok, '.');
    uint8_t mac[32];
    kl_base64url_decode(dot2 + 1, strlen(dot2 + 1), mac, sizeof mac);
    double t0 = now();
    for (int i = 0; i < VERIFY_ITERS; i++) {
        sink += (unsigned)kl_jws_verify(&hs->key[0], tok, (size_t)(dot2 - tok), mac, 32);
        __asm__ volatile("" ::: "memory");
    }
    dt = now() - t0;
    printf("hmac-sha256 of the %zu signed bytes alone (libcrypto, keyed context duplicated): %.2f us each\n",
           (size_t)(dot2 - tok), dt * 1e6 / VERIFY_ITERS);

    size_t blen = 1 << 20;
    uint8_t *buf = malloc(blen), d[64];
    if (!buf) return 1;
    for (size_t i = 0; i < blen; i++) buf[i] = (uint8_t)(i * 7);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_DigestInit_ex(mc, EVP_sha256(), NULL);
    t0 = now();
    for (int i = 0; i < SHA_MIB; i++) EVP_DigestUpdate(mc, buf, blen);
    EVP_DigestFinal_ex(mc, d, NULL);
    dt = now() - t0;
    EVP_MD_CTX_free(mc);
    sink += d[0];
    printf("sha256 (libcrypto): %d MiB in 1 MiB updates: %.0f MB/s\n", SHA_MIB, (double)SHA_MIB * (double)blen / dt / 1e6);
    free(buf);

    /* public-key algorithms, with the token a typical issuer signs (kid, iat, exp) */
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    static const struct {
        kl_jws_alg_t alg;
        const char *hdr;
    } pk[] = {
        {KL_JWS_RS256, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"},
        {KL_JWS_PS256, "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"},
        {KL_JWS_ES256, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"},
        {KL_JWS_EDDSA, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}"},
    };
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        EVP_PKEY *k = pk[i].alg == KL_JWS_ES256 ? ec : pk[i].alg == KL_JWS_EDDSA ? ed : rsa;
        kl_jws_keys_t *ks = kl_jws_keys_new();
        kl_jws_keys_add_pkey(ks, pk[i].alg, k, "k1", 2, err, sizeof err);
        n = make(tok, sizeof tok, pk[i].hdr, payload, k, pk[i].alg);
        if (kl_jwt_verify(tok, n, ks, &policy, t_now, &claims, err, sizeof err) != 0) {
            fprintf(stderr, "bench_jwt: %s token does not verify: %s\n", kl_jws_alg_name(pk[i].alg), err);
            return 1;
        }
        dt = per_verify(tok, n, ks, t_now, PK_ITERS);
        printf("jwt verify (%s%s): %zu-byte token: %.0f verifications/s, %.2f us each\n", kl_jws_alg_name(pk[i].alg),
               pk[i].alg == KL_JWS_ES256 ? ", P-256" : pk[i].alg == KL_JWS_EDDSA ? ", Ed25519" : ", 2048-bit", n,
               1 / dt, dt * 1e6);
        kl_jws_keys_free(ks);
    }

    /* keel's request path, RS256: every request verifies, or the shard's cache answers */
    char p2[256];
    snprintf(p2, sizeof p2, "{\"sub\":\"8f1c2a\",\"role\":\"member\",\"scope\":\"read write\",\"iat\":%lld,\"exp\":%lld}",
             (long long)time(NULL), (long long)time(NULL) + 3600);
    n = make(tok, sizeof tok, pk[0].hdr, p2, rsa, KL_JWS_RS256);
    double uncached = per_request(rsa, tok, n, "0"), cached = per_request(rsa, tok, n, "4096");
    printf("request path kl_auth_verify (RS256, %zu-byte token): without the token cache %.2f us, with it "
           "(a hit) %.3f us: %.0fx\n",
           n, uncached * 1e6, cached * 1e6, uncached / cached);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    kl_jws_keys_free(hs);
    if (sink == 42) printf("%llu\n", sink);
    return 0;
}
