/* cache.c - the shard response cache. Three structures point at the same entries:
 *   - the key table: open addressing, linear probing, power-of-two capacity, at most 3/4
 *     full, deletion by backward shift (no tombstones, so probe chains never rot). A slot
 *     is just the item pointer (8 bytes): probes compare the item's own key, and the
 *     hash is recomputed when an item moves or leaves (memory per entry counts more than
 *     the rare rehash: the reference app caches 100,000 entries per shard);
 *   - the LRU list: c->lru.next is the least recently used, c->lru.prev the most;
 *   - the tag index: a second table of the same kind whose items are tag links. Every
 *     link of one tag is on one ring, and the table holds one of them (its name is the
 *     tag's key); when that link leaves, the next on the ring takes its slot. So a tag
 *     carried by a single entry (bounty:{id}) costs its link and a slot, no record.
 * An entry is one allocation: the struct, its tag links, its body, its key, its tag names.
 * The gzip variant arrives later and is a second allocation. */
#include "app/cache.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rand.h"
#include "proto/hash.h"

_Static_assert(KL_CACHE_MAX_TAGS <= UINT8_MAX && KL_CACHE_CTYPES <= UINT8_MAX, "counts fit the entry's bytes");

/* A slot: NULL when empty; otherwise an item (an entry, or a tag link). */
typedef void *slot_t;

typedef struct {
    slot_t *slots;
    size_t mask; /* capacity - 1 */
    size_t count;
    uint64_t seed;
    bool entries; /* items are entries (key: kl_cache_entry_key), else links (key: link_name) */
} table_t;

struct kl_cache {
    size_t budget;
    uint64_t seed;
    table_t keys;       /* items: kl_cache_entry_t */
    table_t tags;       /* items: kl_cache_taglink_t, one per tag */
    char *ctypes[KL_CACHE_CTYPES]; /* every content type an entry was put with, by _ctype */
    unsigned nctypes;
    kl_list_t lru;      /* entries, least recently used first */
    kl_list_t detached; /* held entries that left the cache, freed on last release */
    kl_cache_stats_t stats;
};

#define TABLE_MIN 16

static void table_init(table_t *t, uint64_t seed, bool entries) {
    t->entries = entries;
    t->mask = TABLE_MIN - 1;
    t->count = 0;
    t->seed = seed;
    t->slots = kl_calloc(TABLE_MIN * sizeof(slot_t));
}

/* A link's entry: links are laid out right after their entry's struct, in _index order. */
static inline kl_cache_entry_t *link_entry(const kl_cache_taglink_t *l) {
    return (kl_cache_entry_t *)(l - l->_index) - 1;
}

static inline kl_str_t link_name(const kl_cache_taglink_t *l) {
    return (kl_str_t){(const char *)link_entry(l) + l->_name_at, l->_name_len};
}

static inline kl_str_t item_key(const table_t *t, const void *item) {
    return t->entries ? kl_cache_entry_key(item) : link_name(item);
}

static inline bool same_key(const table_t *t, const void *item, const void *key, size_t len) {
    kl_str_t k = item_key(t, item);
    return k.len == len && (len == 0 || memcmp(k.base, key, len) == 0);
}

static inline uint64_t item_hash(const table_t *t, const void *item) {
    kl_str_t k = item_key(t, item);
    return kl_hash64(k.base, k.len, t->seed);
}

/* The slot holding key, or SIZE_MAX. The table is never full, so the probe ends. */
static size_t table_find(const table_t *t, uint64_t h, const void *key, size_t len) {
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const void *item = t->slots[i];
        if (!item) return SIZE_MAX;
        if (same_key(t, item, key, len)) return i;
    }
}

/* The slot holding exactly this item (it must be present). */
static size_t table_find_item(const table_t *t, const void *item) {
    size_t i = item_hash(t, item) & t->mask;
    while (t->slots[i] != item) i = (i + 1) & t->mask;
    return i;
}

static void table_place(table_t *t, uint64_t h, void *item) {
    size_t i = h & t->mask;
    while (t->slots[i]) i = (i + 1) & t->mask;
    t->slots[i] = item;
}

/* Adds an item whose key is not in the table, doubling the table at 3/4 load. */
static void table_insert(table_t *t, uint64_t h, void *item) {
    size_t cap = t->mask + 1;
    if ((t->count + 1) * 4 > cap * 3) {
        slot_t *old = t->slots;
        t->slots = kl_calloc(2 * cap * sizeof(slot_t));
        t->mask = 2 * cap - 1;
        for (size_t i = 0; i < cap; i++)
            if (old[i]) table_place(t, item_hash(t, old[i]), old[i]);
        kl_free(old);
    }
    table_place(t, h, item);
    t->count++;
}

