/* test_cache_table.c - the cache's index tables themselves (Robin Hood order, 8-byte slots,
 * growth when an item would sit too far from home), with the distance bound lowered to 3 so
 * that growth by distance, which a seeded hash never provokes at the real bound, happens
 * all the time, and tags known by 7 bits of their hash instead of 60, so that distinct tags
 * collide as they would once in 2^60. The cache's behaviour is test_cache.c's; this checks
 * the tables' invariants after every operation, and what a tag collision does. */
#define KL_CACHE_DIST_MAX 3u
#define KL_CACHE_TAG_BITS 7
#include "app/cache.c"

#include <stdio.h>

#include "kt.h"

/* Every slot's distance is its real distance from its item's home, never above the bound;
 * no slot sits further from home than its predecessor plus one (Robin Hood order, which
 * lets a probe stop early); every item is found by its own key; count matches. */
static int table_ok(const table_t *t) {
    size_t n = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        slot_t s = t->slots[i];
        if (!s) continue;
        n++;
        void *item = slot_item(s);
        uint64_t h = item_hash(t, item);
        if (slot_dist(s) != ((i - (h & t->mask)) & t->mask) || slot_dist(s) > KL_CACHE_DIST_MAX) return 0;
        if ((s & SLOT_FRAG_MASK) != slot_frag(h)) return 0;
        slot_t prev = t->slots[(i - 1) & t->mask];
        if (slot_dist(s) > 0 && (!prev || slot_dist(s) > slot_dist(prev) + 1)) return 0;
        kl_str_t k = t->entries ? kl_cache_entry_key(item) : (kl_str_t){NULL, 0};
        if (table_find(t, h, k.base, k.len) != i) return 0;
    }
    return n == t->count;
}

static size_t key_of(unsigned i, char *out) { return (size_t)snprintf(out, 32, "GET /b/%u", i); }

static int put_tagged(kl_cache_t *c, unsigned i) {
    char key[32], tag[32];
    size_t kn = key_of(i, key);
    int tn = snprintf(tag, sizeof tag, "group:%u", i % 37);
    kl_str_t tags[2] = {{tag, (size_t)tn}, {key + 4, kn - 4}};
    kl_cache_put_t in = {.status = 200, .body = "b", .body_len = 1, .ttl_ms = 1000, .tags = tags, .ntags = 2};
    return kl_cache_put(c, key, kn, &in, 0, NULL);
}

/* With at most 3 slots between an item and its home, 20,000 entries grow the tables by
 * distance, not only by load; every key and tag is still found, and removing and
 * invalidating keep the order intact. */
static void growth_by_distance(void) {
    enum { N = 20000 };
    kl_cache_t *c = kl_cache_new((size_t)1 << 30);
    int bad = 0;
    for (unsigned i = 0; i < N; i++) {
        KT_EQ(put_tagged(c, i), 0);
        if (i % 997 == 0 && (!table_ok(&c->keys) || !table_ok(&c->tags))) bad++;
    }
    KT_EQ(bad, 0);
    KT_CHECK(table_ok(&c->keys) && table_ok(&c->tags));
    /* load alone would stop at the first power of two above N * 8/7 */
    size_t by_load = TABLE_MIN;
    while (by_load * 7 < (size_t)N * 8) by_load *= 2;
    KT_CHECK(c->keys.mask + 1 > by_load);
    char key[32];
    for (unsigned i = 0; i < N; i++) {
        kl_cache_entry_t *e;
        if (kl_cache_lookup(c, key, key_of(i, key), 1, &e) != KL_CACHE_FRESH) bad++;
    }
    KT_EQ(bad, 0);
    for (unsigned i = 0; i < N; i += 2) KT_CHECK(kl_cache_remove(c, key, key_of(i, key)));
    KT_CHECK(table_ok(&c->keys) && table_ok(&c->tags));
    /* group:5 is carried by every 37th id; the even ones are gone. With 7-bit tags it also
     * takes every odd entry carrying a tag that shares its hash: group:<g>, or its own key. */
    uint64_t h5 = tag_hash(c, (kl_str_t){"group:5", 7});
    size_t want = 0, shared = 0;
    for (unsigned i = 1; i < N; i += 2) {
        char g[16];
        int gn = snprintf(g, sizeof g, "group:%u", i % 37);
        size_t kn = key_of(i, key);
        bool hit = tag_hash(c, (kl_str_t){g, (size_t)gn}) == h5 || tag_hash(c, (kl_str_t){key + 4, kn - 4}) == h5;
        want += hit;
        shared += hit && i % 37 != 5;
    }
    KT_CHECK(shared > 0); /* the collision this test is about did happen */
    KT_EQ(kl_cache_invalidate_tag(c, (kl_str_t){"group:5", 7}), want);
    KT_CHECK(table_ok(&c->keys) && table_ok(&c->tags));
    for (unsigned i = 0; i < N; i++) {
        kl_cache_entry_t *e;
        char g[16];
        int gn = snprintf(g, sizeof g, "group:%u", i % 37);
        size_t kn = key_of(i, key);
        bool gone = i % 2 == 0 || tag_hash(c, (kl_str_t){g, (size_t)gn}) == h5 ||
                    tag_hash(c, (kl_str_t){key + 4, kn - 4}) == h5;
        if (kl_cache_lookup(c, key, key_of(i, key), 1, &e) != (gone ? KL_CACHE_MISS : KL_CACHE_FRESH)) bad++;
    }
    KT_EQ(bad, 0);
    KT_EQ(kl_cache_stats(c)->entries, c->keys.count);
    kl_cache_free(c);
}

/* A budget that holds about 3,000 entries: every put evicts, so removals and insertions
 * interleave across wrapped runs; the tables stay in order throughout. */
static void churn_keeps_order(void) {
    kl_cache_t *c = kl_cache_new(3000 * (KL_CACHE_ENTRY_OVERHEAD + 2 * KL_CACHE_TAG_OVERHEAD + 40));
    int bad = 0;
    uint64_t x = 88172645463325252ull;
    for (unsigned op = 0; op < 60000; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (put_tagged(c, (unsigned)(x % 10000)) != 0) bad++;
        if (op % 5000 == 0 && (!table_ok(&c->keys) || !table_ok(&c->tags))) bad++;
    }
    KT_EQ(bad, 0);
    KT_CHECK(kl_cache_stats(c)->evictions > 0);
    KT_CHECK(table_ok(&c->keys) && table_ok(&c->tags));
    size_t live = c->keys.count;
    KT_CHECK(live > 1000);
    KT_EQ(kl_cache_clear(c), live);
    KT_EQ(c->keys.count, 0);
    KT_EQ(c->tags.count, 0);
    kl_cache_free(c);
}

int main(void) {
    KT_RUN(growth_by_distance);
    KT_RUN(churn_keeps_order);
    return KT_DONE();
}
