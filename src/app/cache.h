/* cache.h - a shard's response cache: ready-to-send responses (body, ETags, gzip variant)
 * in an LRU bounded in bytes, with TTL + stale-while-revalidate states and tag
 * invalidation. One cache per shard, used by that shard's thread only: no locks.
 *
 * Keys are byte strings built by the caller (route + normalized parameters, + subject for
 * private routes); they may contain NUL bytes. Lookups hash the key with kl_hash64 under a
 * random per-cache seed (so hostile keys cannot be pre-computed to collide), in an
 * open-addressing table that grows by doubling. Tags map through a second table to the
 * ring of entries carrying them, so invalidating a tag costs O(entries with that tag).
 * Content types are kept once per cache: at most KL_CACHE_CTYPES distinct ones (callers use a
 * handful), each until kl_cache_free.
 *
 * Budget: every entry is charged key + body + gzip + KL_CACHE_TAG_OVERHEAD per tag +
 * KL_CACHE_ENTRY_OVERHEAD (a tag's bytes are not kept, only its hash: see
 * kl_cache_taglink_t), and the sum of charges (stats.bytes) never exceeds the budget.
 * An entry whose charge exceeds budget/8 is refused, so one big body cannot flush the LRU.
 *
 * Pointer lifetime (exactly): a kl_cache_entry_t * returned by kl_cache_lookup or
 * kl_cache_put stays valid, and its fields stable, until the next call on the same cache
 * that can remove entries: kl_cache_put, kl_cache_set_gzip (may evict others),
 * kl_cache_lookup (may expire the looked-up key, and then only that one entry),
 * kl_cache_remove, kl_cache_invalidate_tag, kl_cache_clear, kl_cache_free. To keep an
 * entry's bytes across such calls (an asynchronous send straight from the cache), take
 * kl_cache_hold before and kl_cache_release after: a held entry that leaves the cache is
 * detached (out of the index, the LRU, the tag lists and the byte count) and freed on its
 * last release. */
#ifndef KL_CACHE_H
#define KL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/str.h"
#include "proto/etag.h"

/** Room for a content type, NUL included ("application/json; charset=utf-8" is 31). */
#define KL_CACHE_CTYPE_MAX 64
/** Most distinct content types one cache keeps (a put with one more is refused, -ENOMEM). */
#define KL_CACHE_CTYPES 255
/** Longest key an entry may have (a put with a longer one is refused, -EFBIG). */
#define KL_CACHE_KEY_MAX UINT16_MAX
/** Most tags one entry may carry. */
#define KL_CACHE_MAX_TAGS 16
/** Longest tag accepted (a longer one is refused, -EINVAL; kl_tags_expand makes at most KL_TAGS_MAX). */
#define KL_CACHE_TAG_MAX 65535

typedef enum {
    KL_CACHE_MISS = 0,  /**< absent, or past stale_until (and now removed): query the database */
    KL_CACHE_FRESH = 1, /**< now < fresh_until: serve */
    KL_CACHE_STALE = 2, /**< fresh_until <= now < stale_until: serve, and refresh in the background */
} kl_cache_state_t;

typedef struct kl_cache kl_cache_t;

/* One (entry, tag) pair; an entry's links sit right after its struct. Private to cache.c,
 * declared here so that kl_cache_entry_body can be inline. Every link of one tag is on one
 * ring; the tag index points at one of them. A link keeps the tag's hash, not its bytes:
 * the low 60 bits of kl_hash64(tag) under the cache's random seed are the tag's identity
 * in the cache. Two tags whose 60 bits agree are one tag to it: invalidating either drops
 * the entries of both, an extra miss, never a stale answer (odds about n^2 / 2^61 for n
 * distinct tags, and a client cannot aim at them without the seed). 24 bytes; the owning
 * entry sits as many links before as the index in _tag's top 4 bits says. */
typedef struct kl_cache_taglink {
    kl_list_t _ring; /* the other links carrying the same tag */
    uint64_t _tag;   /* the tag's 60 hash bits, and this link's index in its entry in the top 4 */
} kl_cache_taglink_t;

/** One cached response. Every public field is read-only for the caller. Memory: the struct,
 * its tag links, key and body are one allocation, in that order (a lookup compares
 * the key, then reads the struct: neighbours, so one fetch from memory serves both); the gzip
 * variant, which arrives later, is a second; the struct is kept small because the reference app caches
 * 100,000 of them (bench/micro/bench_cache_mem.c); what it is charged against the budget
 * is computed (kl_cache_entry_charged), not stored. */
