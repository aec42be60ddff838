/* cache.c - the shard response cache. Three structures point at the same entries:
 *   - the key table: open addressing, linear probing, power-of-two capacity, at most 3/4
 *     full, deletion by backward shift (no tombstones, so probe chains never rot);
 *   - the LRU list: c->lru.next is the least recently used, c->lru.prev the most;
 *   - the tag index: a second table of tag records, each heading the list of links (one
 *     per entry carrying the tag). A record lives exactly as long as some entry has it.
 * An entry is one allocation: the struct, its tag links, its key, its body. The gzip
 * variant arrives later and is a second allocation. */
#include "app/cache.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rand.h"
#include "proto/hash.h"

typedef struct tagrec {
    kl_str_t name;     /* first member: the table reads every item's key there */
    uint64_t hash;
    kl_list_t links;   /* kl_cache_taglink_t.link of every entry carrying this tag */
    size_t count;      /* length of links; the record is freed when it reaches 0 */
} tagrec_t;

struct kl_cache_taglink {
    kl_list_t link;          /* on tag->links */
    tagrec_t *tag;           /* the record this link hangs on */
    kl_cache_entry_t *entry; /* the entry that owns this link */
};

_Static_assert(offsetof(kl_cache_entry_t, key) == 0, "the table reads the key at offset 0");
_Static_assert(offsetof(tagrec_t, name) == 0, "the table reads the name at offset 0");

/* Per-tag charge: the name is added separately; the record is counted per link, an upper
 * bound since records are shared. */
#define TAG_OVERHEAD (sizeof(kl_cache_taglink_t) + sizeof(tagrec_t) + 48)

typedef struct {
    uint64_t hash;
    void *item; /* NULL: empty slot; otherwise starts with its kl_str_t key */
} slot_t;

typedef struct {
    slot_t *slots;
    size_t mask; /* capacity - 1 */
    size_t count;
} table_t;

struct kl_cache {
    size_t budget;
    uint64_t seed;
    table_t keys;       /* items: kl_cache_entry_t */
    table_t tags;       /* items: tagrec_t */
    kl_list_t lru;      /* entries, least recently used first */
    kl_list_t detached; /* held entries that left the cache, freed on last release */
    kl_cache_stats_t stats;
};

#define TABLE_MIN 16

static void table_init(table_t *t) {
    t->mask = TABLE_MIN - 1;
    t->count = 0;
    t->slots = kl_calloc(TABLE_MIN * sizeof(slot_t));
}

static inline bool same_key(const void *item, const void *key, size_t len) {
    const kl_str_t *k = item;
    return k->len == len && (len == 0 || memcmp(k->base, key, len) == 0);
}

/* The slot holding key, or SIZE_MAX. The table is never full, so the probe ends. */
static size_t table_find(const table_t *t, uint64_t h, const void *key, size_t len) {
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const slot_t *s = &t->slots[i];
        if (!s->item) return SIZE_MAX;
        if (s->hash == h && same_key(s->item, key, len)) return i;
    }
}

/* The slot holding exactly this item (it must be present). */
static size_t table_find_item(const table_t *t, uint64_t h, const void *item) {
    size_t i = h & t->mask;
    while (t->slots[i].item != item) i = (i + 1) & t->mask;
    return i;
}

static void table_place(table_t *t, uint64_t h, void *item) {
    size_t i = h & t->mask;
    while (t->slots[i].item) i = (i + 1) & t->mask;
    t->slots[i] = (slot_t){h, item};
}

