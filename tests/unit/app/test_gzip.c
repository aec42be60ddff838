#include "app/gzip.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdbool.h>
#include <stdint.h>

#include "kt.h"
#include "kt_gunzip.h"

static size_t json_like(char *out, size_t cap) {
    size_t n = 0;
    for (int i = 0; n + 200 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n,
                              "%s{\"id\":%d,\"title\":\"Fix leaking roof #%d\",\"amount_cents\":%d,\"status\":\"open\"}",
                              i ? "," : "[", i, i * 7, 1000 + i * 13);
    out[n++] = ']';
    return n;
}

static void round_trip_levels(void) {
    static char body[8192];
    size_t n = json_like(body, sizeof body);
    KT_CHECK(n >= KL_GZIP_MIN_BYTES);
    for (int level = 0; level <= 12; level++) {
        kl_gzip_t *z = kl_gzip_new(level);
        KT_CHECK(z != NULL);
        if (!z) continue;
        KT_EQ(kl_gzip_level(z), level);
        size_t cap = kl_gzip_bound(z, n);
        KT_CHECK(cap >= n);
        char *out = malloc(cap);
        ssize_t m = kl_gzip_compress(z, body, n, out, cap);
        KT_CHECK(m > 0);
        if (m > 0) {
            KT_CHECK((unsigned char)out[0] == 0x1f && (unsigned char)out[1] == 0x8b); /* gzip magic */
            KT_CHECK(kt_gunzip_equals(out, (size_t)m, body, n));
            if (level > 0) KT_CHECK((size_t)m < n / 3); /* repetitive JSON compresses well */
        }
        free(out);
        kl_gzip_free(z);
    }
}

static void bad_levels(void) {
    KT_CHECK(kl_gzip_new(-1) == NULL);
    KT_CHECK(kl_gzip_new(13) == NULL);
    kl_gzip_free(NULL);
}

static void incompressible_and_enospc(void) {
    kl_gzip_t *z = kl_gzip_new(KL_GZIP_DEFAULT_LEVEL);
    enum { N = 4096 };
    static unsigned char noise[N];
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        noise[i] = (unsigned char)(x >> 32);
    }
    size_t cap = kl_gzip_bound(z, N);
    char *out = malloc(cap);
    /* the bound is always enough, even when gzip grows the data */
    ssize_t m = kl_gzip_compress(z, noise, N, out, cap);
    KT_CHECK(m > N);
    KT_CHECK(m > 0 && kt_gunzip_equals(out, (size_t)m, (const char *)noise, N));
    /* cap = len: the caller's cheap "would gzip be smaller?" test */
    KT_EQ(kl_gzip_compress(z, noise, N, out, N), -ENOSPC);
    KT_EQ(kl_gzip_compress(z, noise, N, out, 10), -ENOSPC);
    KT_EQ(kl_gzip_compress(z, noise, N, out, 0), -ENOSPC);
    /* cap below the compressed size: -ENOSPC; a little slack above it: fits (libdeflate
     * writes whole words and wants up to 8 spare bytes at the end) */
    static char body[4096];
    size_t n = json_like(body, sizeof body);
    m = kl_gzip_compress(z, body, n, out, cap);
    KT_CHECK(m > 0);
    if (m > 0) {
        KT_EQ(kl_gzip_compress(z, body, n, out, (size_t)m - 1), -ENOSPC);
        KT_EQ(kl_gzip_compress(z, body, n, out, (size_t)m + 8), m);
    }
    /* empty input is still a valid gzip member */
    m = kl_gzip_compress(z, "", 0, out, cap);
    KT_CHECK(m > 0 && kt_gunzip_equals(out, (size_t)m, "", 0));
    free(out);
    kl_gzip_free(z);
}

static void reuse_is_stable(void) {
    /* one compressor per shard, many bodies: same input, same output */
    kl_gzip_t *z = kl_gzip_new(1);
    static char body[4096], a[8192], b[8192];
    size_t n = json_like(body, sizeof body);
    ssize_t ma = kl_gzip_compress(z, body, n, a, sizeof a);
    for (int i = 0; i < 10; i++) (void)kl_gzip_compress(z, body + i, n - (size_t)i, b, sizeof b);
    ssize_t mb = kl_gzip_compress(z, body, n, b, sizeof b);
    KT_EQ(ma, mb);
    KT_CHECK(ma > 0 && memcmp(a, b, (size_t)ma) == 0);
    kl_gzip_free(z);
}

int main(void) {
    KT_RUN(round_trip_levels);
    KT_RUN(bad_levels);
    KT_RUN(incompressible_and_enospc);
    KT_RUN(reuse_is_stable);
    return KT_DONE();
}