/* Empties slot i and shifts later members of its probe run back into the hole, so every
 * item stays reachable from its home slot without tombstones. */
static void table_remove_at(table_t *t, size_t i) {
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j]) break;
        size_t home = item_hash(t, t->slots[j]) & t->mask;
        /* the item at j may fill the hole at i iff i lies on its probe path home..j */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = NULL;
    t->count--;
}

kl_cache_t *kl_cache_new(size_t budget_bytes) {
    kl_cache_t *c = kl_calloc(sizeof *c);
    c->budget = budget_bytes;
    c->seed = kl_rand_seed(c);
    table_init(&c->keys, c->seed, true);
    table_init(&c->tags, c->seed, false);
    kl_list_init(&c->lru);
    kl_list_init(&c->detached);
    return c;
}

size_t kl_cache_budget(const kl_cache_t *c) { return c->budget; }

const kl_cache_stats_t *kl_cache_stats(const kl_cache_t *c) { return &c->stats; }

static void free_entry(kl_cache_entry_t *e) {
    kl_free((void *)e->gzip);
    kl_free(e);
}

static inline kl_cache_taglink_t *links_of(kl_cache_entry_t *e) { return (kl_cache_taglink_t *)(e + 1); }

/* Takes e's links off their rings; a link the tag index points at hands its slot to the
 * next link on its ring, or empties the slot when it was the tag's last. */
static void unlink_tags(kl_cache_t *c, kl_cache_entry_t *e) {
    kl_cache_taglink_t *links = links_of(e);
    for (size_t i = 0; i < e->ntags; i++) {
        kl_cache_taglink_t *l = &links[i];
        kl_str_t name = link_name(l);
        size_t slot = table_find(&c->tags, item_hash(&c->tags, l), name.base, name.len);
        if (c->tags.slots[slot] == l) {
            if (kl_list_empty(&l->_ring)) table_remove_at(&c->tags, slot);
            else c->tags.slots[slot] = kl_container_of(l->_ring.next, kl_cache_taglink_t, _ring);
        }
        kl_list_remove(&l->_ring);
    }
    e->ntags = 0;
}

size_t kl_cache_entry_charged(const kl_cache_entry_t *e) {
    const kl_cache_taglink_t *links = (const kl_cache_taglink_t *)(e + 1);
    size_t n = KL_CACHE_ENTRY_OVERHEAD + (size_t)e->key_len + e->body_len + e->gzip_len;
    for (size_t i = 0; i < e->_nlinks; i++) n += links[i]._name_len + KL_CACHE_TAG_OVERHEAD;
    return n;
}

/* Takes e out of every structure and the counters; frees it unless it is held. */
static void drop(kl_cache_t *c, kl_cache_entry_t *e) {
    table_remove_at(&c->keys, table_find_item(&c->keys, e));
    kl_list_remove(&e->_lru);
    unlink_tags(c, e);
    c->stats.bytes -= kl_cache_entry_charged(e);
    c->stats.entries--;
    if (e->_holds) {
        e->_detached = true;
        kl_list_push(&c->detached, &e->_lru);
    } else {
        free_entry(e);
    }
}

static kl_cache_entry_t *find(const kl_cache_t *c, const void *key, size_t len, uint64_t *hash) {
    uint64_t h = kl_hash64(key, len, c->seed);
    if (hash) *hash = h;
    size_t i = table_find(&c->keys, h, key, len);
    return i == SIZE_MAX ? NULL : c->keys.slots[i];
}

static inline void touch(kl_cache_t *c, kl_cache_entry_t *e) {
    kl_list_remove(&e->_lru);
    kl_list_push(&c->lru, &e->_lru);
}

/* Evicts least-recently-used entries until `more` bytes fit; keep is never evicted (it is
 * the most recently used whenever this runs, and its own charge fits the budget). */
static void make_room(kl_cache_t *c, size_t more, const kl_cache_entry_t *keep) {
    while (c->stats.bytes + more > c->budget && !kl_list_empty(&c->lru)) {
        kl_cache_entry_t *victim = kl_container_of(c->lru.next, kl_cache_entry_t, _lru);
        if (victim == keep) break;
        drop(c, victim);
        c->stats.evictions++;
    }
}

kl_cache_state_t kl_cache_lookup(kl_cache_t *c, const void *key, size_t key_len, uint64_t now_ms,
                                 kl_cache_entry_t **out) {
    kl_cache_entry_t *e = find(c, key, key_len, NULL);
    *out = NULL;
    if (!e) {
        c->stats.misses++;
        return KL_CACHE_MISS;
    }
    if (now_ms >= kl_cache_stale_until(e)) {
        drop(c, e);
        c->stats.expired++;
        c->stats.misses++;
        return KL_CACHE_MISS;
    }
    touch(c, e);
    *out = e;
    if (now_ms < kl_cache_fresh_until(e)) {
        c->stats.hits++;
        return KL_CACHE_FRESH;
    }
    c->stats.stale_hits++;
    return KL_CACHE_STALE;
}

