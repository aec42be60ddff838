/* cache.c - the shard response cache. Three structures point at the same entries:
 *   - the key table: open addressing, linear probing in Robin Hood order, power-of-two
 *     capacity, at most 7/8 full, deletion by backward shift (no tombstones, so probe chains
 *     never rot). A slot is 8 bytes (the item's address, 8 hash bits and its distance from
 *     home; see slot_t): the hash is recomputed only when the table grows (memory per entry
 *     counts more than the rare rehash: the reference app caches 100,000 entries per shard);
 *   - the LRU list: c->lru.next is the least recently used, c->lru.prev the most;
 *   - the tag index: a second table of the same kind whose items are tag links. Every
 *     link of one tag is on one ring, and the table holds one of them (the tag's hash in
 *     it is the key); when that link leaves, the next on the ring takes its slot. So a tag
 *     carried by a single entry (bounty:{id}) costs its link and a slot, no record and no
 *     copy of its bytes.
 * An entry is one allocation: the struct, its tag links, its key, its body.
 * The gzip variant arrives later and is a second allocation. Both come from the cache's
 * slab (core/slab.h), which rounds to 8 bytes where mimalloc's classes are up to 25%
 * apart: with 100,000 entries that rounding was worth more than any field of the struct. */
#include "app/cache.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "core/rand.h"
#include "core/slab.h"
#include "proto/hash.h"

_Static_assert(KL_CACHE_MAX_TAGS <= UINT8_MAX && KL_CACHE_CTYPES <= UINT8_MAX, "counts fit the entry's bytes");
_Static_assert(KL_CACHE_MAX_TAGS <= 16, "a link's index fits the top 4 bits of _tag");

/* A tag's identity: 60 bits of its hash (the top 4 of a link's _tag hold the link's index);
 * a unit test keeps fewer, so that distinct tags collide. */
#ifndef KL_CACHE_TAG_BITS
#define KL_CACHE_TAG_BITS 60
#endif
_Static_assert(KL_CACHE_TAG_BITS <= 60, "the link's index needs the top 4 bits");
#define TAG_HASH_MASK ((UINT64_C(1) << KL_CACHE_TAG_BITS) - 1)

/* A slot is 8 bytes: the item's address in the low 48 bits (user-space addresses on the
 * 64-bit Linux targets keel builds for fit there; kl_cache_put refuses an entry that would
 * not), then 8 more bits of its hash, then its distance from its home slot. 0 is empty.
 * Slots are what the tables cost per entry (8 bytes / load), so they carry no full hash:
 * the distance keeps Robin Hood order (a probe stops at the first item nearer its home than
 * the probe is to its own, and a deletion shifts the run back without rehashing), and the
 * hash bits let a probe skip the items that share its home but not its key without reading
 * them. */
typedef uint64_t slot_t;
#define SLOT_PTR_MASK ((UINT64_C(1) << 48) - 1)
#define SLOT_DIST_ONE (UINT64_C(1) << 56)
/* how far from home an item may sit (a slot keeps 8 bits); a unit test sets it lower */
#ifndef KL_CACHE_DIST_MAX
#define KL_CACHE_DIST_MAX 255u
#endif

static inline void *slot_item(slot_t s) { return (void *)(uintptr_t)(s & SLOT_PTR_MASK); }
static inline unsigned slot_dist(slot_t s) { return (unsigned)(s >> 56); }
/* the hash bits a slot keeps: above any home index bits of a table below 2^40 slots */
static inline slot_t slot_frag(uint64_t h) { return (slot_t)((h >> 40) & 0xff) << 48; }
#define SLOT_FRAG_MASK (UINT64_C(0xff) << 48)

/* The item's bytes lie below 2^48, so its address fits a slot. */
static inline bool fits_slot(const void *item, size_t size) {
    return (uintptr_t)item <= SLOT_PTR_MASK && size <= SLOT_PTR_MASK - (uintptr_t)item;
}

typedef struct {
    slot_t *slots;
    size_t mask; /* capacity - 1 */
    size_t count;
    uint64_t seed;
    bool entries; /* items are entries (key: kl_cache_entry_key), else links (key: the tag's hash) */
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
    kl_slab_t slab;     /* every entry and gzip variant */
};

