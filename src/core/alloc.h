/* alloc.h - the one place that chooses keel's allocator (mimalloc).
 * mimalloc keeps a heap per thread, so each shard thread allocates from its own heap
 * without locks; memory freed by another thread goes back through mimalloc's
 * thread-free list. kl_trymalloc is for callers that recover. kl_malloc spends the
 * emergency reserve (kl_alloc_reserve) on its first failure and dies only when even that is
 * gone; from any failure until the reserve is back, kl_alloc_pressure tells callers to shed
 * work. */
#ifndef KL_ALLOC_H
#define KL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* As Redis's zmalloc.h: the compiler may assume fresh, unaliased memory of the stated size
 * (better alias analysis, and -Wall/_FORTIFY_SOURCE see the sizes), and that the aborting
 * variants never return NULL. */
#define KL_ALLOC_FN(...) __attribute__((malloc, alloc_size(__VA_ARGS__), warn_unused_result))
#define KL_NONNULL __attribute__((returns_nonnull))

/** Allocates n bytes; aborts the process with a message when memory is exhausted even after
 * the emergency reserve was spent. */
void *kl_malloc(size_t n) KL_ALLOC_FN(1) KL_NONNULL;
/** Allocates n zeroed bytes; aborts on exhaustion. */
void *kl_calloc(size_t n) KL_ALLOC_FN(1) KL_NONNULL;
/** Resizes p to n bytes; aborts on exhaustion. */
void *kl_realloc(void *p, size_t n) __attribute__((alloc_size(2), warn_unused_result)) KL_NONNULL;
/** Allocates n bytes, or returns NULL when memory is exhausted. */
void *kl_trymalloc(size_t n) KL_ALLOC_FN(1);
/** Resizes p to n bytes, or returns NULL (p untouched) when memory is exhausted. */
void *kl_tryrealloc(void *p, size_t n) __attribute__((alloc_size(2), warn_unused_result));
/** Frees memory from any kl_ allocation function; NULL is ignored. */
void kl_free(void *p);
/** Takes (again) the emergency reserve of n bytes (0: the size last given), touching it so
 * it is real memory, and ends the pressure state. Returns 0 or -ENOMEM (still short). */
int kl_alloc_reserve(size_t n);
/** True from the first failed allocation until kl_alloc_reserve succeeds again. */
bool kl_alloc_pressure(void);
/** Gives the calling thread's freed memory back to the system now rather than when its
 * heap is next busy (mimalloc delays that): call it from an idle-enough point, not per request. */
void kl_alloc_collect(void);
/** Allocations that failed since startup (each retried or reported to its caller). */
unsigned long kl_alloc_failures(void);
/** Copies a NUL-terminated string into a new allocation; aborts on exhaustion. */
char *kl_strdup(const char *s) __attribute__((malloc, warn_unused_result)) KL_NONNULL;
/** Copies n bytes into a new NUL-terminated allocation; aborts on exhaustion. */
char *kl_strndup(const char *s, size_t n) __attribute__((malloc, warn_unused_result)) KL_NONNULL;

#endif
