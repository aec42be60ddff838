/* alloc.h - the one place that chooses keel's allocator (mimalloc).
 * mimalloc keeps a heap per thread, so each shard thread allocates from its own heap
 * without locks; memory freed by another thread goes back through mimalloc's
 * thread-free list. kl_malloc dies on OOM; kl_trymalloc is for callers that recover. */
#ifndef KL_ALLOC_H
#define KL_ALLOC_H

#include <stddef.h>

/** Allocates n bytes; aborts the process with a message when memory is exhausted. */
void *kl_malloc(size_t n);
/** Allocates n zeroed bytes; aborts on exhaustion. */
void *kl_calloc(size_t n);
/** Resizes p to n bytes; aborts on exhaustion. */
void *kl_realloc(void *p, size_t n);
/** Allocates n bytes, or returns NULL when memory is exhausted. */
void *kl_trymalloc(size_t n);
/** Frees memory from any kl_ allocation function; NULL is ignored. */
void kl_free(void *p);
/** Copies a NUL-terminated string into a new allocation; aborts on exhaustion. */
char *kl_strdup(const char *s);
/** Copies n bytes into a new NUL-terminated allocation; aborts on exhaustion. */
char *kl_strndup(const char *s, size_t n);

#endif
