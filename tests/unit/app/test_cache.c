#include "app/cache.h"

#include <errno.h>
#include <stdint.h>

#include "kt.h"
#include "proto/etag.h"

static const kl_str_t no_tags[1];

static kl_cache_put_t body_of(const char *body, uint64_t ttl, uint64_t swr) {
    return (kl_cache_put_t){.status = 200,
                            .content_type = "application/json",
                            .body = body,
                            .body_len = strlen(body),
                            .ttl_ms = ttl,
                            .swr_ms = swr,
                            .tags = no_tags,
                            .ntags = 0};
}

static int put_s(kl_cache_t *c, const char *key, const char *body, uint64_t now) {
    kl_cache_put_t in = body_of(body, 1000, 0);
    return kl_cache_put(c, key, strlen(key), &in, now, NULL);
}

static kl_cache_state_t get_s(kl_cache_t *c, const char *key, uint64_t now, kl_cache_entry_t **e) {
    return kl_cache_lookup(c, key, strlen(key), now, e);
}

static void put_and_lookup(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_str_t tags[] = {KL_STR("bounties"), KL_STR("bounty:7")};
    kl_cache_put_t in = body_of("{\"id\":7}", 60000, 0);
    in.status = 201;
    in.is_private = true;
    in.tags = tags;
    in.ntags = 2;
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "GET /b/7", 8, &in, 5000, &e), 0);
    KT_CHECK(e != NULL);
    kl_cache_entry_t *f = NULL;
    KT_EQ(kl_cache_lookup(c, "GET /b/7", 8, 5001, &f), KL_CACHE_FRESH);
    KT_CHECK(f == e);
    kl_str_t fk = kl_cache_entry_key(f);
    KT_STREQ(fk.base, fk.len, "GET /b/7");
    KT_STREQ(kl_cache_entry_body(f), f->body_len, "{\"id\":7}");
    KT_EQ(f->status, 201);
    KT_CHECK(f->is_private);
    KT_CHECK(strcmp(kl_cache_entry_ctype(c, f), "application/json") == 0);
    KT_CHECK(f->gzip == NULL && f->gzip_len == 0);
    KT_EQ(kl_cache_entry_ntags(f), 2);
    char want[KL_ETAG_MAX];
    size_t n = kl_etag_make("{\"id\":7}", 8, false, want);
    char got[KL_ETAG_MAX];
    size_t gn = kl_cache_etag(f, false, got);
    KT_STREQ(got, gn, want);
    KT_EQ(n, gn);
    n = kl_etag_make("{\"id\":7}", 8, true, want);
    gn = kl_cache_etag(f, true, got);
    KT_STREQ(got, gn, want);
    KT_EQ(n, gn);
    KT_EQ(kl_cache_entry_charged(f), KL_CACHE_ENTRY_OVERHEAD + 8 + 8 + 2 * KL_CACHE_TAG_OVERHEAD);
    KT_EQ(kl_cache_stats(c)->bytes, kl_cache_entry_charged(f));
    KT_EQ(kl_cache_stats(c)->entries, 1);
    KT_EQ(kl_cache_lookup(c, "GET /b/8", 8, 5001, &f), KL_CACHE_MISS);
    KT_CHECK(f == NULL);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounty:8")), 0);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounty:7")), 1);
    KT_EQ(kl_cache_stats(c)->entries, 0);
    kl_cache_free(c);
}

