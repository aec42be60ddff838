/* kt_gunzip.h - for unit tests of gzip output: does it decompress to the expected bytes? */
#ifndef KT_GUNZIP_H
#define KT_GUNZIP_H

#include <libdeflate.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/** True when gz[0..len) is one gzip member that decompresses to exactly want[0..n). */
static inline bool kt_gunzip_equals(const void *gz, size_t len, const char *want, size_t n) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char *back = malloc(n + 1);
    size_t got = 0;
    bool ok = back && libdeflate_gzip_decompress(d, gz, len, back, n + 1, &got) == LIBDEFLATE_SUCCESS && got == n &&
              memcmp(back, want, n) == 0;
    free(back);
    libdeflate_free_decompressor(d);
    return ok;
}

#endif