#define TABLE_MIN 16
/* Tables of this many bytes and more are mapped from the kernel, not the allocator: when
 * one grows, the old one's memory goes back at once instead of waiting in mimalloc for
 * other allocations of its size (the cache's entries are in the slab). */
#define TABLE_MAPPED (64 * 1024)

static slot_t *slots_alloc(size_t cap) {
    size_t bytes = cap * sizeof(slot_t);
    if (bytes >= TABLE_MAPPED) {
        void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) return m;
        /* no mapping: the allocator's own exhaustion handling decides */
    }
    return kl_calloc(bytes);
}

static void slots_free(slot_t *slots, size_t cap) {
    size_t bytes = cap * sizeof(slot_t);
    if (bytes >= TABLE_MAPPED && munmap(slots, bytes) == 0) return;
    kl_free(slots);
}

static void table_init(table_t *t, uint64_t seed, bool entries) {
    t->entries = entries;
    t->mask = TABLE_MIN - 1;
    t->count = 0;
    t->seed = seed;
    t->slots = slots_alloc(TABLE_MIN);
}

static inline uint64_t tag_hash(const kl_cache_t *c, kl_str_t tag) {
    return kl_hash64(tag.base, tag.len, c->seed) & TAG_HASH_MASK;
}

static inline uint64_t link_hash(const kl_cache_taglink_t *l) { return l->_tag & TAG_HASH_MASK; }

/* A link's entry: links are laid out right after their entry's struct, in index order. */
static inline kl_cache_entry_t *link_entry(const kl_cache_taglink_t *l) {
    return (kl_cache_entry_t *)(l - (l->_tag >> 60)) - 1;
}

/* Entries match on their key's bytes; links on the tag's hash, h (key is unused then). */
static inline bool same_key(const table_t *t, const void *item, uint64_t h, const void *key, size_t len) {
    if (!t->entries) return link_hash(item) == h;
    kl_str_t k = kl_cache_entry_key(item);
    return k.len == len && (len == 0 || memcmp(k.base, key, len) == 0);
}

static inline uint64_t item_hash(const table_t *t, const void *item) {
    if (!t->entries) return link_hash(item);
    kl_str_t k = kl_cache_entry_key(item);
    return kl_hash64(k.base, k.len, t->seed);
}

static inline void *table_item(const table_t *t, size_t i) { return slot_item(t->slots[i]); }

/* The slot holding key (a tag: its hash h alone), or SIZE_MAX. Distances never exceed KL_CACHE_DIST_MAX, so the probe ends. */
static size_t table_find(const table_t *t, uint64_t h, const void *key, size_t len) {
    slot_t frag = slot_frag(h);
    for (size_t i = h & t->mask, d = 0;; i = (i + 1) & t->mask, d++) {
        slot_t s = t->slots[i];
        if (!s || slot_dist(s) < d) return SIZE_MAX;
        if (slot_dist(s) == d && (s & SLOT_FRAG_MASK) == frag && same_key(t, slot_item(s), h, key, len)) return i;
    }
}

/* The slot holding exactly this item (it must be present). */
static size_t table_find_item(const table_t *t, const void *item) {
    size_t i = item_hash(t, item) & t->mask;
    while (table_item(t, i) != item) i = (i + 1) & t->mask;
    return i;
}

/* Puts item in Robin Hood order: it takes the slot of the first item nearer its home than
 * it is, which moves on in its place. Returns NULL, or the item that would have gone
 * further than KL_CACHE_DIST_MAX from home (left out of the table: the caller grows it). */
static void *table_place(table_t *t, uint64_t h, void *item) {
    slot_t cur = (slot_t)(uintptr_t)item | slot_frag(h);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        slot_t s = t->slots[i];
        if (!s) {
            t->slots[i] = cur;
            return NULL;
        }
        if (slot_dist(s) < slot_dist(cur)) {
            t->slots[i] = cur;
            cur = s;
        }
        if (slot_dist(cur) == KL_CACHE_DIST_MAX) return slot_item(cur);
        cur += SLOT_DIST_ONE;
    }
}