static void ttl_states(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_cache_put_t in = body_of("x", 100, 50);
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 1000, &e), 0);
    KT_EQ(e->stored_at, 1000);
    KT_EQ(kl_cache_fresh_until(e), 1100);
    KT_EQ(kl_cache_stale_until(e), 1150);
    KT_EQ(get_s(c, "k", 1000, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "k", 1099, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "k", 1100, &e), KL_CACHE_STALE);
    KT_CHECK(e != NULL);
    KT_EQ(get_s(c, "k", 1149, &e), KL_CACHE_STALE);
    KT_EQ(kl_cache_stats(c)->entries, 1);
    KT_EQ(get_s(c, "k", 1150, &e), KL_CACHE_MISS);
    KT_CHECK(e == NULL);
    const kl_cache_stats_t *s = kl_cache_stats(c);
    KT_EQ(s->entries, 0);
    KT_EQ(s->bytes, 0);
    KT_EQ(s->hits, 2);
    KT_EQ(s->stale_hits, 2);
    KT_EQ(s->expired, 1);
    KT_EQ(s->misses, 1);
    /* gone for good: a later lookup misses without counting another expiry */
    KT_EQ(get_s(c, "k", 1151, &e), KL_CACHE_MISS);
    KT_EQ(s->expired, 1);
    KT_EQ(s->misses, 2);

    /* swr 0: fresh, then straight to a miss */
    in = body_of("y", 10, 0);
    KT_EQ(kl_cache_put(c, "k", 1, &in, 2000, NULL), 0);
    KT_EQ(get_s(c, "k", 2009, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "k", 2010, &e), KL_CACHE_MISS);
    /* ttl 0 with swr: stale at once (serve and revalidate) */
    in = body_of("z", 0, 10);
    KT_EQ(kl_cache_put(c, "k", 1, &in, 3000, NULL), 0);
    KT_EQ(get_s(c, "k", 3000, &e), KL_CACHE_STALE);
    /* huge TTLs saturate instead of wrapping into the past */
    in = body_of("w", UINT64_MAX - 5, UINT64_MAX);
    KT_EQ(kl_cache_put(c, "k", 1, &in, 3000, &e), 0);
    KT_EQ(kl_cache_fresh_until(e), UINT64_MAX);
    KT_EQ(kl_cache_stale_until(e), UINT64_MAX);
    KT_EQ(get_s(c, "k", UINT64_MAX - 1, &e), KL_CACHE_FRESH);
    /* a TTL just under 2^32 ms is kept exactly; from 2^32-1 ms on, the entry never expires */
    in = body_of("v", 0xfffffffeull, 5);
    KT_EQ(kl_cache_put(c, "k", 1, &in, 3000, &e), 0);
    KT_EQ(kl_cache_fresh_until(e), 3000 + 0xfffffffeull);
    KT_EQ(kl_cache_stale_until(e), UINT64_MAX);
    KT_EQ(get_s(c, "k", 3000 + 0xfffffffeull, &e), KL_CACHE_STALE);
    kl_cache_free(c);
}

static void age_and_max_age(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_cache_put_t in = body_of("x", 180000, 30000);
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 10000, &e), 0);
    KT_EQ(kl_cache_age_s(e, 10000), 0);
    KT_EQ(kl_cache_max_age_s(e, 10000), 180);
    KT_EQ(kl_cache_age_s(e, 12999), 2);
    KT_EQ(kl_cache_max_age_s(e, 12999), 177);
    KT_EQ(kl_cache_max_age_s(e, 190000), 0);
    KT_EQ(kl_cache_max_age_s(e, 200000), 0);
    KT_EQ(kl_cache_age_s(e, 5000), 0); /* a clock behind stored_at never goes negative */
    kl_cache_free(c);
}

/* Charge of one entry with key "kNN" and a 100-byte body, measured. */
static size_t unit_charge(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    char body[101];
    memset(body, 'b', 100);
    body[100] = 0;
    kl_cache_entry_t *e;
    KT_EQ(put_s(c, "k00", body, 0), 0);
    KT_EQ(get_s(c, "k00", 0, &e), KL_CACHE_FRESH);
    size_t n = kl_cache_entry_charged(e);
    kl_cache_free(c);
    return n;
}

