/* slab.h - an allocator for many small objects whose sizes are known again when they are
 * freed (the caller recomputes them), used by one thread. Objects up to KL_SLAB_MAX bytes
 * take their size rounded up to 8: classes 8 bytes apart, each class served from 32 KiB
 * pages of equal slots, pages cut from 2 MiB chunks mapped from the kernel. A general
 * allocator keeps 4 classes per doubling (mimalloc: 385..448 bytes all take 448), which
 * for the response cache's entries cost more than any header field; here the rounding is
 * at most 7 bytes plus the page's header and tail, shared by its slots.
 *
 * What it costs instead: each class in use keeps a page it is filling (at most 32 KiB),
 * and a page goes back only when its last object is freed. Then it serves any class; the
 * last KL_SLAB_SPARE pages emptied stay as they are (an invalidation that empties pages
 * and the puts that refill them cost no system call), older ones are given back to the
 * kernel (madvise) until reused. Larger objects go to kl_trymalloc/kl_free. Under
 * AddressSanitizer free slots and unused page space are poisoned, and each object is
 * unpoisoned for exactly its bytes. */
#ifndef KL_SLAB_H
#define KL_SLAB_H

#include <stddef.h>

#include "core/list.h"

/** Largest object served from pages; larger ones are kl_trymalloc'd. */
#define KL_SLAB_MAX 2048
/** Bytes of one page (and its alignment: an object's page is found from its address). */
#define KL_SLAB_PAGE 32768
/** Empty pages kept in memory for reuse (2 MiB); more are given back to the kernel. */
#define KL_SLAB_SPARE 64

typedef struct kl_slab_page kl_slab_page_t;

typedef struct {
    kl_list_t partial[KL_SLAB_MAX / 8]; /* per class: pages with a free slot, most recent first */
    kl_slab_page_t *spare[KL_SLAB_SPARE]; /* the last pages emptied, still in memory */
    size_t nspare;
    kl_slab_page_t **empty;             /* older empty pages, their memory given back */
    size_t nempty;
    size_t pages;                       /* pages cut from chunks so far (empty ones included) */
    char *next_page, *chunk_end;        /* the current chunk's pages not cut yet */
    void **chunks;                      /* every mapping, for kl_slab_destroy */
    size_t nchunks;
} kl_slab_t;

/** Makes s an empty slab (maps nothing yet). */
void kl_slab_init(kl_slab_t *s);
/** n bytes (n >= 1), 8-byte aligned; NULL when memory ran out. */
void *kl_slab_alloc(kl_slab_t *s, size_t n);
/** Frees p, which kl_slab_alloc(s, n) returned, with that same n. NULL is ignored. */
void kl_slab_free(kl_slab_t *s, void *p, size_t n);
/** Unmaps every page: every object from s is gone (large ones must be freed before). */
void kl_slab_destroy(kl_slab_t *s);
/** Pages holding at least one object now (each KL_SLAB_PAGE bytes). */
size_t kl_slab_pages_used(const kl_slab_t *s);

#endif
