/* bench_ratelimit.c - the @rate path's own costs: a hit on the shared table for one hot key
 * (a client well under its limit), for 100,000 distinct keys (a table holding many clients,
 * one cache miss a hit), one key hammered by 2 threads at once (two shards serving one
 * client: the slot's cache line moves between cores), a refused hit (over the limit), a new
 * key refused by a full table (its whole probe range read), and the client address behind
 * a proxy (kl_ip_client on a 3-hop X-Forwarded-For). Fixed iteration counts on the real
 * clock. Then how full a table can get before it refuses new keys: tables filled to a given
 * load with distinct keys, on a clock that stands still. Prints figures only, asserts
 * nothing. */
#include "micro.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app/ratelimit.h"
#include "proto/ipaddr.h"

#define HITS 20000000
#define KEYS 100000

static void report(const char *what, double dt, double ops) {
    printf("  %-52s %12.0f ops/s %9.1f ns/op\n", what, ops / dt, dt * 1e9 / ops);
}

static uint64_t key_of(uint64_t i) {
    uint64_t x = i * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

typedef struct {
    kl_ratelimit_t *t;
    uint64_t n, ok;
} arg_t;

static uint64_t still_clock(void *ctx) {
    (void)ctx;
    return 1000;
}

/* New keys refused per million while filling tables of 2^18 slots to `load` (the keys
 * differ per table: a run is one set of clients). */
static void refusals_at(double load, int tables) {
    uint64_t keys = (uint64_t)(load * (1u << 18)), refused = 0;
    int tables_refusing = 0;
    kl_ratelimit_hit_t h;
    for (int r = 0; r < tables; r++) {
        kl_ratelimit_t *t = kl_ratelimit_new(1u << 18, still_clock, NULL);
        uint64_t before = refused;
        for (uint64_t i = 0; i < keys; i++)
            refused += kl_ratelimit_hit(t, key_of(((uint64_t)r << 32) + i), 10, 3600000, &h) == KL_RATELIMIT_FULL;
        tables_refusing += refused > before;
        kl_ratelimit_free(t);
    }
    printf("  %3.0f%% full: %2d of %d tables refused a new key, %9.3f per million keys\n", load * 100,
           tables_refusing, tables, (double)refused * 1e6 / ((double)keys * tables));
}

static void *hammer(void *p) {
    arg_t *a = p;
    kl_ratelimit_hit_t h;
    for (uint64_t i = 0; i < a->n; i++) a->ok += kl_ratelimit_hit(a->t, key_of(1), KL_RATELIMIT_MAX_LIMIT, 3600000, &h) == KL_RATELIMIT_OK;
    return NULL;
}

int main(void) {
    kl_ratelimit_t *t = kl_ratelimit_new(1u << 18, NULL, NULL);
    kl_ratelimit_hit_t h;
    uint64_t sink = 0;
    printf("ratelimit (table of %zu slots, real clock)\n", kl_ratelimit_slots(t));

    /* one hot key: limits high enough never to refuse, a fresh key every 500,000 hits */
    double t0 = now();
    for (uint64_t i = 0; i < HITS; i++) sink += (uint64_t)kl_ratelimit_hit(t, key_of(i / 500000), KL_RATELIMIT_MAX_LIMIT, 3600000, &h);
    report("hit, one hot key", now() - t0, HITS);

    /* many keys */
    t0 = now();
    for (uint64_t i = 0; i < HITS / 4; i++) sink += (uint64_t)kl_ratelimit_hit(t, key_of(1000 + i % KEYS), 1000000, 3600000, &h);
    report("hit, 100,000 keys round-robin", now() - t0, HITS / 4);

    /* refused */
    kl_ratelimit_hit(t, key_of(7777777), 1, 3600000, &h);
    t0 = now();
    for (uint64_t i = 0; i < HITS / 4; i++) sink += (uint64_t)kl_ratelimit_hit(t, key_of(7777777), 1, 3600000, &h);
    report("hit over the limit (refused)", now() - t0, HITS / 4);

    /* a new key against a full table: every slot holds another key's live window */
    kl_ratelimit_t *full = kl_ratelimit_new(KL_RATELIMIT_MIN_SLOTS * 4, NULL, NULL);
    for (uint64_t i = 0; i < 100000; i++) kl_ratelimit_hit(full, key_of(i), 10, 3600000, &h);
    t0 = now();
    for (uint64_t i = 0; i < HITS / 20; i++) sink += (uint64_t)kl_ratelimit_hit(full, key_of(200000 + i), 10, 3600000, &h);
    report("hit, new key, table full (refused)", now() - t0, HITS / 20);
    kl_ratelimit_free(full);

    /* two threads, one key */
    kl_ratelimit_t *t2 = kl_ratelimit_new(1024, NULL, NULL);
    arg_t a[2] = {{t2, HITS / 4, 0}, {t2, HITS / 4, 0}};
    pthread_t th[2];
    t0 = now();
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, hammer, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    report("hit, one key, 2 threads at once (per hit)", now() - t0, (double)HITS / 2);
    printf("  (2 threads: %llu counted)\n", (unsigned long long)(a[0].ok + a[1].ok));

    /* client address behind proxies */
    kl_cidr_t trusted[2];
    size_t n, bl;
    const char *bad;
    static const char list[] = "10.0.0.0/8 fd00::/8";
    kl_cidr_list_parse(list, sizeof(list) - 1, trusted, 2, &n, &bad, &bl);
    kl_ip_t peer, out;
    kl_ip_parse("10.0.0.1", 8, &peer);
    static const char xff[] = "203.0.113.7, 198.51.100.23, 10.1.2.3";
    t0 = now();
    for (uint64_t i = 0; i < HITS / 4; i++) {
        kl_ip_client(&peer, trusted, n, KL_IP_FWD_XFF, xff, sizeof(xff) - 1, &out);
        sink += out.b[15];
    }
    report("client address from a 3-hop X-Forwarded-For", now() - t0, HITS / 4);
    printf("  (sink %llu)\n", (unsigned long long)sink);
    kl_ratelimit_free(t);
    kl_ratelimit_free(t2);

    printf("ratelimit: new keys refused for want of a slot (%d probes, distinct keys)\n", KL_RATELIMIT_PROBES);
    static const double loads[] = {0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) refusals_at(loads[i], 20);
    return 0;
}