static void lru_eviction_order(void) {
    size_t unit = unit_charge();
    KT_EQ(unit, KL_CACHE_ENTRY_OVERHEAD + 3 + 100);
    /* room for exactly 30 unit entries; budget/8 (3.8 units) admits a 3-unit entry */
    kl_cache_t *c = kl_cache_new(unit * 30 + unit / 2);
    char body[101];
    memset(body, 'b', 100);
    body[100] = 0;
    char key[8];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        KT_EQ(put_s(c, key, body, 0), 0);
    }
    KT_EQ(kl_cache_stats(c)->entries, 30);
    KT_EQ(kl_cache_stats(c)->evictions, 0);
    kl_cache_entry_t *e;
    KT_EQ(get_s(c, "k00", 1, &e), KL_CACHE_FRESH); /* k00 becomes MRU, k01 the LRU */
    KT_EQ(put_s(c, "k30", body, 2), 0);
    KT_EQ(kl_cache_stats(c)->evictions, 1);
    KT_EQ(get_s(c, "k01", 3, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k00", 3, &e), KL_CACHE_FRESH);
    /* order now, LRU first: k02..k29, k30, k00 */
    KT_EQ(put_s(c, "k31", body, 4), 0);
    KT_EQ(put_s(c, "k32", body, 4), 0);
    KT_EQ(get_s(c, "k02", 5, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k03", 5, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k04", 5, &e), KL_CACHE_FRESH);
    KT_EQ(kl_cache_stats(c)->evictions, 3);
    /* a 3-unit entry evicts as many LRU entries as it needs: k05, k06, k07 */
    size_t bl = 100 + 2 * unit;
    char *big = malloc(bl + 1);
    memset(big, 'B', bl);
    big[bl] = 0;
    KT_EQ(put_s(c, "big", big, 6), 0);
    free(big);
    KT_EQ(kl_cache_stats(c)->evictions, 6);
    KT_EQ(get_s(c, "k05", 7, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k06", 7, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k07", 7, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k08", 7, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "big", 7, &e), KL_CACHE_FRESH);
    KT_EQ(kl_cache_entry_charged(e), 3 * unit);
    KT_EQ(kl_cache_stats(c)->entries, 28);
    KT_CHECK(kl_cache_stats(c)->bytes <= kl_cache_budget(c));
    kl_cache_free(c);
}

static void replace_key(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_str_t t1[] = {KL_STR("a")}, t2[] = {KL_STR("b")};
    kl_cache_put_t in = body_of("old body", 1000, 0);
    in.tags = t1;
    in.ntags = 1;
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, &e), 0);
    KT_CHECK(kl_cache_try_refresh(e));
    in = body_of("new", 2000, 0);
    in.tags = t2;
    in.ntags = 1;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 10, &e), 0);
    KT_EQ(kl_cache_stats(c)->entries, 1);
    KT_EQ(kl_cache_stats(c)->bytes, kl_cache_entry_charged(e));
    KT_EQ(kl_cache_stats(c)->evictions, 0);
    KT_EQ(get_s(c, "k", 1500, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "new");
    KT_CHECK(!e->refreshing); /* the refresh's put starts a new, unclaimed entry */
    /* the old entry's tag no longer reaches the key; the new one does */
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("a")), 0);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("b")), 1);
    KT_EQ(kl_cache_stats(c)->entries, 0);
    KT_EQ(kl_cache_stats(c)->bytes, 0);
    kl_cache_free(c);
}

static void oversize_refused(void) {
    kl_cache_t *c = kl_cache_new(64 * 1024); /* budget/8 = 8 KiB */
    static char big[9000];
    memset(big, 'x', sizeof big - 1);
    KT_EQ(put_s(c, "small", "tiny", 0), 0);
    KT_EQ(put_s(c, "k", "before", 0), 0);
    kl_cache_entry_t *e;
    KT_EQ(put_s(c, "k", big, 1), -EFBIG);
    KT_EQ(kl_cache_stats(c)->refused, 1);
    /* the refused body supersedes the old one: it must not be served any more */
    KT_EQ(get_s(c, "k", 2, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "small", 2, &e), KL_CACHE_FRESH);
    KT_EQ(kl_cache_stats(c)->entries, 1);
    /* just under the limit is stored */
    big[8192 - KL_CACHE_ENTRY_OVERHEAD - 1] = 0;
    KT_EQ(put_s(c, "k", big, 3), 0);
    big[8192 - KL_CACHE_ENTRY_OVERHEAD - 1] = 'x';
    big[8192 - KL_CACHE_ENTRY_OVERHEAD] = 0;
    KT_EQ(put_s(c, "k2", big, 3), -EFBIG);
    /* a zero budget stores nothing */
    kl_cache_t *z = kl_cache_new(0);
    KT_EQ(put_s(z, "k", "", 0), -EFBIG);
    KT_EQ(kl_cache_stats(z)->entries, 0);
    kl_cache_free(z);
    kl_cache_free(c);
}

