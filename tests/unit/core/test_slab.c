#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/slab.h"
#include "kt.h"

/* Every live object holds its own byte pattern; overlapping slots would overwrite another's. */
static void fill(void *p, size_t n, unsigned id) { memset(p, (int)(id * 131u + 7u) & 0xff, n); }
static int intact(const void *p, size_t n, unsigned id) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != ((id * 131u + 7u) & 0xff)) return 0;
    return 1;
}

/* Every size from 1 to past KL_SLAB_MAX, three of each: aligned, disjoint, each keeps its
 * bytes while all the others are written, and all frees leave no page in use. */
static void every_size_disjoint(void) {
    enum { PER = 3, N = (KL_SLAB_MAX + 64) * PER };
    kl_slab_t s;
    kl_slab_init(&s);
    static void *p[N];
    int bad = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t n = i / PER + 1;
        p[i] = kl_slab_alloc(&s, n);
        if (!p[i] || (uintptr_t)p[i] % 8) bad++;
        else fill(p[i], n, i);
    }
    KT_EQ(bad, 0);
    for (unsigned i = 0; i < N; i++) bad += !intact(p[i], i / PER + 1, i);
    KT_EQ(bad, 0);
    KT_CHECK(kl_slab_pages_used(&s) > 0);
    for (unsigned i = 0; i < N; i++) kl_slab_free(&s, p[i], i / PER + 1);
    KT_EQ(kl_slab_pages_used(&s), 0);
    kl_slab_destroy(&s);
}

/* The rounding is at most 7 bytes: 10,000 objects of 434 bytes (the cache's entry for a
 * 315-byte body) fit in pages of 440-byte slots, headers and tails included. */
static void pages_hold_exact_sizes(void) {
    enum { N = 10000 };
    kl_slab_t s;
    kl_slab_init(&s);
    static void *p[N];
    for (unsigned i = 0; i < N; i++) KT_CHECK((p[i] = kl_slab_alloc(&s, 434)) != NULL);
    size_t per_page = (KL_SLAB_PAGE - 64) / 440; /* a header of at most 64 bytes */
    KT_CHECK(kl_slab_pages_used(&s) <= (N + per_page - 1) / per_page);
    for (unsigned i = 0; i < N; i++) kl_slab_free(&s, p[i], 434);
    kl_slab_destroy(&s);
}

/* Freed slots are used again before any new page: a steady churn of one size keeps the
 * pages it started with, and a page emptied of one size serves another, whether it was
 * kept as a spare or given back to the kernel (N objects take about 3x KL_SLAB_SPARE pages). */
static void churn_reuses_pages(void) {
    enum { N = 20000 };
    kl_slab_t s;
    kl_slab_init(&s);
    static void *p[N];
    for (unsigned i = 0; i < N; i++) p[i] = kl_slab_alloc(&s, 300);
    size_t pages = kl_slab_pages_used(&s), cut = s.pages;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (unsigned op = 0; op < 100000; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned i = (unsigned)(x % N);
        kl_slab_free(&s, p[i], 300);
        if ((p[i] = kl_slab_alloc(&s, 300)) == NULL) bad++;
    }
    KT_EQ(bad, 0);
    KT_EQ(kl_slab_pages_used(&s), pages);
    KT_EQ(s.pages, cut);
    for (unsigned i = 0; i < N; i++) kl_slab_free(&s, p[i], 300);
    KT_EQ(kl_slab_pages_used(&s), 0);
    KT_EQ(s.nspare, KL_SLAB_SPARE);
    KT_CHECK(s.nempty > KL_SLAB_SPARE);
    for (unsigned i = 0; i < N; i++) {
        if ((p[i] = kl_slab_alloc(&s, 200)) == NULL) bad++;
        else fill(p[i], 200, i);
    }
    for (unsigned i = 0; i < N; i++) bad += !intact(p[i], 200, i);
    KT_EQ(bad, 0);
    KT_CHECK(s.pages == cut); /* 200-byte slots need fewer pages than 300-byte ones had */
    for (unsigned i = 0; i < N; i++) kl_slab_free(&s, p[i], 200);
    kl_slab_destroy(&s);
}

/* Random sizes, random order, against a record of what each live object must hold. */
static void random_against_model(void) {
    enum { N = 4000 };
    kl_slab_t s;
    kl_slab_init(&s);
    static void *p[N];
    static size_t len[N];
    static unsigned id[N];
    uint64_t x = 88172645463325252ull;
    int bad = 0;
    for (unsigned op = 0; op < 200000; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned i = (unsigned)(x % N);
        if (p[i]) {
            if (!intact(p[i], len[i], id[i])) bad++;
            kl_slab_free(&s, p[i], len[i]);
            p[i] = NULL;
        } else {
            len[i] = 1 + (size_t)((x >> 20) % (KL_SLAB_MAX + 512)); /* some large ones too */
            id[i] = op;
            if ((p[i] = kl_slab_alloc(&s, len[i])) == NULL) bad++;
            else fill(p[i], len[i], op);
        }
    }
    for (unsigned i = 0; i < N; i++)
        if (p[i]) {
            if (!intact(p[i], len[i], id[i])) bad++;
            kl_slab_free(&s, p[i], len[i]);
        }
    KT_EQ(bad, 0);
    KT_EQ(kl_slab_pages_used(&s), 0);
    kl_slab_destroy(&s);
}

int main(void) {
    KT_RUN(every_size_disjoint);
    KT_RUN(pages_hold_exact_sizes);
    KT_RUN(churn_reuses_pages);
    KT_RUN(random_against_model);
    return KT_DONE();
}
