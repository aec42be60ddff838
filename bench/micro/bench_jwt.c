/* bench_jwt.c - microbenchmark of HS256 verification for a typical ~200-byte bearer token
 * (header, HMAC, payload parse, claim checks), of the HMAC alone, and of SHA-256 throughput.
 * Prints figures only; it asserts nothing about speed. */
#include "micro.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/base64url.h"
#include "proto/jwt.h"
#include "proto/sha256.h"

#define VERIFY_ITERS 500000
#define SHA_MIB 256

static const char secret[] = "a-32-byte-secret-for-the-bench!!";
static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
/* what a Node.js app typically puts in an access token */
static const char payload[] =
    "{\"sub\":\"8f1c2a\",\"role\":\"member\",\"scope\":\"read write\",\"iat\":1700000000,\"exp\":1700003600}";

int main(void) {
    static kl_jwt_claims_t claims;
    char tok[512];
    size_t n = kl_base64url_encode((const uint8_t *)header, sizeof header - 1, tok, sizeof tok);
    tok[n++] = '.';
    n += kl_base64url_encode((const uint8_t *)payload, sizeof payload - 1, tok + n, sizeof tok - n);
    uint8_t mac[32];
    size_t signed_len = n;
    kl_hmac_sha256(secret, sizeof secret - 1, tok, n, mac);
    tok[n++] = '.';
    n += kl_base64url_encode(mac, 32, tok + n, sizeof tok - n);

    char err[32];
    unsigned long long sink = 0;
    int64_t t_now = 1700000100;
    if (kl_jwt_verify(tok, n, (const uint8_t *)secret, sizeof secret - 1, t_now, &claims, err, sizeof err) != 0) {
        fprintf(stderr, "bench_jwt: token does not verify: %s\n", err);
        return 1;
    }
    double t0 = now();
    for (int i = 0; i < VERIFY_ITERS; i++) {
        int r = kl_jwt_verify(tok, n, (const uint8_t *)secret, sizeof secret - 1, t_now, &claims, err, sizeof err);
        sink += (unsigned)r + claims.count;
        __asm__ volatile("" ::: "memory");
    }
    double dt = now() - t0;
    printf("jwt verify (HS256): %zu-byte token, %u claims, %d iterations\n", n, claims.count, VERIFY_ITERS);
    printf("  %.0f verifications/s, %.2f us each\n", VERIFY_ITERS / dt, dt * 1e6 / VERIFY_ITERS);

    /* the same token with a wrong signature: the cost an attacker can impose per request */
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    t0 = now();
    for (int i = 0; i < VERIFY_ITERS; i++) {
        int r = kl_jwt_verify(tok, n, (const uint8_t *)secret, sizeof secret - 1, t_now, &claims, err, sizeof err);
        sink += (unsigned)-r;
        __asm__ volatile("" ::: "memory");
    }
    dt = now() - t0;
    printf("  forged signature: %.0f rejections/s, %.2f us each\n", VERIFY_ITERS / dt, dt * 1e6 / VERIFY_ITERS);

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
    if (kl_jwt_verify(big, bn, (const uint8_t *)secret, sizeof secret - 1, t_now, &claims, err, sizeof err) !=
        KL_JWT_ESIGNATURE) {
        fprintf(stderr, "bench_jwt: hostile header not parsed to the signature check: %s\n", err);
        return 1;
    }
    t0 = now();
    for (int i = 0; i < VERIFY_ITERS / 50; i++) {
        int r = kl_jwt_verify(big, bn, (const uint8_t *)secret, sizeof secret - 1, t_now, &claims, err, sizeof err);
        sink += (unsigned)-r;
        __asm__ volatile("" ::: "memory");
    }
    dt = now() - t0;
    printf("  worst-case unsigned header (%zu-byte token, %d members, %zu-byte names): %.2f us each\n", bn,
           KL_JWT_MAX_CLAIMS, name_len + 2, dt * 1e6 / (VERIFY_ITERS / 50));

    t0 = now();
    for (int i = 0; i < VERIFY_ITERS; i++) {
        kl_hmac_sha256(secret, sizeof secret - 1, tok, signed_len, mac);
        sink += mac[0];
        __asm__ volatile("" ::: "memory");
    }
    dt = now() - t0;
    printf("hmac-sha256 of the %zu signed bytes alone: %.2f us each\n", signed_len, dt * 1e6 / VERIFY_ITERS);

    size_t blen = 1 << 20;
    uint8_t *buf = malloc(blen), d[32];
    if (!buf) return 1;
    for (size_t i = 0; i < blen; i++) buf[i] = (uint8_t)(i * 7);
    kl_sha256_t ctx;
    kl_sha256_init(&ctx);
    t0 = now();
    for (int i = 0; i < SHA_MIB; i++) kl_sha256_update(&ctx, buf, blen);
    kl_sha256_final(&ctx, d);
    dt = now() - t0;
    sink += d[0];
    printf("sha256: %d MiB in 1 MiB updates: %.0f MB/s\n", SHA_MIB, (double)SHA_MIB * (double)blen / dt / 1e6);

    t0 = now();
    for (int i = 0; i < 2000000; i++) {
        kl_sha256(buf + (i & 1023), 64, d);
        sink += d[0];
    }
    dt = now() - t0;
    printf("sha256: 64-byte messages (2 blocks each): %.0f ns each\n", dt * 1e9 / 2000000);
    free(buf);
    if (sink == 42) printf("%llu\n", sink);
    return 0;
}
