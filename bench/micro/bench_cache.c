/* bench_cache.c - the shard response cache: lookup hits (the hot path of a cached GET),
 * inserts that each evict the least recently used entry (a cache at its byte budget),
 * tag invalidation of one entry (a write to one bounty) and of a 1000-entry tag (a write
 * that touches every list page). Keys look like keel's (route + normalized parameters),
 * bodies are 1 KiB. Fixed iteration counts; prints figures only, asserts nothing. */
#include "micro.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cache.h"

#define ENTRIES 10000
#define LOOKUPS 10000000
#define INSERTS 2000000
#define BODY 1024
#define TAG_ROUNDS 200
#define LIST_ENTRIES 1000

static void report(const char *what, double dt, double ops) {
    printf("  %-40s %12.0f ops/s %9.1f ns/op\n", what, ops / dt, dt * 1e9 / ops);
}

typedef struct {
    char b[64];
    size_t n;
} key_t_;

/* n keys "<pre><i><post>" */
static key_t_ *make_keys(size_t n, const char *pre, const char *post) {
    key_t_ *k = malloc(n * sizeof *k);
    if (!k) exit(1);
    for (size_t i = 0; i < n; i++) k[i].n = (size_t)snprintf(k[i].b, sizeof k[i].b, "%s%zu%s", pre, i, post);
    return k;
}

int main(void) {
    static char body[BODY];
    for (int i = 0; i < BODY; i++) body[i] = "{\"id\":1,\"title\":\"x\"}"[i % 20];
    key_t_ *keys = make_keys(ENTRIES, "GET /api/bounties/", "?limit=20&status=open");
    uint32_t *order = malloc(LOOKUPS * sizeof *order);
    if (!order) return 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < LOOKUPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        order[i] = (uint32_t)(x % ENTRIES);
    }
    char tagbuf[ENTRIES][24];
    unsigned long long sink = 0;

    /* 1. lookup hits: every key present, random order */
    kl_cache_t *c = kl_cache_new((size_t)256 << 20);
    for (size_t i = 0; i < ENTRIES; i++) {
        int tn = snprintf(tagbuf[i], sizeof tagbuf[i], "bounty:%zu", i);
        kl_str_t tags[2] = {{tagbuf[i], (size_t)tn}, KL_STR("bounties")};
        kl_cache_put_t in = {.status = 200, .content_type = "application/json", .body = body, .body_len = BODY,
                             .ttl_ms = 180000, .swr_ms = 30000, .tags = tags, .ntags = 2};
        kl_cache_put(c, keys[i].b, keys[i].n, &in, 0, NULL);
    }
    double t0 = now();
    for (size_t i = 0; i < LOOKUPS; i++) {
        kl_cache_entry_t *e;
        const key_t_ *k = &keys[order[i]];
        if (kl_cache_lookup(c, k->b, k->n, 1000, &e) == KL_CACHE_FRESH) sink += e->body_len;
    }
    double dt_hit = now() - t0;
    key_t_ *absent = make_keys(ENTRIES, "GET /api/users/", "/stats");
    t0 = now();
    for (size_t i = 0; i < LOOKUPS / 4; i++) {
        kl_cache_entry_t *e;
        const key_t_ *k = &absent[order[i]];
        sink += kl_cache_lookup(c, k->b, k->n, 1000, &e);
    }
    double dt_miss = now() - t0;
    size_t per_entry = (size_t)(kl_cache_stats(c)->bytes / kl_cache_stats(c)->entries);
    kl_cache_free(c);

    /* 2. inserts at the budget: the cache holds ENTRIES entries, each insert evicts one */
    key_t_ *fresh = make_keys(INSERTS, "GET /api/bounties?before=", "&limit=20");
    kl_str_t list_tag[1] = {KL_STR("bounties")};
    kl_cache_put_t in = {.status = 200, .content_type = "application/json", .body = body, .body_len = BODY,
                         .ttl_ms = 60000, .tags = list_tag, .ntags = 1};
    /* keys differ in length by a few bytes: budget on the largest charge, so the cache
     * holds ENTRIES entries and then nearly every insert evicts exactly one */
    c = kl_cache_new((size_t)1 << 20);
    kl_cache_entry_t *probe;
    kl_cache_put(c, fresh[INSERTS - 1].b, fresh[INSERTS - 1].n, &in, 0, &probe);
    size_t ins_charge = kl_cache_entry_charged(probe);
    kl_cache_free(c);
    c = kl_cache_new(ins_charge * ENTRIES);
    for (size_t i = 0; i < ENTRIES; i++) kl_cache_put(c, fresh[i].b, fresh[i].n, &in, 0, NULL);
    uint64_t ev0 = kl_cache_stats(c)->evictions;
    t0 = now();
    for (size_t i = ENTRIES; i < INSERTS; i++) kl_cache_put(c, fresh[i].b, fresh[i].n, &in, 0, NULL);
    double dt_ins = now() - t0;
    uint64_t evicted = kl_cache_stats(c)->evictions - ev0;
    kl_cache_free(c);

    /* 3. tag invalidation: one entry per tag, then a tag carried by LIST_ENTRIES entries */
    c = kl_cache_new((size_t)256 << 20);
    double dt_one = 0, dt_list = 0;
    size_t inv_one = 0, inv_list = 0;
    for (int r = 0; r < TAG_ROUNDS; r++) {
        for (size_t i = 0; i < ENTRIES; i++) {
            int tn = snprintf(tagbuf[i], sizeof tagbuf[i], "bounty:%zu", i);
            kl_str_t tags[2] = {{tagbuf[i], (size_t)tn}, KL_STR("bounties")};
            kl_cache_put_t e = {.status = 200, .body = body, .body_len = 64, .ttl_ms = 60000, .tags = tags,
                                .ntags = i < LIST_ENTRIES ? 2 : 1};
            kl_cache_put(c, keys[i].b, keys[i].n, &e, 0, NULL);
        }
        t0 = now();
        for (size_t i = LIST_ENTRIES; i < ENTRIES; i += 2)
            inv_one += kl_cache_invalidate_tag(c, (kl_str_t){tagbuf[i], strlen(tagbuf[i])});
        dt_one += now() - t0;
        t0 = now();
        inv_list += kl_cache_invalidate_tag(c, KL_STR("bounties"));
        dt_list += now() - t0;
        kl_cache_clear(c);
    }
    kl_cache_free(c);

    printf("cache: %d entries, %d-byte bodies, %zu bytes charged per entry\n", ENTRIES, BODY, per_entry);
    report("lookup hit (random key)", dt_hit, LOOKUPS);
    report("lookup miss", dt_miss, LOOKUPS / 4);
    report("insert + evict one (at budget)", dt_ins, (double)(INSERTS - ENTRIES));
    printf("    (%llu evictions for %d inserts)\n", (unsigned long long)evicted, INSERTS - ENTRIES);
    report("invalidate tag with 1 entry", dt_one, (double)inv_one);
    report("invalidate tag with 1000 entries", dt_list, (double)TAG_ROUNDS);
    printf("    (%.1f ns per invalidated entry)\n", dt_list * 1e9 / (double)inv_list);
    free(fresh);
    free(absent);
    free(keys);
    free(order);
    if (sink == 42) printf("(sink)\n");
    return 0;
}
