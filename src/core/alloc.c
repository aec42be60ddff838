#include "core/alloc.h"

#include <errno.h>
#include <mimalloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer every kl_ allocation goes through libc malloc, which ASan
 * intercepts: mimalloc's own arenas would hide use-after-free, overflows and leaks from it. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KL_ALLOC_LIBC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KL_ALLOC_LIBC 1
#endif
#ifdef KL_ALLOC_LIBC
#define mi_malloc malloc
#define mi_zalloc(n) calloc(1, (n))
#define mi_realloc realloc
#define mi_free free
#define mi_collect(force) ((void)(force))
#endif

/* The emergency reserve: memory taken (and touched) at startup and given back the first time
 * an allocation fails, so that the allocation, the request it serves and the shedding that
 * follows can complete instead of the process aborting. Process-wide like the allocator it
 * backs; every access is an atomic exchange, so shards never contend on a lock for it. */
static _Atomic(void *) reserve;
static _Atomic size_t reserve_size;
static _Atomic int pressure;
static _Atomic unsigned long failures;

static void note_failure(void) {
    atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    atomic_store_explicit(&pressure, 1, memory_order_relaxed);
}

/* After a failed allocation: hands the reserve back; true when there was one to hand back. */
static bool spend_reserve(void) {
    note_failure();
    void *r = atomic_exchange_explicit(&reserve, NULL, memory_order_acq_rel);
    if (!r) return false;
    mi_free(r);
    return true;
}

static void *oom(size_t n) {
    fprintf(stderr, "keel: out of memory allocating %zu bytes (the emergency reserve is spent)\n", n);
    abort();
}

void *kl_malloc(size_t n) {
    void *p = mi_malloc(n);
    if (!p && spend_reserve()) p = mi_malloc(n);
    return p ? p : oom(n);
}

void *kl_calloc(size_t n) {
    void *p = mi_zalloc(n);
    if (!p && spend_reserve()) p = mi_zalloc(n);
    return p ? p : oom(n);
}

void *kl_realloc(void *p, size_t n) {
    void *q = mi_realloc(p, n);
    if (!q && spend_reserve()) q = mi_realloc(p, n);
    return q ? q : oom(n);
}

void *kl_trymalloc(size_t n) {
    void *p = mi_malloc(n);
    if (!p) note_failure();
    return p;
}

void *kl_tryrealloc(void *p, size_t n) {
    void *q = mi_realloc(p, n);
    if (!q) note_failure();
    return q;
}

int kl_alloc_reserve(size_t n) {
    if (n) atomic_store_explicit(&reserve_size, n, memory_order_relaxed);
    n = atomic_load_explicit(&reserve_size, memory_order_relaxed);
    if (atomic_load_explicit(&reserve, memory_order_acquire)) {
        atomic_store_explicit(&pressure, 0, memory_order_relaxed);
        return 0;
    }
    void *r = mi_malloc(n);
    if (!r) return -ENOMEM;
    memset(r, 0, n); /* touched: real memory, not just address space, goes back when spent */
    void *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&reserve, &none, r, memory_order_acq_rel, memory_order_acquire))
        mi_free(r); /* another thread restored it first */
    atomic_store_explicit(&pressure, 0, memory_order_relaxed);
    return 0;
}

bool kl_alloc_pressure(void) { return atomic_load_explicit(&pressure, memory_order_relaxed) != 0; }

unsigned long kl_alloc_failures(void) { return atomic_load_explicit(&failures, memory_order_relaxed); }

void kl_free(void *p) { mi_free(p); }

char *kl_strndup(const char *s, size_t n) {
    char *d = kl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kl_strdup(const char *s) { return kl_strndup(s, strlen(s)); }

void kl_alloc_collect(void) { mi_collect(false); }
