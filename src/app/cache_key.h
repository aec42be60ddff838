/* cache_key.h - the cache key of a cached route's request. Parameters are bound by position
 * (so the order of query parameters in the URL never matters and defaults are already
 * applied): the key is the route's index, then each bound value and the subject, each
 * length-prefixed, so no two different requests share a key ("a","bc" vs "ab","c"; NULL
 * vs ""; with vs without a subject). */
#ifndef KL_CACHE_KEY_H
#define KL_CACHE_KEY_H

#include <stddef.h>

#include "core/arena.h"

/** Builds the key for route index route of n bound values (NULL = SQL NULL) and subject
 * (NULL: none) in arena a; *len gets its length (the key may contain NUL bytes). */
char *kl_cache_key(kl_arena_t *a, int route, const char *const *values, size_t n, const char *subject, size_t *len);

#endif
