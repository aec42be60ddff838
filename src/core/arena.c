#include "core/arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

struct kl_arena_chunk {
    kl_arena_chunk_t *next;
    size_t size; /* usable bytes after the header */
    max_align_t _align[];
};

#define HDR sizeof(kl_arena_chunk_t)
#define ALIGN 16

void kl_recycler_init(kl_recycler_t *r, size_t chunk_size, size_t low_watermark) {
    r->chunk_size = chunk_size < 2 * HDR ? 2 * HDR : chunk_size;
    r->low_watermark = low_watermark;
    r->count = 0;
    r->_free = NULL;
}

size_t kl_recycler_trim(kl_recycler_t *r) {
    size_t freed = 0;
    while (r->count > r->low_watermark) {
        kl_arena_chunk_t *c = r->_free;
        r->_free = c->next;
        r->count--;
        kl_free(c);
        freed++;
    }
    return freed;
}

void kl_recycler_destroy(kl_recycler_t *r) {
    size_t keep = r->low_watermark;
    r->low_watermark = 0;
    kl_recycler_trim(r);
    r->low_watermark = keep;
}

void kl_arena_init(kl_arena_t *a, kl_recycler_t *r) {
    a->recycler = r;
    a->_chunks = a->_large = NULL;
    a->_cur = a->_end = NULL;
}

static void *alloc_large(kl_arena_t *a, size_t n, bool try) {
    size_t size = n > SIZE_MAX - HDR ? SIZE_MAX : HDR + n;
    kl_arena_chunk_t *c = try ? kl_trymalloc(size) : kl_malloc(size);
    if (!c) return NULL;
    c->size = n;
    c->next = a->_large;
    a->_large = c;
    return (char *)c + HDR;
}

static void *arena_alloc(kl_arena_t *a, size_t n, bool try) {
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < n) need = SIZE_MAX; /* absurd n: let the allocator report the failure */
    if ((size_t)(a->_end - a->_cur) >= need && a->_cur) {
        void *p = a->_cur;
        a->_cur += need;
        return p;
    }
    kl_recycler_t *r = a->recycler;
    if (need > (r->chunk_size - HDR) / 4) return alloc_large(a, need, try);
    kl_arena_chunk_t *c = r->_free;
    if (c) {
        r->_free = c->next;
        r->count--;
    } else {
        c = try ? kl_trymalloc(r->chunk_size) : kl_malloc(r->chunk_size);
        if (!c) return NULL;
        c->size = r->chunk_size - HDR;
    }
    c->next = a->_chunks;
    a->_chunks = c;
    a->_cur = (char *)c + HDR + need;
    a->_end = (char *)c + HDR + c->size;
    return (char *)c + HDR;
}

void *kl_arena_alloc(kl_arena_t *a, size_t n) { return arena_alloc(a, n, false); }

void *kl_arena_tryalloc(kl_arena_t *a, size_t n) { return arena_alloc(a, n, true); }

char *kl_arena_strndup(kl_arena_t *a, const char *s, size_t n) {
    char *d = kl_arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void kl_arena_reset(kl_arena_t *a) {
    kl_recycler_t *r = a->recycler;
    while (a->_chunks) {
        kl_arena_chunk_t *c = a->_chunks;
        a->_chunks = c->next;
        c->next = r->_free;
        r->_free = c;
        r->count++;
    }
    while (a->_large) {
        kl_arena_chunk_t *c = a->_large;
        a->_large = c->next;
        kl_free(c);
    }
    a->_cur = a->_end = NULL;
}