/* Adds an item whose key is not in the table, doubling the table at 3/4 load. */
static void table_insert(table_t *t, uint64_t h, void *item) {
    size_t cap = t->mask + 1;
    if ((t->count + 1) * 4 > cap * 3) {
        slot_t *old = t->slots;
        t->slots = kl_calloc(2 * cap * sizeof(slot_t));
        t->mask = 2 * cap - 1;
        for (size_t i = 0; i < cap; i++)
            if (old[i].item) table_place(t, old[i].hash, old[i].item);
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
        if (!t->slots[j].item) break;
        size_t home = t->slots[j].hash & t->mask;
        /* the item at j may fill the hole at i iff i lies on its probe path home..j */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (slot_t){0, NULL};
    t->count--;
}

kl_cache_t *kl_cache_new(size_t budget_bytes) {
    kl_cache_t *c = kl_calloc(sizeof *c);
    c->budget = budget_bytes;
    c->seed = kl_rand_seed(c);
    table_init(&c->keys);
    table_init(&c->tags);
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

static void unlink_tags(kl_cache_t *c, kl_cache_entry_t *e) {
    for (size_t i = 0; i < e->ntags; i++) {
        kl_cache_taglink_t *l = &e->_links[i];
        tagrec_t *t = l->tag;
        kl_list_remove(&l->link);
        if (--t->count == 0) {
            table_remove_at(&c->tags, table_find_item(&c->tags, t->hash, t));
            kl_free(t);
        }
    }
    e->ntags = 0;
}

/* Takes e out of every structure and the counters; frees it unless it is held. */
static void drop(kl_cache_t *c, kl_cache_entry_t *e) {
    table_remove_at(&c->keys, table_find_item(&c->keys, e->_hash, e));
    kl_list_remove(&e->_lru);
    unlink_tags(c, e);
    c->stats.bytes -= e->charged;
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
    return i == SIZE_MAX ? NULL : c->keys.slots[i].item;
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
    if (now_ms >= e->stale_until) {
        drop(c, e);
        c->stats.expired++;
        c->stats.misses++;
        return KL_CACHE_MISS;
    }
    touch(c, e);
    *out = e;
    if (now_ms < e->fresh_until) {
        c->stats.hits++;
        return KL_CACHE_FRESH;
    }
    c->stats.stale_hits++;
    return KL_CACHE_STALE;
}

static inline uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

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
        if (t.len == 0) return -EINVAL;
        bool dup = false;
        for (size_t j = 0; j < nuniq && !dup; j++) {
            kl_str_t u = in->tags[uniq[j]];
            dup = u.len == t.len && memcmp(u.base, t.base, t.len) == 0;
        }
        if (dup) continue;
        uniq[nuniq++] = i;
        charged += t.len + TAG_OVERHEAD;
    }
    /* Saturating: a body near SIZE_MAX must be refused, not wrap into a small charge. */
    size_t data = key_len + in->body_len;
    if (data < key_len || charged + data < charged) charged = SIZE_MAX;
    else charged += data;

    uint64_t h;
    kl_cache_entry_t *old = find(c, key, key_len, &h);
    if (old) drop(c, old);
    if (charged > c->budget / 8) {
        c->stats.refused++;
        return -EFBIG;
    }
    make_room(c, charged, NULL);

    size_t links = nuniq * sizeof(kl_cache_taglink_t);
    kl_cache_entry_t *e = kl_trymalloc(sizeof *e + links + key_len + in->body_len);
    if (!e) { /* out of memory: the answer still goes out, it is just not kept */
        c->stats.refused++;
        return -ENOMEM;
    }
    memset(e, 0, sizeof *e);
    e->_links = (kl_cache_taglink_t *)(e + 1);
    char *kp = (char *)(e + 1) + links;
    char *bp = kp + key_len;
    if (key_len) memcpy(kp, key, key_len);
    if (in->body_len) memcpy(bp, in->body, in->body_len);
    e->key = (kl_str_t){kp, key_len};
    e->status = in->status;
    e->is_private = in->is_private;
    memcpy(e->content_type, ctype, ctype_len + 1);
    e->body = bp;
    e->body_len = in->body_len;
    uint64_t digest = kl_etag_hash(bp, in->body_len);
    e->etag_len = kl_etag_format(digest, false, e->etag);
    e->etag_gzip_len = kl_etag_format(digest, true, e->etag_gzip);
    e->stored_at = now_ms;
    e->fresh_until = add_sat(now_ms, in->ttl_ms);
    e->stale_until = add_sat(e->fresh_until, in->swr_ms);
    e->charged = charged;
    e->_hash = h;

    for (size_t i = 0; i < nuniq; i++) {
        kl_str_t name = in->tags[uniq[i]];
        uint64_t th = kl_hash64(name.base, name.len, c->seed);
        size_t slot = table_find(&c->tags, th, name.base, name.len);
        tagrec_t *t;
        if (slot != SIZE_MAX) {
            t = c->tags.slots[slot].item;
        } else {
            t = kl_malloc(sizeof *t + name.len);
            char *np = (char *)(t + 1);
            memcpy(np, name.base, name.len);
            t->name = (kl_str_t){np, name.len};
            t->hash = th;
            t->count = 0;
            kl_list_init(&t->links);
            table_insert(&c->tags, th, t);
        }
        kl_cache_taglink_t *l = &e->_links[i];
        l->tag = t;
        l->entry = e;
        kl_list_push(&t->links, &l->link);
        t->count++;
    }
    e->ntags = nuniq;

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
    if (e->charged + len < len || e->charged + len > c->budget / 8) {
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
    e->gzip_len = len;
    e->charged += len;
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
    size_t slot = table_find(&c->tags, th, tag.base, tag.len);
    if (slot == SIZE_MAX) return 0;
    tagrec_t *t = c->tags.slots[slot].item;
    /* Each drop unlinks exactly one link from t (tags are unique per entry) and the last
     * one frees t, so count the drops up front and never touch t after the last. */
    size_t n = t->count;
    for (size_t i = 0; i < n; i++) {
        kl_cache_taglink_t *l = kl_container_of(t->links.next, kl_cache_taglink_t, link);
        drop(c, l->entry);
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

kl_str_t kl_cache_entry_tag(const kl_cache_entry_t *e, size_t i) { return e->_links[i].tag->name; }

void kl_cache_free(kl_cache_t *c) {
    if (!c) return;
    kl_list_t *n;
    while ((n = kl_list_shift(&c->lru)) != NULL) free_entry(kl_container_of(n, kl_cache_entry_t, _lru));
    while ((n = kl_list_shift(&c->detached)) != NULL) free_entry(kl_container_of(n, kl_cache_entry_t, _lru));
    for (size_t i = 0; i <= c->tags.mask; i++) kl_free(c->tags.slots[i].item);
    kl_free(c->keys.slots);
    kl_free(c->tags.slots);
    kl_free(c);
}