typedef struct kl_cache_entry {
    kl_list_t _lru;            /* LRU position, or the detached list */
    const char *gzip;          /**< gzip-coded body, NULL until kl_cache_set_gzip */
    uint64_t stored_at;        /**< ms (caller's clock) when put */
    uint64_t etag_hash;        /**< digest of the identity body; kl_cache_etag formats both ETags */
    uint32_t _fresh_ms;        /* fresh for this long after stored_at (KL_CACHE_FOREVER: never stale) */
    uint32_t _stale_ms;        /* gone this long after stored_at (KL_CACHE_FOREVER: never) */
    uint32_t body_len;         /**< identity body length (the body: kl_cache_entry_body) */
    uint32_t gzip_len;         /**< gzip length, 0 while gzip is NULL */
    uint16_t key_len;          /**< key length, at most KL_CACHE_KEY_MAX (the key: kl_cache_entry_key) */
    uint16_t status;           /**< HTTP status code */
    uint16_t _holds;           /* kl_cache_hold count: a hold lasts one serve, a few nest at most */
    uint8_t _ctype;            /* index of its content type in the cache (kl_cache_entry_ctype) */
    uint8_t _nlinks : 5;       /* tags carried, duplicates dropped: links after the struct */
    bool is_private : 1;       /**< the route is @cache private: send Cache-Control: private */
    bool refreshing : 1;       /**< a background refresh is running (kl_cache_try_refresh) */
    bool _detached : 1;        /* left the cache while held */
} kl_cache_entry_t;

/* 64 bytes: with the slab's 8-byte rounding every byte here is a byte per entry. */
_Static_assert(sizeof(kl_cache_entry_t) == 64, "a cache entry's struct is 64 bytes");
_Static_assert(KL_CACHE_MAX_TAGS < 32, "_nlinks holds up to KL_CACHE_MAX_TAGS");

/** Tags e carries (duplicates dropped), 0 once it has left the cache. */
static inline size_t kl_cache_entry_ntags(const kl_cache_entry_t *e) { return e->_detached ? 0 : e->_nlinks; }

/** _fresh_ms / _stale_ms of an entry whose TTL (or TTL + swr) is 2^32-1 ms (49.7 days) or
 * more: it stays fresh (or servable) for as long as it is kept. */
#define KL_CACHE_FOREVER UINT32_MAX

/** The key of e (it may hold NULs), valid as long as e is. */
static inline kl_str_t kl_cache_entry_key(const kl_cache_entry_t *e) {
    return (kl_str_t){(const char *)((const kl_cache_taglink_t *)(e + 1) + e->_nlinks), e->key_len};
}

/** The identity body of e (body_len bytes), valid as long as e is. */
static inline const char *kl_cache_entry_body(const kl_cache_entry_t *e) {
    return kl_cache_entry_key(e).base + e->key_len;
}

/** stored_at + ttl: FRESH before this (UINT64_MAX: always). */
static inline uint64_t kl_cache_fresh_until(const kl_cache_entry_t *e) {
    return e->_fresh_ms == KL_CACHE_FOREVER ? UINT64_MAX : e->stored_at + e->_fresh_ms;
}

/** stored_at + ttl + swr: STALE before this, then gone (UINT64_MAX: never gone). */
static inline uint64_t kl_cache_stale_until(const kl_cache_entry_t *e) {
    return e->_stale_ms == KL_CACHE_FOREVER ? UINT64_MAX : e->stored_at + e->_stale_ms;
}

/** What to store: kl_cache_put copies every byte it is given. */
typedef struct {
    int status;               /**< HTTP status code */
    const char *content_type; /**< NUL-terminated, shorter than KL_CACHE_CTYPE_MAX; NULL = "" */
    const void *body;         /**< identity body bytes (may be NULL when body_len is 0) */
    size_t body_len;          /**< body length */
    uint64_t ttl_ms;          /**< fresh for this long after now_ms */
    uint64_t swr_ms;          /**< then stale-but-servable for this long */
    bool is_private;          /**< remembered for Cache-Control: private */
    const kl_str_t *tags;     /**< tags this entry carries (non-empty strings; NULL when ntags is 0) */
    size_t ntags;             /**< how many, at most KL_CACHE_MAX_TAGS */
} kl_cache_put_t;

/** Per-shard counters, ready for /metrics. */
typedef struct {
    uint64_t hits;          /**< lookups answered FRESH */
    uint64_t misses;        /**< lookups answered MISS (expired ones included) */
    uint64_t stale_hits;    /**< lookups answered STALE */
    uint64_t evictions;     /**< entries pushed out by the byte budget (LRU) */
    uint64_t invalidations; /**< entries removed by kl_cache_invalidate_tag or kl_cache_clear */
    uint64_t expired;       /**< entries found past stale_until by a lookup and removed */
    uint64_t refused;       /**< puts and set_gzips refused as larger than budget/8 */
    uint64_t bytes;         /**< current sum of charged sizes (never above the budget) */
    uint64_t entries;       /**< current number of entries */
} kl_cache_stats_t;

/** Fixed charge per entry on top of its key and body bytes: the entry struct, its index slot
 * (8 bytes at a load between 7/16 and 7/8), slab rounding (up to 7 bytes, and its share of
 * a page's header and tail) and the pages a class is still filling, an upper estimate of
 * what bench/micro/bench_cache_mem.c measures; each tag adds KL_CACHE_TAG_OVERHEAD. */
#define KL_CACHE_ENTRY_OVERHEAD (sizeof(kl_cache_entry_t) + 64)
/** Charge per tag an entry carries: its link, its index slot and its share of allocator
 * rounding. */
#define KL_CACHE_TAG_OVERHEAD (sizeof(kl_cache_taglink_t) + 24)

