/* bench_arena.c - per-request arena (allocate, reset) against malloc/free of the same
 * objects. A "request" makes 24 allocations of 16..512 bytes, as parsing, routing and
 * building a response do, then releases them all. malloc here is whatever the binary
 * links (mimalloc in keel's build). Prints figures only; it asserts nothing about speed. */
#include "micro.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"

#define REQUESTS 2000000
#define ALLOCS 24

/* Runs n requests of ALLOCS arena allocations of sizes[], each touched, then a reset. */
static double arena_requests(kl_arena_t *a, const size_t *sizes, int n, unsigned long long *sink) {
    double t0 = now();
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < ALLOCS; i++) {
            char *p = kl_arena_alloc(a, sizes[i]);
            p[0] = (char)i; /* touch it, as a real user would */
            *sink += (unsigned char)p[0];
        }
        kl_arena_reset(a);
        __asm__ volatile("" ::: "memory");
    }
    return now() - t0;
}

static void report(const char *what, double dt, double ops_total) {
    printf("  %-28s %12.0f ops/s %8.2f ns/op %9.1f ns/request\n", what, ops_total / dt, dt * 1e9 / ops_total,
           dt * 1e9 / REQUESTS);
}

int main(void) {
    size_t sizes[ALLOCS];
    unsigned seed = 12345;
    size_t per_request = 0;
    for (int i = 0; i < ALLOCS; i++) {
        seed = seed * 1103515245u + 12345u;
        sizes[i] = 16 + (seed >> 16) % 497; /* 16..512 bytes */
        per_request += sizes[i];
    }
    unsigned long long sink = 0;
    void *ptrs[ALLOCS];

    kl_recycler_t rec;
    kl_arena_t a;
    kl_recycler_init(&rec, 16384, 4);
    kl_arena_init(&a, &rec);
    for (int r = 0; r < 1000; r++) { /* warm-up: the recycler holds its chunks */
        for (int i = 0; i < ALLOCS; i++) sink += (uintptr_t)kl_arena_alloc(&a, sizes[i]) & 1;
        kl_arena_reset(&a);
    }
    double dt_arena = arena_requests(&a, sizes, REQUESTS, &sink);

    for (int r = 0; r < 1000; r++) {
        for (int i = 0; i < ALLOCS; i++) ptrs[i] = malloc(sizes[i]);
        for (int i = 0; i < ALLOCS; i++) free(ptrs[i]);
    }
    double t0 = now();
    for (int r = 0; r < REQUESTS; r++) {
        for (int i = 0; i < ALLOCS; i++) {
            char *p = malloc(sizes[i]);
            if (!p) return 1;
            p[0] = (char)i;
            ptrs[i] = p;
            sink += (unsigned char)p[0];
        }
        for (int i = 0; i < ALLOCS; i++) free(ptrs[i]);
        __asm__ volatile("" ::: "memory");
    }
    double dt_malloc = now() - t0;

    /* a larger request: one 6 KiB body buffer (beyond a quarter chunk: its own allocation) */
    size_t big[ALLOCS];
    memcpy(big, sizes, sizeof big);
    big[5] = 6144;
    double dt_big = arena_requests(&a, big, REQUESTS / 4, &sink);

    printf("arena vs malloc: %d requests of %d allocations (%zu bytes), fixed sizes 16..512\n", REQUESTS, ALLOCS,
           per_request);
    report("arena alloc + reset", dt_arena, (double)REQUESTS * ALLOCS);
    report("malloc + free", dt_malloc, (double)REQUESTS * ALLOCS);
    printf("  %-28s %12.0f ops/s %8.2f ns/op %9.1f ns/request\n", "arena, one 6 KiB object", (double)REQUESTS / 4 * ALLOCS / dt_big,
           dt_big * 1e9 / ((double)REQUESTS / 4 * ALLOCS), dt_big * 1e9 / (REQUESTS / 4));
    printf("  arena is %.1fx malloc/free per request\n", dt_malloc / dt_arena);
    kl_arena_reset(&a);
    kl_recycler_destroy(&rec);
    if (sink == 42) printf("(sink)\n");
    return 0;
}