static void invalid_puts(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    KT_EQ(put_s(c, "k", "keep", 0), 0);
    kl_cache_put_t in = body_of("x", 10, 0);
    char ct[KL_CACHE_CTYPE_MAX + 1];
    memset(ct, 'a', sizeof ct - 1);
    ct[KL_CACHE_CTYPE_MAX] = 0;
    in.content_type = ct;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, NULL), -EINVAL);
    ct[KL_CACHE_CTYPE_MAX - 1] = 0; /* 63 chars + NUL fits */
    KT_EQ(kl_cache_put(c, "k2", 2, &in, 0, NULL), 0);
    in.content_type = NULL;
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "k3", 2, &in, 0, &e), 0);
    KT_CHECK(kl_cache_entry_ctype(c, e)[0] == 0);
    kl_str_t many[KL_CACHE_MAX_TAGS + 1];
    for (int i = 0; i <= KL_CACHE_MAX_TAGS; i++) many[i] = KL_STR("t");
    in.tags = many;
    in.ntags = KL_CACHE_MAX_TAGS + 1;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, NULL), -EINVAL);
    kl_str_t empty[] = {KL_STR("t"), {"", 0}};
    in.tags = empty;
    in.ntags = 2;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, NULL), -EINVAL);
    /* one byte longer than KL_CACHE_TAG_MAX is refused; the longest is kept and invalidates */
    static char longest[KL_CACHE_TAG_MAX + 1];
    memset(longest, 'L', sizeof longest);
    kl_str_t too_long[] = {KL_STR("t"), {longest, KL_CACHE_TAG_MAX + 1}};
    in.tags = too_long;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, NULL), -EINVAL);
    too_long[1].len = KL_CACHE_TAG_MAX;
    KT_EQ(kl_cache_put(c, "k5", 2, &in, 0, &e), 0);
    KT_EQ(kl_cache_entry_ntags(e), 2);
    longest[KL_CACHE_TAG_MAX - 1] = 'M'; /* a tag one byte away from it is another tag */
    KT_EQ(kl_cache_invalidate_tag(c, (kl_str_t){longest, KL_CACHE_TAG_MAX}), 0);
    longest[KL_CACHE_TAG_MAX - 1] = 'L';
    KT_EQ(kl_cache_invalidate_tag(c, (kl_str_t){longest, KL_CACHE_TAG_MAX}), 1);
    KT_EQ(get_s(c, "k5", 2, &e), KL_CACHE_MISS);
    /* nothing changed for "k" */
    KT_EQ(get_s(c, "k", 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "keep");
    /* duplicate tags are carried once */
    in.tags = many;
    in.ntags = KL_CACHE_MAX_TAGS;
    KT_EQ(kl_cache_put(c, "k4", 2, &in, 0, &e), 0);
    KT_EQ(kl_cache_entry_ntags(e), 1);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("t")), 1);
    kl_cache_free(c);
}

/* A key keeps its length in 16 bits: the longest is kept and found, one byte more is
 * refused (the answer still goes out, uncached) and no shorter key is mistaken for it. */
static void longest_key(void) {
    kl_cache_t *c = kl_cache_new(4 << 20);
    static char key[KL_CACHE_KEY_MAX + 1];
    memset(key, 'k', sizeof key);
    kl_cache_put_t in = body_of("{}", 1000, 0);
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, key, KL_CACHE_KEY_MAX + 1, &in, 0, &e), -EFBIG);
    KT_CHECK(e == NULL);
    KT_EQ(kl_cache_lookup(c, key, KL_CACHE_KEY_MAX + 1, 0, &e), KL_CACHE_MISS);
    KT_EQ(kl_cache_put(c, key, KL_CACHE_KEY_MAX, &in, 0, &e), 0);
    KT_EQ(kl_cache_lookup(c, key, KL_CACHE_KEY_MAX, 0, &e), KL_CACHE_FRESH);
    KT_EQ(e->key_len, KL_CACHE_KEY_MAX);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "{}");
    KT_EQ(kl_cache_lookup(c, key, KL_CACHE_KEY_MAX + 1, 0, &e), KL_CACHE_MISS);
    KT_EQ(kl_cache_lookup(c, key, KL_CACHE_KEY_MAX - 1, 0, &e), KL_CACHE_MISS);
    KT_EQ(kl_cache_stats(c)->entries, 1);
    kl_cache_free(c);
}

static void tag_invalidation(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_str_t a[] = {KL_STR("bounties")}, b[] = {KL_STR("bounty:1")};
    kl_str_t ab[] = {KL_STR("bounty:1"), KL_STR("bounties")};
    kl_str_t prefix[] = {KL_STR("bounty:")}; /* a prefix of another tag: must not match it */
    const struct {
        const char *key;
        kl_str_t *tags;
        size_t n;
    } rows[] = {{"list1", a, 1}, {"list2", a, 1}, {"one", b, 1}, {"both", ab, 2}, {"none", NULL, 0}, {"pre", prefix, 1}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        kl_cache_put_t in = body_of(rows[i].key, 1000, 0);
        in.tags = rows[i].n ? rows[i].tags : no_tags;
        in.ntags = rows[i].n;
        KT_EQ(kl_cache_put(c, rows[i].key, strlen(rows[i].key), &in, 0, NULL), 0);
    }
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounty:1")), 2);
    KT_EQ(get_s(c, "one", 1, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "both", 1, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "list1", 1, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "list2", 1, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "none", 1, &e), KL_CACHE_FRESH);
    KT_EQ(get_s(c, "pre", 1, &e), KL_CACHE_FRESH);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounty:1")), 0);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("nope")), 0);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounties")), 2);
    KT_EQ(kl_cache_stats(c)->entries, 2);
    KT_EQ(kl_cache_stats(c)->invalidations, 4);
    /* a tag whose entries all left can be used again */
    kl_cache_put_t in = body_of("again", 1000, 0);
    in.tags = a;
    in.ntags = 1;
    KT_EQ(kl_cache_put(c, "list1", 5, &in, 2, NULL), 0);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounties")), 1);
    /* entries leaving by other routes (remove, expiry, eviction) leave the tag lists too */
    KT_EQ(kl_cache_put(c, "list1", 5, &in, 2, NULL), 0);
    KT_CHECK(kl_cache_remove(c, "list1", 5));
    KT_CHECK(!kl_cache_remove(c, "list1", 5));
    in.ttl_ms = 1;
    KT_EQ(kl_cache_put(c, "list2", 5, &in, 2, NULL), 0);
    KT_EQ(get_s(c, "list2", 3, &e), KL_CACHE_MISS);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("bounties")), 0);
    KT_EQ(kl_cache_clear(c), 2);
    KT_EQ(kl_cache_stats(c)->entries, 0);
    KT_EQ(kl_cache_stats(c)->bytes, 0);
    kl_cache_free(c);
}

