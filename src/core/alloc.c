#include "core/alloc.h"

#include <mimalloc.h>
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
#endif

static void *oom(size_t n) {
    fprintf(stderr, "keel: out of memory allocating %zu bytes\n", n);
    abort();
}

void *kl_malloc(size_t n) {
    void *p = mi_malloc(n);
    return p ? p : oom(n);
}

void *kl_calloc(size_t n) {
    void *p = mi_zalloc(n);
    return p ? p : oom(n);
}

void *kl_realloc(void *p, size_t n) {
    void *q = mi_realloc(p, n);
    return q ? q : oom(n);
}

void *kl_trymalloc(size_t n) { return mi_malloc(n); }

void *kl_tryrealloc(void *p, size_t n) { return mi_realloc(p, n); }

void kl_free(void *p) { mi_free(p); }

char *kl_strndup(const char *s, size_t n) {
    char *d = kl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kl_strdup(const char *s) { return kl_strndup(s, strlen(s)); }