/* Moves every item to a table of at least cap slots (more when some item would land
 * further than KL_CACHE_DIST_MAX from home: with a seeded hash that takes a run no real load makes). */
static void table_grow(table_t *t, size_t cap) {
    slot_t *old = t->slots;
    size_t old_cap = t->mask + 1;
    for (;; cap *= 2) {
        t->slots = slots_alloc(cap);
        t->mask = cap - 1;
        size_t i = 0;
        for (; i < old_cap; i++) {
            void *item = slot_item(old[i]);
            if (item && table_place(t, item_hash(t, item), item)) break;
        }
        if (i == old_cap) break;
        slots_free(t->slots, cap);
    }
    slots_free(old, old_cap);
}

/* Adds an item whose key is not in the table, doubling the table at 7/8 load. */
static void table_insert(table_t *t, uint64_t h, void *item) {
    if ((t->count + 1) * 8 > (t->mask + 1) * 7) table_grow(t, 2 * (t->mask + 1));
    while ((item = table_place(t, h, item)) != NULL) {
        table_grow(t, 2 * (t->mask + 1));
        h = item_hash(t, item);
    }
    t->count++;
}

/* Empties slot i and moves the rest of its run one slot back, nearer home. */
static void table_remove_at(table_t *t, size_t i) {
    for (size_t j = (i + 1) & t->mask; t->slots[j] && slot_dist(t->slots[j]) > 0; i = j, j = (j + 1) & t->mask)
        t->slots[i] = t->slots[j] - SLOT_DIST_ONE;
    t->slots[i] = 0;
    t->count--;
}

/* Puts another item with the same key (so the same hash) in slot i. */
static inline void table_replace_at(table_t *t, size_t i, void *item) {
    t->slots[i] = (t->slots[i] & ~SLOT_PTR_MASK) | (slot_t)(uintptr_t)item;
}

kl_cache_t *kl_cache_new(size_t budget_bytes) {
    kl_cache_t *c = kl_calloc(sizeof *c);
    c->budget = budget_bytes;
    c->seed = kl_rand_seed(c);
    table_init(&c->keys, c->seed, true);
    table_init(&c->tags, c->seed, false);
    kl_list_init(&c->lru);
    kl_list_init(&c->detached);
    kl_slab_init(&c->slab);
    return c;
}

size_t kl_cache_budget(const kl_cache_t *c) { return c->budget; }

const kl_cache_stats_t *kl_cache_stats(const kl_cache_t *c) { return &c->stats; }

/* What kl_cache_put allocated for e: the slab takes the size back at free. */
static size_t entry_size(const kl_cache_entry_t *e) {
    return sizeof *e + e->_nlinks * sizeof(kl_cache_taglink_t) + e->key_len + e->body_len;
}

static void free_entry(kl_cache_t *c, kl_cache_entry_t *e) {
    kl_slab_free(&c->slab, (void *)e->gzip, e->gzip_len);
    kl_slab_free(&c->slab, e, entry_size(e));
}

static inline kl_cache_taglink_t *links_of(kl_cache_entry_t *e) { return (kl_cache_taglink_t *)(e + 1); }

/* Takes e's links off their rings; a link the tag index points at hands its slot to the
 * next link on its ring, or empties the slot when it was the tag's last. */
static void unlink_tags(kl_cache_t *c, kl_cache_entry_t *e) {
    kl_cache_taglink_t *links = links_of(e);
    for (size_t i = 0; i < e->_nlinks; i++) {
        kl_cache_taglink_t *l = &links[i];
        size_t slot = table_find(&c->tags, link_hash(l), NULL, 0);
        if (table_item(&c->tags, slot) == l) {
            if (kl_list_empty(&l->_ring)) table_remove_at(&c->tags, slot);
            else table_replace_at(&c->tags, slot, kl_container_of(l->_ring.next, kl_cache_taglink_t, _ring));
        }
        kl_list_remove(&l->_ring);
    }
}