static void nul_keys(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_cache_put_t in = body_of("1", 1000, 0);
    KT_EQ(kl_cache_put(c, "a\0b", 3, &in, 0, NULL), 0);
    in = body_of("2", 1000, 0);
    KT_EQ(kl_cache_put(c, "a\0c", 3, &in, 0, NULL), 0);
    in = body_of("3", 1000, 0);
    KT_EQ(kl_cache_put(c, "a", 1, &in, 0, NULL), 0);
    in = body_of("4", 1000, 0);
    KT_EQ(kl_cache_put(c, "", 0, &in, 0, NULL), 0);
    in = body_of("5", 1000, 0);
    KT_EQ(kl_cache_put(c, "\0", 1, &in, 0, NULL), 0);
    KT_EQ(kl_cache_stats(c)->entries, 5);
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_lookup(c, "a\0b", 3, 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "1");
    KT_EQ(kl_cache_entry_key(e).len, 3);
    KT_CHECK(memcmp(kl_cache_entry_key(e).base, "a\0b", 3) == 0);
    KT_EQ(kl_cache_lookup(c, "a\0c", 3, 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "2");
    KT_EQ(kl_cache_lookup(c, "a", 1, 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "3");
    KT_EQ(kl_cache_lookup(c, "", 0, 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "4");
    KT_EQ(kl_cache_lookup(c, "\0", 1, 1, &e), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "5");
    KT_EQ(kl_cache_lookup(c, "a\0", 2, 1, &e), KL_CACHE_MISS);
    KT_EQ(kl_cache_lookup(c, "a\0bx", 4, 1, &e), KL_CACHE_MISS);
    kl_cache_free(c);
}

static size_t key_of(int i, char *out) { return (size_t)snprintf(out, 32, "GET /x?id=%d%c", i, 0) + 1; }

static void table_growth(void) {
    enum { N = 100000 };
    kl_cache_t *c = kl_cache_new((size_t)1 << 30);
    char key[32], body[32];
    for (int i = 0; i < N; i++) {
        size_t kn = key_of(i, key);
        int bn = snprintf(body, sizeof body, "%d", i * 7);
        kl_cache_put_t in = body_of(body, 1000, 0);
        in.body_len = (size_t)bn;
        KT_EQ(kl_cache_put(c, key, kn, &in, 0, NULL), 0);
    }
    KT_EQ(kl_cache_stats(c)->entries, N);
    KT_EQ(kl_cache_stats(c)->evictions, 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        size_t kn = key_of(i, key);
        kl_cache_entry_t *e;
        int bn = snprintf(body, sizeof body, "%d", i * 7);
        if (kl_cache_lookup(c, key, kn, 1, &e) != KL_CACHE_FRESH || e->body_len != (size_t)bn ||
            memcmp(kl_cache_entry_body(e), body, (size_t)bn) != 0)
            bad++;
    }
    KT_EQ(bad, 0);
    /* removing every third key exercises backward-shift deletion across probe runs */
    for (int i = 0; i < N; i += 3) {
        size_t kn = key_of(i, key);
        KT_CHECK(kl_cache_remove(c, key, kn));
    }
    for (int i = 0; i < N; i++) {
        size_t kn = key_of(i, key);
        kl_cache_entry_t *e;
        kl_cache_state_t want = i % 3 == 0 ? KL_CACHE_MISS : KL_CACHE_FRESH;
        if (kl_cache_lookup(c, key, kn, 1, &e) != want) bad++;
    }
    KT_EQ(bad, 0);
    KT_EQ(kl_cache_stats(c)->entries, N - (N + 2) / 3);
    kl_cache_free(c);
}

static void gzip_variant(void) {
    kl_cache_t *c = kl_cache_new(64 * 1024);
    kl_cache_entry_t *e;
    KT_EQ(put_s(c, "k", "identity body", 0), 0);
    KT_EQ(get_s(c, "k", 0, &e), KL_CACHE_FRESH);
    size_t before = kl_cache_entry_charged(e);
    char et[KL_ETAG_MAX], etg[KL_ETAG_MAX];
    kl_cache_etag(e, false, et);
    kl_cache_etag(e, true, etg);
    KT_CHECK(strcmp(et, etg) != 0);
    KT_EQ(kl_cache_set_gzip(c, e, "GZBYTES", 0), -EINVAL);
    KT_EQ(kl_cache_set_gzip(c, e, "GZBYTES", 7), 0);
    KT_STREQ(e->gzip, e->gzip_len, "GZBYTES");
    KT_EQ(kl_cache_entry_charged(e), before + 7);
    KT_EQ(kl_cache_stats(c)->bytes, before + 7);
    KT_EQ(kl_cache_set_gzip(c, e, "OTHER", 5), -EEXIST);
    KT_STREQ(e->gzip, e->gzip_len, "GZBYTES");
    /* too big for budget/8 together with the body: refused, entry unchanged */
    KT_EQ(put_s(c, "k2", "b", 0), 0);
    KT_EQ(get_s(c, "k2", 0, &e), KL_CACHE_FRESH);
    static char gz[8192];
    memset(gz, 'z', sizeof gz);
    KT_EQ(kl_cache_set_gzip(c, e, gz, 8192), -EFBIG);
    KT_CHECK(e->gzip == NULL);
    KT_EQ(kl_cache_stats(c)->refused, 1);
    kl_cache_free(c);

    /* attaching gzip evicts LRU entries to stay in budget, never the entry itself */
    size_t unit = unit_charge();
    c = kl_cache_new(unit * 30 + unit / 2);
    char body[101], key[8];
    memset(body, 'b', 100);
    body[100] = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        KT_EQ(put_s(c, key, body, 0), 0);
    }
    KT_EQ(get_s(c, "k00", 1, &e), KL_CACHE_FRESH);
    KT_EQ(kl_cache_set_gzip(c, e, gz, unit), 0); /* needs one unit: evicts k01 (k00 was touched) */
    KT_EQ(kl_cache_stats(c)->evictions, 1);
    KT_CHECK(kl_cache_stats(c)->bytes <= kl_cache_budget(c));
    KT_EQ(get_s(c, "k01", 2, &e), KL_CACHE_MISS);
    KT_EQ(get_s(c, "k00", 2, &e), KL_CACHE_FRESH);
    KT_EQ(e->gzip_len, unit);
    kl_cache_free(c);
}

static void refresh_flag(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_cache_put_t in = body_of("x", 10, 100);
    kl_cache_entry_t *e;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, NULL), 0);
    KT_EQ(get_s(c, "k", 20, &e), KL_CACHE_STALE);
    KT_CHECK(kl_cache_try_refresh(e));  /* first stale hit starts the refresh */
    KT_EQ(get_s(c, "k", 21, &e), KL_CACHE_STALE);
    KT_CHECK(!kl_cache_try_refresh(e)); /* the next ones just serve */
    KT_CHECK(e->refreshing);
    kl_cache_end_refresh(c, "k", 1);    /* refresh failed */
    KT_CHECK(!e->refreshing);
    KT_CHECK(kl_cache_try_refresh(e));
    kl_cache_end_refresh(c, "absent", 6); /* harmless */
    KT_EQ(kl_cache_stats(c)->stale_hits, 2);
    kl_cache_free(c);
}

