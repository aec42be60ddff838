/* token_cache.h - a shard's cache of verified bearer tokens, so that a token costs one
 * signature verification (an RS256 one is tens of microseconds), not one per request.
 *
 * Keyed by the token's exact bytes; each entry holds the caller's value (the verified
 * claims, packed), the key-set version it was verified under and the second it stops being
 * valid. A lookup finds an entry only while it is valid and its version is the current
 * key set's, so a rotated-out key stops working at once, cached tokens included. Bounded
 * by entries and by bytes (token + value + bookkeeping); the least recently used entries
 * go first, and expired or stale-version ones as soon as a lookup meets them. The table is
 * seeded at random, so clients cannot aim tokens at one bucket. Touched only by the shard's
 * own thread. Only verified tokens are ever put: a forged token costs its verification
 * every time, never memory. */
#ifndef KL_TOKEN_CACHE_H
#define KL_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kl_token_cache kl_token_cache_t;

/** Counters, owned by the cache. */
typedef struct {
    uint64_t hits, misses, inserts, evictions; /**< evictions: to stay within the bounds */
    size_t entries, bytes;                     /**< held now */
} kl_token_cache_stats_t;

/** A cache of at most max_entries entries and max_bytes bytes (both > 0), hashed with seed. */
kl_token_cache_t *kl_token_cache_new(size_t max_entries, size_t max_bytes, uint64_t seed);
/** Frees the cache and every entry (NULL is fine). */
void kl_token_cache_free(kl_token_cache_t *c);
/** The value stored for token[0..len) when its entry is still valid at now_s and was made
 * under version; sets *vlen. NULL otherwise (an expired or stale entry is dropped). The
 * value stays valid until the next put or free. */
const void *kl_token_cache_get(kl_token_cache_t *c, const char *token, size_t len, uint64_t version, int64_t now_s,
                               size_t *vlen);
/** Stores value[0..vlen) for token[0..len), valid while now < until_s, under version
 * (replacing an entry of the same token), evicting least recently used entries to stay
 * within the bounds. Returns 0, -E2BIG when the entry alone would take more than an eighth
 * of max_bytes (not kept), or -ENOMEM. */
int kl_token_cache_put(kl_token_cache_t *c, const char *token, size_t len, uint64_t version, int64_t until_s,
                       const void *value, size_t vlen);
/** The cache's counters. */
const kl_token_cache_stats_t *kl_token_cache_stats(const kl_token_cache_t *c);

#endif
