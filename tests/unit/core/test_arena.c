#include <stdint.h>

#include "core/arena.h"
#include "kt.h"

static void alloc_is_aligned_and_disjoint(void) {
    kl_recycler_t r;
    kl_recycler_init(&r, 4096, 4);
    kl_arena_t a;
    kl_arena_init(&a, &r);
    char *prev = NULL;
    for (int i = 1; i < 200; i++) {
        char *p = kl_arena_alloc(&a, (size_t)i);
        KT_CHECK(((uintptr_t)p & 15) == 0);
        memset(p, i & 0xff, (size_t)i);
        if (prev) KT_CHECK(prev[0] == (char)((i - 1) & 0xff)); /* earlier bytes untouched */
        prev = p;
    }
    kl_arena_reset(&a);
    kl_recycler_destroy(&r);
}

static void reset_recycles_chunks(void) {
    kl_recycler_t r;
    kl_recycler_init(&r, 4096, 2);
    kl_arena_t a;
    kl_arena_init(&a, &r);
    for (int i = 0; i < 10; i++) kl_arena_alloc(&a, 900); /* 4 per chunk -> 3 chunks */
    KT_EQ(r.count, 0);
    kl_arena_reset(&a);
    KT_EQ(r.count, 3);
    for (int i = 0; i < 10; i++) kl_arena_alloc(&a, 900); /* served from the spares */
    KT_EQ(r.count, 0);
    kl_arena_reset(&a);
    KT_EQ(kl_recycler_trim(&r), 1); /* down to the low watermark */
    KT_EQ(r.count, 2);
    kl_recycler_destroy(&r);
    KT_EQ(r.count, 0);
}

static void large_allocations_bypass_chunks(void) {
    kl_recycler_t r;
    kl_recycler_init(&r, 4096, 8);
    kl_arena_t a;
    kl_arena_init(&a, &r);
    char *big = kl_arena_alloc(&a, 100000);
    memset(big, 7, 100000);
    KT_CHECK(((uintptr_t)big & 15) == 0);
    char *small = kl_arena_alloc(&a, 16);
    KT_CHECK(small != NULL);
    kl_arena_reset(&a);
    KT_EQ(r.count, 1); /* only the standard chunk is recycled; the large one was freed */
    kl_recycler_destroy(&r);
}

static void strndup_terminates(void) {
    kl_recycler_t r;
    kl_recycler_init(&r, 4096, 1);
    kl_arena_t a;
    kl_arena_init(&a, &r);
    char *s = kl_arena_strndup(&a, "hello world", 5);
    KT_CHECK(strcmp(s, "hello") == 0);
    kl_arena_reset(&a);
    kl_recycler_destroy(&r);
}

int main(void) {
    KT_RUN(alloc_is_aligned_and_disjoint);
    KT_RUN(reset_recycles_chunks);
    KT_RUN(large_allocations_bypass_chunks);
    KT_RUN(strndup_terminates);
    return KT_DONE();
}
