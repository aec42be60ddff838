/* gzip.h - one gzip compressor per shard over libdeflate (whole-buffer, no streaming: a
 * cached body is compressed once and reused). The compressor holds libdeflate's match
 * finder tables, so make one per shard and reuse it; it is not thread-safe.
 * The caller's rules: compress only bodies of at least KL_GZIP_MIN_BYTES, and only when
 * kl_accept_gzip() says the client takes gzip. */
#ifndef KL_GZIP_H
#define KL_GZIP_H

#include <stddef.h>
#include <sys/types.h>

/** Bodies below this many bytes are sent identity: gzip's ~20-byte framing and the CPU
 * cost outweigh what a small body saves. */
#define KL_GZIP_MIN_BYTES 1024
/** keel's default level: 1 favours speed (libdeflate levels run 0..12). */
#define KL_GZIP_DEFAULT_LEVEL 1

typedef struct kl_gzip kl_gzip_t;

/** A compressor at level 0 (stored) .. 12 (smallest); NULL for any other level or when
 * memory is exhausted. */
kl_gzip_t *kl_gzip_new(int level);
/** The level z was made with. */
int kl_gzip_level(const kl_gzip_t *z);
/** Worst-case gzip size of len input bytes: an out buffer this big always suffices. */
size_t kl_gzip_bound(kl_gzip_t *z, size_t len);
/** Compresses in[0..len) into a complete gzip member in out[0..cap); returns its size, or
 * -ENOSPC when it does not fit (libdeflate wants up to 8 spare bytes beyond the final
 * size). Pass cap = len to learn cheaply that gzip would not be clearly smaller than the
 * body (incompressible: send identity). */
ssize_t kl_gzip_compress(kl_gzip_t *z, const void *in, size_t len, void *out, size_t cap);
/** Frees z; NULL is ignored. */
void kl_gzip_free(kl_gzip_t *z);

#endif