/** A new empty cache that holds at most budget_bytes of charged entries (0: stores nothing).
 * Aborts on out-of-memory like kl_malloc. */
kl_cache_t *kl_cache_new(size_t budget_bytes);
/** Frees the cache and every entry, held ones included (holds die with the cache). NULL is ignored. */
void kl_cache_free(kl_cache_t *c);
/** The budget the cache was made with. */
size_t kl_cache_budget(const kl_cache_t *c);
/** The counters; the pointer stays valid for the cache's life. */
const kl_cache_stats_t *kl_cache_stats(const kl_cache_t *c);

/** Looks key up at time now_ms: FRESH or STALE set *out and make the entry most recently
 * used; an entry past stale_until is removed and the answer is MISS; MISS sets *out NULL. */
kl_cache_state_t kl_cache_lookup(kl_cache_t *c, const void *key, size_t key_len, uint64_t now_ms,
                                 kl_cache_entry_t **out);
/** Stores a response under key at time now_ms, replacing any entry for that key (a held
 * one is detached), evicting least-recently-used entries until it fits, and computing both
 * ETags; *out (may be NULL) gets the new most-recently-used entry. Returns 0; -EFBIG when
 * the key is longer than KL_CACHE_KEY_MAX or the entry would be charged more than budget/8
 * or 4 GiB (not stored, and any old entry for the key
 * is removed: it is superseded); -ENOMEM when memory ran out (not stored, old entry
 * removed); -EINVAL for a too-long content type, too many tags, an empty tag or one longer
 * than KL_CACHE_TAG_MAX (nothing changes). */
int kl_cache_put(kl_cache_t *c, const void *key, size_t key_len, const kl_cache_put_t *in, uint64_t now_ms,
                 kl_cache_entry_t **out);
/** Attaches a copy of the gzip variant gz[0..len) to e (a current entry) and makes e most
 * recently used, evicting other entries to stay within budget. Returns 0; -EEXIST when e
 * already has one; -EFBIG when e would then be charged more than budget/8 or 4 GiB (e unchanged);
 * -ESTALE when e has left the cache (held and detached); -ENOMEM when memory ran out (e
 * unchanged); -EINVAL when len is 0. */
int kl_cache_set_gzip(kl_cache_t *c, kl_cache_entry_t *e, const void *gz, size_t len);
/** Removes key's entry; true when there was one. Counts in no counter. */
bool kl_cache_remove(kl_cache_t *c, const void *key, size_t key_len);
/** Removes every entry carrying tag; returns how many (added to stats.invalidations). */
size_t kl_cache_invalidate_tag(kl_cache_t *c, kl_str_t tag);
/** Removes every entry (e.g. after the LISTEN connection was lost and notifications may
 * have been missed); returns how many (added to stats.invalidations). */
size_t kl_cache_clear(kl_cache_t *c);

/** Test-and-set of e->refreshing: true when the caller has just claimed the one background
 * refresh of this stale entry, false when one is already running. A successful refresh
 * kl_cache_put's the key (the new entry starts unclaimed); a failed one calls
 * kl_cache_end_refresh. */
bool kl_cache_try_refresh(kl_cache_entry_t *e);
/** Clears the refreshing flag of key's entry, if present (a failed refresh; lets the next
 * stale hit try again). Touches no counter, no LRU position, removes nothing. */
void kl_cache_end_refresh(kl_cache_t *c, const void *key, size_t key_len);

/** Keeps e's memory valid across calls that may remove it, until kl_cache_release. */
void kl_cache_hold(kl_cache_entry_t *e);
/** Drops one hold on e; frees e if it has left the cache and this was the last hold. */
void kl_cache_release(kl_cache_t *c, kl_cache_entry_t *e);

/** The content type e was put with (NUL-terminated, "" for none), valid as long as c is. */
const char *kl_cache_entry_ctype(const kl_cache_t *c, const kl_cache_entry_t *e);

/** The bytes e counts against the budget: KL_CACHE_ENTRY_OVERHEAD + key + body + gzip,
 * plus KL_CACHE_TAG_OVERHEAD per tag. Constant while e is detached. */
size_t kl_cache_entry_charged(const kl_cache_entry_t *e);

/** Writes e's strong ETag, quoted and NUL-terminated, for the identity body (gzip false) or
 * the gzip variant ("...-gz"); returns its length. */
size_t kl_cache_etag(const kl_cache_entry_t *e, bool gzip, char out[KL_ETAG_MAX]);

/** Seconds since e was stored, for the Age header (rounded down). */
static inline uint64_t kl_cache_age_s(const kl_cache_entry_t *e, uint64_t now_ms) {
    return now_ms > e->stored_at ? (now_ms - e->stored_at) / 1000 : 0;
}

/** Seconds of freshness left, for Cache-Control: max-age (rounded down; 0 once stale). */
static inline uint64_t kl_cache_max_age_s(const kl_cache_entry_t *e, uint64_t now_ms) {
    uint64_t until = kl_cache_fresh_until(e);
    return now_ms < until ? (until - now_ms) / 1000 : 0;
}

#endif