size_t kl_cache_entry_charged(const kl_cache_entry_t *e) {
    return KL_CACHE_ENTRY_OVERHEAD + (size_t)e->key_len + e->body_len + e->gzip_len +
           (size_t)e->_nlinks * KL_CACHE_TAG_OVERHEAD;
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
        free_entry(c, e);
    }
}

static kl_cache_entry_t *find(const kl_cache_t *c, const void *key, size_t len, uint64_t *hash) {
    uint64_t h = kl_hash64(key, len, c->seed);
    if (hash) *hash = h;
    size_t i = table_find(&c->keys, h, key, len);
    return i == SIZE_MAX ? NULL : table_item(&c->keys, i);
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
    size_t uniq[KL_CACHE_MAX_TAGS], nuniq = 0;
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
        charged += KL_CACHE_TAG_OVERHEAD;
    }
    /* Saturating: a body near SIZE_MAX must be refused, not wrap into a small charge. */
    size_t data = key_len + in->body_len;
    if (data < key_len || charged + data < charged) charged = SIZE_MAX;
    else charged += data;

    uint64_t h;
    kl_cache_entry_t *old = find(c, key, key_len, &h);
    if (old) drop(c, old);
    if (charged > c->budget / 8 || charged > UINT32_MAX || key_len > KL_CACHE_KEY_MAX) {
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
    size_t size = sizeof(kl_cache_entry_t) + links + in->body_len + key_len;
    kl_cache_entry_t *e = kl_slab_alloc(&c->slab, size);
    /* out of memory (or an address no slot holds): the answer still goes out, it is just not kept */
    if (!e || !fits_slot(e, size)) {
        kl_slab_free(&c->slab, e, size);
        c->stats.refused++;
        return -ENOMEM;
    }
    memset(e, 0, sizeof *e);
    e->_nlinks = (uint8_t)nuniq & 31;
    char *kp = (char *)(e + 1) + links;
    char *bp = kp + key_len;
    if (in->body_len) memcpy(bp, in->body, in->body_len);
    if (key_len) memcpy(kp, key, key_len);
    e->key_len = (uint16_t)key_len;
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
        kl_cache_taglink_t *l = &lk[i];
        uint64_t th = tag_hash(c, in->tags[uniq[i]]);
        l->_tag = th | (uint64_t)i << 60;
        kl_list_init(&l->_ring);
        size_t slot = table_find(&c->tags, th, NULL, 0);
        if (slot != SIZE_MAX) kl_list_push(&((kl_cache_taglink_t *)table_item(&c->tags, slot))->_ring, &l->_ring);
        else table_insert(&c->tags, th, l);
    }

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
    char *g = kl_slab_alloc(&c->slab, len);
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
    uint64_t th = tag_hash(c, tag);
    size_t n = 0, slot;
    /* Each drop takes the entry's links of the tag off its ring (one, or more when two of its
     * tags share a hash) and the slot passes to the next link, until the last one empties it. */
    while ((slot = table_find(&c->tags, th, NULL, 0)) != SIZE_MAX) {
        drop(c, link_entry(table_item(&c->tags, slot)));
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
    if (--e->_holds == 0 && e->_detached) {
        kl_list_remove(&e->_lru);
        free_entry(c, e);
    }
}

const char *kl_cache_entry_ctype(const kl_cache_t *c, const kl_cache_entry_t *e) { return c->ctypes[e->_ctype]; }

size_t kl_cache_etag(const kl_cache_entry_t *e, bool gzip, char out[KL_ETAG_MAX]) {
    return kl_etag_format(e->etag_hash, gzip, out);
}

void kl_cache_free(kl_cache_t *c) {
    if (!c) return;
    kl_list_t *n;
    while ((n = kl_list_shift(&c->lru)) != NULL) free_entry(c, kl_container_of(n, kl_cache_entry_t, _lru));
    while ((n = kl_list_shift(&c->detached)) != NULL) free_entry(c, kl_container_of(n, kl_cache_entry_t, _lru));
    for (unsigned i = 0; i < c->nctypes; i++) kl_free(c->ctypes[i]);
    slots_free(c->keys.slots, c->keys.mask + 1);
    slots_free(c->tags.slots, c->tags.mask + 1);
    kl_slab_destroy(&c->slab);
    kl_free(c);
}