/* ttl as an offset from stored_at: KL_CACHE_FOREVER when it is that long or longer, or when
 * now + ttl would pass the clock's end (the old absolute form saturated there too). */
static uint32_t offset_ms(uint64_t now, uint64_t ttl) {
    if (ttl >= KL_CACHE_FOREVER || now + ttl < now) return KL_CACHE_FOREVER;
    return (uint32_t)ttl;
}

/* The index of the cache's copy of a content type, added when new; -1 when the table is
 * full or memory ran out. Callers use a handful, so a scan is enough. */
static int intern_ctype(kl_cache_t *c, const char *s, size_t len) {
    for (unsigned i = 0; i < c->nctypes; i++)
        if (strcmp(c->ctypes[i], s) == 0) return (int)i;
    if (c->nctypes == KL_CACHE_CTYPES) return -1;
    char *t = kl_trymalloc(len + 1);
    if (!t) return -1;
    memcpy(t, s, len + 1);
    c->ctypes[c->nctypes] = t;
    return (int)c->nctypes++;
}

int kl_cache_put(kl_cache_t *c, const void *key, size_t key_len, const kl_cache_put_t *in, uint64_t now_ms,
                 kl_cache_entry_t **out) {
    if (out) *out = NULL;
    const char *ctype = in->content_type ? in->content_type : "";
    size_t ctype_len = strnlen(ctype, KL_CACHE_CTYPE_MAX);
    if (ctype_len >= KL_CACHE_CTYPE_MAX || in->ntags > KL_CACHE_MAX_TAGS) return -EINVAL;

    /* Keep the first occurrence of each tag: a link per (entry, tag) pair lets
     * invalidation remove exactly one link per dropped entry. */
    size_t uniq[KL_CACHE_MAX_TAGS], nuniq = 0, names = 0;
    size_t charged = KL_CACHE_ENTRY_OVERHEAD;
    for (size_t i = 0; i < in->ntags; i++) {
        kl_str_t t = in->tags[i];
        if (t.len == 0 || t.len > KL_CACHE_TAG_MAX) return -EINVAL;
        bool dup = false;
        for (size_t j = 0; j < nuniq && !dup; j++) {
            kl_str_t u = in->tags[uniq[j]];
            dup = u.len == t.len && memcmp(u.base, t.base, t.len) == 0;
        }
        if (dup) continue;
        uniq[nuniq++] = i;
        names += t.len;
        charged += t.len + KL_CACHE_TAG_OVERHEAD;
    }
    /* Saturating: a body near SIZE_MAX must be refused, not wrap into a small charge. */
    size_t data = key_len + in->body_len;
    if (data < key_len || charged + data < charged) charged = SIZE_MAX;
    else charged += data;

    uint64_t h;
    kl_cache_entry_t *old = find(c, key, key_len, &h);
    if (old) drop(c, old);
    if (charged > c->budget / 8 || charged > UINT32_MAX) {
        c->stats.refused++;
        return -EFBIG;
    }
    int ct = intern_ctype(c, ctype, ctype_len);
    if (ct < 0) {
        c->stats.refused++;
        return -ENOMEM;
    }
    make_room(c, charged, NULL);

    size_t links = nuniq * sizeof(kl_cache_taglink_t);
    kl_cache_entry_t *e = kl_trymalloc(sizeof *e + links + in->body_len + key_len + names);
    if (!e) { /* out of memory: the answer still goes out, it is just not kept */
        c->stats.refused++;
        return -ENOMEM;
    }
    memset(e, 0, sizeof *e);
    e->_nlinks = (uint8_t)nuniq;
    char *bp = (char *)(e + 1) + links;
    char *kp = bp + in->body_len;
    char *np = kp + key_len;
    if (in->body_len) memcpy(bp, in->body, in->body_len);
    if (key_len) memcpy(kp, key, key_len);
    e->key_len = (uint32_t)key_len;
    e->status = (uint16_t)in->status;
    e->is_private = in->is_private;
    e->_ctype = (uint8_t)ct;
    e->body_len = (uint32_t)in->body_len;
    e->etag_hash = kl_etag_hash(bp, in->body_len);
    e->stored_at = now_ms;
    e->_fresh_ms = offset_ms(now_ms, in->ttl_ms);
    e->_stale_ms = e->_fresh_ms == KL_CACHE_FOREVER || in->ttl_ms + in->swr_ms < in->ttl_ms
                       ? KL_CACHE_FOREVER : offset_ms(now_ms, in->ttl_ms + in->swr_ms);

    kl_cache_taglink_t *lk = links_of(e);
    for (size_t i = 0; i < nuniq; i++) {
        kl_str_t name = in->tags[uniq[i]];
        kl_cache_taglink_t *l = &lk[i];
        memcpy(np, name.base, name.len);
        l->_name_at = (uint32_t)(np - (char *)e);
        l->_name_len = (uint16_t)name.len;
        l->_index = (uint8_t)i;
        np += name.len;
        kl_list_init(&l->_ring);
        uint64_t th = kl_hash64(name.base, name.len, c->seed);
        size_t slot = table_find(&c->tags, th, name.base, name.len);
        if (slot != SIZE_MAX) kl_list_push(&((kl_cache_taglink_t *)c->tags.slots[slot])->_ring, &l->_ring);
        else table_insert(&c->tags, th, l);
    }
    e->ntags = (uint8_t)nuniq;

    table_insert(&c->keys, h, e);
    kl_list_push(&c->lru, &e->_lru);
    c->stats.bytes += charged;
    c->stats.entries++;
    if (out) *out = e;
    return 0;
}