static void hold_keeps_bytes(void) {
    kl_cache_t *c = kl_cache_new(1 << 20);
    kl_str_t t[] = {KL_STR("t")};
    kl_cache_put_t in = body_of("held body", 1000, 0);
    in.tags = t;
    in.ntags = 1;
    kl_cache_entry_t *e, *f;
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, &e), 0);
    kl_cache_hold(e);
    KT_EQ(kl_cache_invalidate_tag(c, KL_STR("t")), 1);
    KT_EQ(kl_cache_stats(c)->entries, 0);
    KT_EQ(kl_cache_stats(c)->bytes, 0);
    KT_EQ(get_s(c, "k", 1, &f), KL_CACHE_MISS);
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "held body"); /* still readable: ASan would flag a free */
    KT_EQ(kl_cache_entry_ntags(e), 0);
    KT_EQ(kl_cache_set_gzip(c, e, "gz", 2), -ESTALE);
    kl_cache_release(c, e); /* freed here */

    /* a hold on an entry still in the cache is just a counter */
    KT_EQ(kl_cache_put(c, "k", 1, &in, 0, &e), 0);
    kl_cache_hold(e);
    kl_cache_hold(e);
    kl_cache_release(c, e);
    KT_EQ(put_s(c, "k", "replacement", 1), 0); /* replace: e detached */
    KT_STREQ(kl_cache_entry_body(e), e->body_len, "held body");
    KT_EQ(get_s(c, "k", 2, &f), KL_CACHE_FRESH);
    KT_STREQ(kl_cache_entry_body(f), f->body_len, "replacement");
    KT_CHECK(f != e);
    kl_cache_release(c, e);
    /* held entries still detached at kl_cache_free are freed with the cache */
    KT_EQ(get_s(c, "k", 3, &f), KL_CACHE_FRESH);
    kl_cache_hold(f);
    KT_CHECK(kl_cache_remove(c, "k", 1));
    kl_cache_free(c);
}

