#include "core/slab.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK ((size_t)2 << 20)
#define PAGES_PER_CHUNK (CHUNK / KL_SLAB_PAGE)

/* At the start of every page; its slots follow. A page is on its class's partial list
 * while it has a free slot, on no list when full (link unlinked), in s->spare or s->empty
 * when it has no object (then size is 0). */
struct kl_slab_page {
    kl_list_t link;
    void *free;    /* freed slots, each holding the next in its first 8 bytes */
    uint32_t size; /* slot size */
    uint32_t used; /* objects in it */
    uint32_t cut;  /* offset of the first slot never handed out */
};

#define HDR ((sizeof(kl_slab_page_t) + 7) & ~(size_t)7)

_Static_assert((KL_SLAB_PAGE & (KL_SLAB_PAGE - 1)) == 0 && CHUNK % KL_SLAB_PAGE == 0, "pages tile chunks");
_Static_assert(KL_SLAB_MAX % 8 == 0 && HDR + KL_SLAB_MAX <= KL_SLAB_PAGE, "a page holds a slot of every class");

static inline size_t class_of(size_t n) { return (n + 7) / 8 - 1; }

void kl_slab_init(kl_slab_t *s) {
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < KL_SLAB_MAX / 8; i++) kl_list_init(&s->partial[i]);
}

/* Maps a chunk, aligned to a page by mapping one page more (what is never touched costs
 * no memory); makes room in s->empty for all its pages first, so that freeing never needs
 * to allocate. */
static int map_chunk(kl_slab_t *s) {
    size_t pages = s->pages + PAGES_PER_CHUNK;
    kl_slab_page_t **empty = kl_tryrealloc(s->empty, pages * sizeof *empty);
    if (!empty) return -1;
    s->empty = empty;
    void **chunks = kl_tryrealloc(s->chunks, (s->nchunks + 1) * sizeof *chunks);
    if (!chunks) return -1;
    s->chunks = chunks;
    void *m = mmap(NULL, CHUNK + KL_SLAB_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    s->chunks[s->nchunks++] = m;
    uintptr_t first = ((uintptr_t)m + KL_SLAB_PAGE - 1) & ~(uintptr_t)(KL_SLAB_PAGE - 1);
    s->next_page = (char *)first;
    s->chunk_end = s->next_page + CHUNK;
    return 0;
}

static kl_slab_page_t *new_page(kl_slab_t *s, size_t size) {
    kl_slab_page_t *pg;
    if (s->nspare) {
        pg = s->spare[--s->nspare];
    } else if (s->nempty) {
        pg = s->empty[--s->nempty];
    } else {
        if (s->next_page == s->chunk_end && map_chunk(s) < 0) return NULL;
        pg = (kl_slab_page_t *)s->next_page;
        s->next_page += KL_SLAB_PAGE;
        s->pages++;
        POISON((char *)pg + HDR, KL_SLAB_PAGE - HDR);
    }
    pg->free = NULL;
    pg->size = (uint32_t)size;
    pg->used = 0;
    pg->cut = (uint32_t)HDR;
    pg->link.next = NULL;
    return pg;
}

static inline bool page_full(const kl_slab_page_t *pg) { return !pg->free && pg->cut + pg->size > KL_SLAB_PAGE; }

void *kl_slab_alloc(kl_slab_t *s, size_t n) {
    if (n > KL_SLAB_MAX) return kl_trymalloc(n);
    if (n == 0) n = 1;
    size_t cls = class_of(n), size = (cls + 1) * 8;
    kl_list_t *list = &s->partial[cls];
    kl_slab_page_t *pg;
    if (!kl_list_empty(list)) {
        pg = kl_container_of(list->next, kl_slab_page_t, link);
    } else {
        if ((pg = new_page(s, size)) == NULL) return NULL;
        kl_list_unshift(list, &pg->link);
    }
    char *p;
    if (pg->free) {
        p = pg->free;
        UNPOISON(p, sizeof(void *));
        memcpy(&pg->free, p, sizeof(void *));
        POISON(p, size);
    } else {
        p = (char *)pg + pg->cut;
        pg->cut += (uint32_t)size;
    }
    UNPOISON(p, n);
    pg->used++;
    if (page_full(pg)) kl_list_remove(&pg->link);
    return p;
}

void kl_slab_free(kl_slab_t *s, void *p, size_t n) {
    if (!p) return;
    if (n > KL_SLAB_MAX) {
        kl_free(p);
        return;
    }
    kl_slab_page_t *pg = (kl_slab_page_t *)((uintptr_t)p & ~(uintptr_t)(KL_SLAB_PAGE - 1));
    bool was_full = !kl_list_linked(&pg->link);
    POISON(p, pg->size);
    UNPOISON(p, sizeof(void *));
    memcpy(p, &pg->free, sizeof(void *));
    POISON(p, sizeof(void *));
    pg->free = p;
    if (--pg->used == 0) {
        kl_list_remove(&pg->link);
        pg->size = 0;
        if (s->nspare == KL_SLAB_SPARE) {
            /* The oldest spare's memory goes back to the kernel (its header too: new_page
             * rewrites it); the page just emptied takes its place, the likeliest to be
             * refilled soon. */
            kl_slab_page_t *old = s->spare[0];
            memmove(&s->spare[0], &s->spare[1], (KL_SLAB_SPARE - 1) * sizeof s->spare[0]);
            s->nspare--;
            madvise(old, KL_SLAB_PAGE, MADV_DONTNEED);
            s->empty[s->nempty++] = old;
        }
        s->spare[s->nspare++] = pg;
        return;
    }
    /* Most recent first: the next allocation of this class refills the slot just freed. */
    if (was_full) kl_list_unshift(&s->partial[class_of(pg->size)], &pg->link);
}

void kl_slab_destroy(kl_slab_t *s) {
    for (size_t i = 0; i < s->nchunks; i++) {
        UNPOISON(s->chunks[i], CHUNK + KL_SLAB_PAGE);
        munmap(s->chunks[i], CHUNK + KL_SLAB_PAGE);
    }
    kl_free(s->chunks);
    kl_free(s->empty);
    kl_slab_init(s);
}

size_t kl_slab_pages_used(const kl_slab_t *s) { return s->pages - s->nspare - s->nempty; }
