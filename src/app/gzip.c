#include "app/gzip.h"

#include <errno.h>
#include <libdeflate.h>

#include "core/alloc.h"

struct kl_gzip {
    struct libdeflate_compressor *c; /* owned; libdeflate allocates it with malloc */
    int level;
};

kl_gzip_t *kl_gzip_new(int level) {
    if (level < 0 || level > 12) return NULL;
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    if (!c) return NULL;
    kl_gzip_t *z = kl_trymalloc(sizeof *z);
    if (!z) {
        libdeflate_free_compressor(c);
        return NULL;
    }
    z->c = c;
    z->level = level;
    return z;
}

int kl_gzip_level(const kl_gzip_t *z) { return z->level; }

size_t kl_gzip_bound(kl_gzip_t *z, size_t len) { return libdeflate_gzip_compress_bound(z->c, len); }

ssize_t kl_gzip_compress(kl_gzip_t *z, const void *in, size_t len, void *out, size_t cap) {
    /* libdeflate returns 0 exactly when the output would not fit in cap. */
    size_t n = libdeflate_gzip_compress(z->c, in, len, out, cap);
    return n ? (ssize_t)n : -ENOSPC;
}

void kl_gzip_free(kl_gzip_t *z) {
    if (!z) return;
    libdeflate_free_compressor(z->c);
    kl_free(z);
}