/* ---- model-based random test: the cache against a naive reference ---- */

enum { MK = 300, MT = 8 };

typedef struct {
    bool live;
    size_t charged;
    uint64_t fresh, stale, stamp;
    unsigned tags;
    uint32_t body_seed;
    size_t body_len;
    bool has_gzip;
} model_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t mkey(int i, char *out) {
    /* lengths 3..9, a NUL inside, shared prefixes */
    size_t n = 3 + (size_t)(i % 7);
    out[0] = 'k';
    out[1] = 0;
    for (size_t j = 2; j < n; j++) out[j] = (char)('a' + (i >> (j - 2)) % 26 + (int)j);
    out[n - 1] = (char)i;
    out[n - 2] = (char)(i >> 8);
    return n;
}

static void fill(char *b, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) b[i] = (char)(seed + i * 31);
}

static const char *tag_names[MT] = {"t0", "t1", "tag:2", "bounty:3", "b4", "users", "u:6", "x7"};

static size_t model_sum(const model_t *m, size_t *count) {
    size_t s = 0, n = 0;
    for (int i = 0; i < MK; i++)
        if (m[i].live) s += m[i].charged, n++;
    *count = n;
    return s;
}

static void model_make_room(model_t *m, size_t budget, size_t more, int keep) {
    size_t n, sum = model_sum(m, &n);
    while (sum + more > budget) {
        int victim = -1;
        for (int i = 0; i < MK; i++)
            if (m[i].live && i != keep && (victim < 0 || m[i].stamp < m[victim].stamp)) victim = i;
        if (victim < 0) break;
        m[victim].live = false;
        sum -= m[victim].charged;
    }
}

