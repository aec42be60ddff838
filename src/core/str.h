/* str.h - a borrowed byte range: keel's pointer+length pair. Never owns its bytes. */
#ifndef KL_STR_H
#define KL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *base; /**< first byte; not NUL-terminated */
    size_t len;       /**< number of bytes */
} kl_str_t;

/** A kl_str_t over a string literal. */
#define KL_STR(lit) ((kl_str_t){(lit), sizeof(lit) - 1})

/** True when s equals the C string c byte for byte. */
static inline bool kl_str_eq(kl_str_t s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.base, c, n) == 0;
}

/** True when s equals the C string c ignoring ASCII case. */
static inline bool kl_str_ieq(kl_str_t s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && strncasecmp(s.base, c, n) == 0;
}

#endif
