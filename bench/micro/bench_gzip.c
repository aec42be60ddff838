/* bench_gzip.c - compressing a ~4 KiB JSON response (a page of bounties) with the shard's
 * libdeflate compressor at level 1 (keel's default) and level 6 (zlib's default), the
 * -ENOSPC path for an incompressible body with cap = len, and the ETag hash of the same
 * body for scale. Fixed iteration counts; prints figures only, asserts nothing. */
#include "micro.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/gzip.h"
#include "proto/etag.h"

#define ITERS 100000

static const char *words[] = {"fix", "leaking", "roof", "garden", "paint", "fence", "move", "piano", "walk", "dog",
                              "assemble", "desk", "clean", "gutters", "tutor", "math", "repair", "bike"};
static const char *statuses[] = {"open", "in_progress", "completed", "cancelled"};

/* A page of bounties as PostgreSQL's json_agg would return it, about 4 KiB. */
static size_t page(char *out, size_t cap) {
    uint64_t x = 0x2545f4914f6cdd1dull;
    size_t n = 0;
    out[n++] = '[';
    for (int i = 0; n < 3900; i++) {
        char title[64];
        int tn = 0;
        for (int w = 0; w < 3; w++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            tn += snprintf(title + tn, sizeof title - (size_t)tn, "%s%s", w ? " " : "", words[x % 18]);
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n += (size_t)snprintf(out + n, cap - n,
                              "%s{\"id\":%d,\"user_id\":%u,\"title\":\"%s\",\"amount_cents\":%u,\"location\":\"%s\","
                              "\"status\":\"%s\",\"created_at\":\"2024-05-%02uT%02u:%02u:%02u.%06u+00:00\"}",
                              i ? "," : "", 98000 - i * 17, (unsigned)(x % 10000), title, (unsigned)(x >> 20) % 500000,
                              words[(x >> 8) % 18], statuses[(x >> 12) % 4], 1 + (unsigned)(x >> 16) % 28,
                              (unsigned)(x >> 24) % 24, (unsigned)(x >> 32) % 60, (unsigned)(x >> 40) % 60,
                              (unsigned)(x >> 44) % 1000000);
    }
    out[n++] = ']';
    return n;
}

static void one_level(int level, const char *body, size_t n) {
    kl_gzip_t *z = kl_gzip_new(level);
    size_t cap = kl_gzip_bound(z, n);
    char *out = malloc(cap);
    ssize_t m = 0;
    for (int i = 0; i < 1000; i++) m = kl_gzip_compress(z, body, n, out, cap);
    double t0 = now();
    for (int i = 0; i < ITERS; i++) m = kl_gzip_compress(z, body, n, out, cap);
    double dt = now() - t0;
    printf("  level %-2d %8.1f MB/s %9.0f ns/op   %zu -> %zd bytes (ratio %.2f, %.1f%% of identity)\n", level,
           (double)n * ITERS / dt / 1e6, dt * 1e9 / ITERS, n, m, (double)n / (double)m, 100.0 * (double)m / (double)n);
    free(out);
    kl_gzip_free(z);
}

int main(void) {
    static char body[8192];
    size_t n = page(body, sizeof body);
    printf("gzip: a %zu-byte JSON page, %d compressions per level\n", n, ITERS);
    one_level(1, body, n);
    one_level(6, body, n);

    /* incompressible 4 KiB with cap = len: how fast the caller learns to send identity */
    static unsigned char noise[4096], out[4096];
    uint64_t x = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        noise[i] = (unsigned char)(x >> 32);
    }
    kl_gzip_t *z = kl_gzip_new(KL_GZIP_DEFAULT_LEVEL);
    long enospc = 0;
    double t0 = now();
    for (int i = 0; i < ITERS / 4; i++) enospc += kl_gzip_compress(z, noise, sizeof noise, out, sizeof out) < 0;
    double dt = now() - t0;
    printf("  level 1, incompressible 4096 B, cap=len: %9.0f ns/op (%ld of %d -ENOSPC)\n", dt * 1e9 / (ITERS / 4),
           enospc, ITERS / 4);
    kl_gzip_free(z);

    /* the ETag of the same body, computed once per cache entry */
    char tag[KL_ETAG_MAX];
    unsigned long long sink = 0;
    t0 = now();
    for (int i = 0; i < ITERS * 10; i++) {
        body[0] = (char)('[' + (i & 1)); /* defeat hoisting */
        sink += kl_etag_make(body, n, false, tag) + (unsigned char)tag[1];
    }
    dt = now() - t0;
    printf("  etag (kl_hash64) of the page: %8.1f ns/op, %.1f GB/s\n", dt * 1e9 / (ITERS * 10),
           (double)n * ITERS * 10 / dt / 1e9);
    if (sink == 42) printf("(sink)\n");
    return 0;
}
