/* token_cache.c - see token_cache.h. Chained hash table (as many buckets as the entry
 * bound, rounded up to a power of two) plus one LRU list: the head is the least recently
 * used entry, the tail the most recent. One allocation per entry: the struct, the token,
 * then the value. */
#include "app/token_cache.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "core/alloc.h"
#include "core/list.h"
#include "proto/hash.h"

typedef struct entry entry_t;

struct entry {
    kl_list_t lru;
    entry_t *next; /* hash chain */
    uint64_t hash, version;
    int64_t until_s;
    size_t tlen, vlen;
    char data[]; /* token[tlen], then value[vlen] */
};

struct kl_token_cache {
    entry_t **buckets;
    size_t mask, max_entries, max_bytes;
    uint64_t seed;
    kl_list_t lru;
    kl_token_cache_stats_t stats;
};

static size_t cost(const entry_t *e) { return sizeof(*e) + e->tlen + e->vlen; }

kl_token_cache_t *kl_token_cache_new(size_t max_entries, size_t max_bytes, uint64_t seed) {
    kl_token_cache_t *c = kl_calloc(sizeof(*c));
    size_t n = 16;
    while (n < max_entries) n *= 2;
    c->buckets = kl_calloc(n * sizeof(entry_t *));
    c->mask = n - 1;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->seed = seed;
    kl_list_init(&c->lru);
    return c;
}

static void unlink_entry(kl_token_cache_t *c, entry_t *e) {
    entry_t **pp = &c->buckets[e->hash & c->mask];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    kl_list_remove(&e->lru);
    c->stats.entries--;
    c->stats.bytes -= cost(e);
    kl_free(e);
}

void kl_token_cache_free(kl_token_cache_t *c) {
    if (!c) return;
    while (!kl_list_empty(&c->lru)) unlink_entry(c, kl_container_of(c->lru.next, entry_t, lru));
    kl_free(c->buckets);
    kl_free(c);
}

static entry_t *find(kl_token_cache_t *c, const char *token, size_t len, uint64_t h) {
    for (entry_t *e = c->buckets[h & c->mask]; e; e = e->next)
        /* reached only on a full 64-bit hash match under a secret seed; compared in constant
         * time all the same, since a token is a credential */
        if (e->hash == h && e->tlen == len && CRYPTO_memcmp(e->data, token, len) == 0) return e;
    return NULL;
}

const void *kl_token_cache_get(kl_token_cache_t *c, const char *token, size_t len, uint64_t version, int64_t now_s,
                               size_t *vlen) {
    uint64_t h = kl_hash64(token, len, c->seed);
    entry_t *e = find(c, token, len, h);
    if (!e || e->version != version || now_s >= e->until_s) {
        if (e) unlink_entry(c, e);
        c->stats.misses++;
        return NULL;
    }
    kl_list_remove(&e->lru); /* most recently used: to the tail */
    kl_list_push(&c->lru, &e->lru);
    c->stats.hits++;
    *vlen = e->vlen;
    return e->data + e->tlen;
}

int kl_token_cache_put(kl_token_cache_t *c, const char *token, size_t len, uint64_t version, int64_t until_s,
                       const void *value, size_t vlen) {
    size_t need = sizeof(entry_t) + len + vlen;
    if (need > c->max_bytes / 8) return -E2BIG;
    uint64_t h = kl_hash64(token, len, c->seed);
    entry_t *old = find(c, token, len, h);
    if (old) unlink_entry(c, old);
    while (!kl_list_empty(&c->lru) && (c->stats.entries + 1 > c->max_entries || c->stats.bytes + need > c->max_bytes)) {
        unlink_entry(c, kl_container_of(c->lru.next, entry_t, lru));
        c->stats.evictions++;
    }
    entry_t *e = kl_trymalloc(need); /* the size is the client's token: never abort for it */
    if (!e) return -ENOMEM;
    e->hash = h;
    e->version = version;
    e->until_s = until_s;
    e->tlen = len;
    e->vlen = vlen;
    memcpy(e->data, token, len);
    memcpy(e->data + len, value, vlen);
    e->next = c->buckets[h & c->mask];
    c->buckets[h & c->mask] = e;
    kl_list_push(&c->lru, &e->lru);
    c->stats.entries++;
    c->stats.bytes += need;
    c->stats.inserts++;
    return 0;
}

const kl_token_cache_stats_t *kl_token_cache_stats(const kl_token_cache_t *c) { return &c->stats; }