static void model_random(void) {
    const size_t budget = 64 * 1024;
    static model_t m[MK];
    memset(m, 0, sizeof m);
    kl_cache_t *c = kl_cache_new(budget);
    uint64_t now = 1000, stamp = 0;
    static char body[10000], key[16];
    int mismatches = 0, over = 0, refused = 0, evicted_checks = 0;
    for (int op = 0; op < 40000 && mismatches < 5; op++) {
        int i = (int)(rnd() % MK);
        size_t kn = mkey(i, key);
        unsigned r = (unsigned)(rnd() % 100);
        if (r < 40) { /* put */
            kl_cache_put_t in = {0};
            size_t bl = rnd() % 50 == 0 ? 8000 + rnd() % 1000 : rnd() % 1500;
            uint32_t seed = (uint32_t)rnd();
            fill(body, bl, seed);
            kl_str_t tags[4];
            unsigned mask = 0;
            size_t nt = rnd() % 4;
            for (size_t t = 0; t < nt; t++) {
                int ti = (int)(rnd() % MT);
                tags[t] = (kl_str_t){tag_names[ti], strlen(tag_names[ti])};
                mask |= 1u << ti;
            }
            in.status = 200;
            in.body = body;
            in.body_len = bl;
            in.ttl_ms = 10 + rnd() % 500;
            in.swr_ms = rnd() % 3 ? 0 : rnd() % 200;
            in.tags = tags;
            in.ntags = nt;
            kl_cache_entry_t *e;
            int rc = kl_cache_put(c, key, kn, &in, now, &e);
            m[i].live = false;
            if (rc == -EFBIG) {
                refused++;
            } else if (rc != 0) {
                mismatches++;
            } else {
                model_make_room(m, budget, kl_cache_entry_charged(e), -1);
                m[i] = (model_t){true, kl_cache_entry_charged(e), now + in.ttl_ms, now + in.ttl_ms + in.swr_ms, ++stamp, mask, seed, bl, false};
                if (kl_cache_entry_ntags(e) != (size_t)__builtin_popcount(mask)) mismatches++;
            }
        } else if (r < 80) { /* lookup, sometimes attach gzip */
            kl_cache_entry_t *e;
            kl_cache_state_t st = kl_cache_lookup(c, key, kn, now, &e);
            kl_cache_state_t want = KL_CACHE_MISS;
            if (m[i].live) {
                if (now >= m[i].stale) m[i].live = false;
                else want = now < m[i].fresh ? KL_CACHE_FRESH : KL_CACHE_STALE, m[i].stamp = ++stamp;
            }
            if (st != want) {
                fprintf(stderr, "  op %d key %d: state %d, model %d\n", op, i, st, want);
                mismatches++;
            } else if (e) {
                fill(body, m[i].body_len, m[i].body_seed);
                if (e->body_len != m[i].body_len || memcmp(kl_cache_entry_body(e), body, e->body_len) != 0) mismatches++;
                if (kl_cache_entry_charged(e) != m[i].charged) mismatches++;
                if (!m[i].has_gzip && rnd() % 4 == 0) {
                    size_t gl = 1 + rnd() % 800;
                    int rc = kl_cache_set_gzip(c, e, body, gl < e->body_len ? gl : 1);
                    gl = gl < e->body_len ? gl : 1;
                    if (m[i].charged + gl > budget / 8) {
                        if (rc != -EFBIG) mismatches++;
                    } else if (rc != 0) {
                        mismatches++;
                    } else {
                        m[i].stamp = ++stamp;
                        model_make_room(m, budget, gl, i);
                        m[i].charged += gl;
                        m[i].has_gzip = true;
                    }
                }
            }
        } else if (r < 85) { /* remove */
            bool had = kl_cache_remove(c, key, kn);
            if (had != m[i].live) mismatches++;
            m[i].live = false;
        } else if (r < 88) { /* invalidate a tag */
            int ti = (int)(rnd() % MT);
            size_t want = 0;
            for (int j = 0; j < MK; j++)
                if (m[j].live && (m[j].tags >> ti & 1)) m[j].live = false, want++;
            size_t got = kl_cache_invalidate_tag(c, (kl_str_t){tag_names[ti], strlen(tag_names[ti])});
            if (got != want) {
                fprintf(stderr, "  op %d: invalidated %zu, model %zu\n", op, got, want);
                mismatches++;
            }
        } else { /* time passes */
            now += rnd() % 20;
        }
        size_t n, sum = model_sum(m, &n);
        const kl_cache_stats_t *s = kl_cache_stats(c);
        if (s->bytes > budget) over++;
        if (s->bytes != sum || s->entries != n) {
            fprintf(stderr, "  op %d: cache %llu bytes/%llu entries, model %zu/%zu\n", op,
                    (unsigned long long)s->bytes, (unsigned long long)s->entries, sum, n);
            mismatches++;
        }
        evicted_checks += s->evictions > 0;
    }
    KT_EQ(mismatches, 0);
    KT_EQ(over, 0);
    KT_CHECK(refused > 0);                        /* the run did exercise refusal */
    KT_CHECK(kl_cache_stats(c)->evictions > 100); /* ... and eviction */
    KT_CHECK(kl_cache_stats(c)->expired > 0);     /* ... and expiry */
    KT_CHECK(kl_cache_stats(c)->invalidations > 0);
    (void)evicted_checks;
    kl_cache_free(c);
}

int main(void) {
    KT_RUN(put_and_lookup);
    KT_RUN(ttl_states);
    KT_RUN(age_and_max_age);
    KT_RUN(lru_eviction_order);
    KT_RUN(replace_key);
    KT_RUN(oversize_refused);
    KT_RUN(invalid_puts);
    KT_RUN(longest_key);
    KT_RUN(tag_invalidation);
    KT_RUN(nul_keys);
    KT_RUN(table_growth);
    KT_RUN(gzip_variant);
    KT_RUN(refresh_flag);
    KT_RUN(hold_keeps_bytes);
    KT_RUN(model_random);
    return KT_DONE();
}
