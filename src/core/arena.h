/* arena.h - per-request bump allocator fed by a per-shard chunk recycler (h2o's mem pool).
 * A request allocates freely from its arena and never frees; kl_arena_reset after the
 * response hands every chunk back to the shard's recycler at once. The recycler keeps
 * spare chunks for the next request and is trimmed to a low watermark so a burst does
 * not pin memory forever. Neither is thread-safe: both belong to one shard. */
#ifndef KL_ARENA_H
#define KL_ARENA_H

#include <stddef.h>

typedef struct kl_arena_chunk kl_arena_chunk_t;

typedef struct {
    size_t chunk_size;     /**< bytes per chunk, header included */
    size_t low_watermark;  /**< spare chunks kl_recycler_trim keeps */
    size_t count;          /**< spare chunks held now */
    kl_arena_chunk_t *_free;
} kl_recycler_t;

typedef struct {
    kl_recycler_t *recycler;   /**< where chunks come from and return to */
    kl_arena_chunk_t *_chunks; /**< standard chunks in use, newest first */
    kl_arena_chunk_t *_large;  /**< dedicated allocations larger than a quarter chunk */
    char *_cur, *_end;         /**< free space in the newest chunk */
} kl_arena_t;

/** Prepares a recycler handing out chunk_size-byte chunks, keeping low_watermark spares. */
void kl_recycler_init(kl_recycler_t *r, size_t chunk_size, size_t low_watermark);
/** Frees spare chunks above the low watermark; returns how many were freed. */
size_t kl_recycler_trim(kl_recycler_t *r);
/** Frees every spare chunk (shard teardown). */
void kl_recycler_destroy(kl_recycler_t *r);

/** Prepares an empty arena drawing from r; allocates nothing yet. */
void kl_arena_init(kl_arena_t *a, kl_recycler_t *r);
/** Returns n bytes aligned to 16, valid until the next reset; aborts on OOM. */
void *kl_arena_alloc(kl_arena_t *a, size_t n);
/** Like kl_arena_alloc, but returns NULL when memory is exhausted: for allocations whose
 * size a request decides (a body, a result), so that running out fails that request only. */
void *kl_arena_tryalloc(kl_arena_t *a, size_t n);
/** Copies n bytes into the arena and NUL-terminates them. */
char *kl_arena_strndup(kl_arena_t *a, const char *s, size_t n);
/** Releases everything allocated: standard chunks go to the recycler, large ones are freed. */
void kl_arena_reset(kl_arena_t *a);

#endif