int kl_cache_set_gzip(kl_cache_t *c, kl_cache_entry_t *e, const void *gz, size_t len) {
    if (e->_detached) return -ESTALE;
    if (e->gzip) return -EEXIST;
    if (len == 0) return -EINVAL;
    size_t charged = kl_cache_entry_charged(e);
    if (charged + len < len || charged + len > c->budget / 8 || charged + len > UINT32_MAX) {
        c->stats.refused++;
        return -EFBIG;
    }
    touch(c, e);
    make_room(c, len, e);
    char *g = kl_trymalloc(len);
    if (!g) {
        c->stats.refused++;
        return -ENOMEM;
    }
    memcpy(g, gz, len);
    e->gzip = g;
    e->gzip_len = (uint32_t)len;
    c->stats.bytes += len;
    return 0;
}

bool kl_cache_remove(kl_cache_t *c, const void *key, size_t key_len) {
    kl_cache_entry_t *e = find(c, key, key_len, NULL);
    if (!e) return false;
    drop(c, e);
    return true;
}

size_t kl_cache_invalidate_tag(kl_cache_t *c, kl_str_t tag) {
    uint64_t th = kl_hash64(tag.base, tag.len, c->seed);
    size_t n = 0, slot;
    /* Each drop takes one link of the tag off its ring (tags are unique per entry) and the
     * slot passes to the next link, until the last one empties it. */
    while ((slot = table_find(&c->tags, th, tag.base, tag.len)) != SIZE_MAX) {
        drop(c, link_entry(c->tags.slots[slot]));
        n++;
    }
    c->stats.invalidations += n;
    return n;
}

size_t kl_cache_clear(kl_cache_t *c) {
    size_t n = 0;
    while (!kl_list_empty(&c->lru)) {
        drop(c, kl_container_of(c->lru.next, kl_cache_entry_t, _lru));
        n++;
    }
    c->stats.invalidations += n;
    return n;
}

bool kl_cache_try_refresh(kl_cache_entry_t *e) {
    if (e->refreshing) return false;
    e->refreshing = true;
    return true;
}

void kl_cache_end_refresh(kl_cache_t *c, const void *key, size_t key_len) {
    kl_cache_entry_t *e = find(c, key, key_len, NULL);
    if (e) e->refreshing = false;
}

void kl_cache_hold(kl_cache_entry_t *e) { e->_holds++; }

void kl_cache_release(kl_cache_t *c, kl_cache_entry_t *e) {
    (void)c;
    if (--e->_holds == 0 && e->_detached) {
        kl_list_remove(&e->_lru);
        free_entry(e);
    }
}

kl_str_t kl_cache_entry_tag(const kl_cache_entry_t *e, size_t i) {
    return link_name((const kl_cache_taglink_t *)(e + 1) + i);
}

const char *kl_cache_entry_ctype(const kl_cache_t *c, const kl_cache_entry_t *e) { return c->ctypes[e->_ctype]; }

size_t kl_cache_etag(const kl_cache_entry_t *e, bool gzip, char out[KL_ETAG_MAX]) {
    return kl_etag_format(e->etag_hash, gzip, out);
}

void kl_cache_free(kl_cache_t *c) {
    if (!c) return;
    kl_list_t *n;
    while ((n = kl_list_shift(&c->lru)) != NULL) free_entry(kl_container_of(n, kl_cache_entry_t, _lru));
    while ((n = kl_list_shift(&c->detached)) != NULL) free_entry(kl_container_of(n, kl_cache_entry_t, _lru));
    for (unsigned i = 0; i < c->nctypes; i++) kl_free(c->ctypes[i]);
    kl_free(c->keys.slots);
    kl_free(c->tags.slots);
    kl_free(c);
}
