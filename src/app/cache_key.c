#include "app/cache_key.h"

#include <stdint.h>
#include <string.h>

/* A 4-byte length (0xffffffff for NULL), then the bytes. */
static char *put(char *p, const char *s) {
    uint32_t v = s ? (uint32_t)strlen(s) : 0xffffffffu;
    memcpy(p, &v, 4);
    p += 4;
    if (s && v) memcpy(p, s, v), p += v;
    return p;
}

char *kl_cache_key(kl_arena_t *a, int route, const char *const *values, size_t n, const char *subject, size_t *len) {
    size_t total = 4 + 4 + (subject ? strlen(subject) : 0);
    for (size_t i = 0; i < n; i++) total += 4 + (values[i] ? strlen(values[i]) : 0);
    char *k = kl_arena_alloc(a, total), *p = k;
    uint32_t r = (uint32_t)route;
    memcpy(p, &r, 4);
    p += 4;
    for (size_t i = 0; i < n; i++) p = put(p, values[i]);
    put(p, subject);
    *len = total;
    return k;
}
