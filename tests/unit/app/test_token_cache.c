/* test_token_cache.c - the per-shard cache of verified tokens: a hit returns the stored
 * value, only while valid and under the same key-set version; the bounds on entries and
 * bytes hold with the least recently used entry going first; replacing an entry; refusing
 * an entry too large; many tokens colliding in one bucket. */
#include <errno.h>

#include "app/token_cache.h"
#include "kt.h"

static const char *get(kl_token_cache_t *c, const char *tok, uint64_t version, int64_t now) {
    size_t vl = 0;
    const char *v = kl_token_cache_get(c, tok, strlen(tok), version, now, &vl);
    if (v) KT_EQ(vl, strlen(v) + 1);
    return v;
}

static int put(kl_token_cache_t *c, const char *tok, uint64_t version, int64_t until, const char *val) {
    return kl_token_cache_put(c, tok, strlen(tok), version, until, val, strlen(val) + 1);
}

static void hits_until_expiry_and_version(void) {
    kl_token_cache_t *c = kl_token_cache_new(16, 1 << 20, 42);
    KT_CHECK(get(c, "a.b.c", 1, 100) == NULL);
    KT_EQ(put(c, "a.b.c", 1, 200, "claims-a"), 0);
    const char *v = get(c, "a.b.c", 1, 100);
    KT_CHECK(v && !strcmp(v, "claims-a"));
    KT_CHECK(get(c, "a.b.c", 1, 199) != NULL);
    KT_CHECK(get(c, "a.b.c", 1, 200) == NULL); /* valid while now < until */
    KT_EQ(kl_token_cache_stats(c)->entries, 0);  /* and dropped once met expired */
    KT_EQ(put(c, "a.b.c", 1, 200, "claims-a"), 0);
    KT_CHECK(get(c, "a.b.c", 2, 100) == NULL);   /* another key set: verify again */
    KT_EQ(kl_token_cache_stats(c)->entries, 0);
    /* a token differing in one byte, or a prefix, is another token */
    KT_EQ(put(c, "a.b.c", 1, 200, "claims-a"), 0);
    KT_CHECK(get(c, "a.b.d", 1, 100) == NULL);
    KT_CHECK(get(c, "a.b.", 1, 100) == NULL);
    KT_CHECK(get(c, "a.b.cc", 1, 100) == NULL);
    /* replacing keeps one entry */
    KT_EQ(put(c, "a.b.c", 1, 300, "claims-a2"), 0);
    KT_EQ(kl_token_cache_stats(c)->entries, 1);
    v = get(c, "a.b.c", 1, 250);
    KT_CHECK(v && !strcmp(v, "claims-a2"));
    const kl_token_cache_stats_t *st = kl_token_cache_stats(c);
    KT_EQ(st->hits, 3);
    KT_EQ(st->misses, 6);
    KT_EQ(st->inserts, 4);
    kl_token_cache_free(c);
}

static void bounded_by_entries_lru_first(void) {
    kl_token_cache_t *c = kl_token_cache_new(4, 1 << 20, 7);
    char t[16];
    for (int i = 0; i < 4; i++) {
        snprintf(t, sizeof t, "tok%d", i);
        KT_EQ(put(c, t, 1, 1000, "v"), 0);
    }
    KT_CHECK(get(c, "tok0", 1, 1) != NULL); /* tok0 is now the most recent; tok1 the least */
    KT_EQ(put(c, "tok4", 1, 1000, "v"), 0);
    KT_EQ(kl_token_cache_stats(c)->entries, 4);
    KT_EQ(kl_token_cache_stats(c)->evictions, 1);
    KT_CHECK(get(c, "tok1", 1, 1) == NULL);
    KT_CHECK(get(c, "tok0", 1, 1) != NULL);
    KT_CHECK(get(c, "tok2", 1, 1) != NULL);
    KT_CHECK(get(c, "tok4", 1, 1) != NULL);
    kl_token_cache_free(c);
}

static void bounded_by_bytes(void) {
    size_t max = 64 * 1024;
    kl_token_cache_t *c = kl_token_cache_new(100000, max, 9);
    char tok[2000], val[4000];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; i < 500; i++) {
        memset(tok, 'a' + i % 26, 1000);
        snprintf(tok + 1000, sizeof tok - 1000, "-%d", i);
        KT_EQ(put(c, tok, 1, 1000, val), 0);
        KT_CHECK(kl_token_cache_stats(c)->bytes <= max);
    }
    KT_CHECK(kl_token_cache_stats(c)->entries >= 10 && kl_token_cache_stats(c)->entries <= 13);
    /* the newest is there, the oldest is gone */
    KT_CHECK(get(c, tok, 1, 1) != NULL);
    memset(tok, 'a', 1000);
    snprintf(tok + 1000, sizeof tok - 1000, "-%d", 0);
    KT_CHECK(get(c, tok, 1, 1) == NULL);
    /* one entry larger than an eighth of the budget is not kept, and evicts nothing */
    size_t before = kl_token_cache_stats(c)->entries;
    char *huge = malloc(max / 8 + 1);
    memset(huge, 'h', max / 8);
    huge[max / 8] = '\0';
    KT_EQ(put(c, "t", 1, 1000, huge), -E2BIG);
    KT_EQ(kl_token_cache_stats(c)->entries, before);
    free(huge);
    kl_token_cache_free(c);
}

static void one_bucket_many_tokens(void) {
    /* 16 buckets for 16 entries: a few hundred tokens cycle through chains and the LRU */
    kl_token_cache_t *c = kl_token_cache_new(16, 1 << 20, 1);
    char t[32];
    for (int i = 0; i < 400; i++) {
        snprintf(t, sizeof t, "token-%d", i);
        KT_EQ(put(c, t, (uint64_t)(i % 3), 1000, t), 0);
        const char *v = get(c, t, (uint64_t)(i % 3), 5);
        KT_CHECK(v && !strcmp(v, t));
        KT_CHECK(kl_token_cache_stats(c)->entries <= 16);
    }
    for (int i = 384; i < 400; i++) {
        snprintf(t, sizeof t, "token-%d", i);
        KT_CHECK(get(c, t, (uint64_t)(i % 3), 5) != NULL);
    }
    kl_token_cache_free(c);
    kl_token_cache_free(NULL);
}

int main(void) {
    KT_RUN(hits_until_expiry_and_version);
    KT_RUN(bounded_by_entries_lru_first);
    KT_RUN(bounded_by_bytes);
    KT_RUN(one_bucket_many_tokens);
    return KT_DONE();
}
