/* bench_ratelimit.c - the @rate path's own costs: a hit on the shared table for one hot key
 * (a client well under its limit), for 100,000 distinct keys (a table holding many clients,
 * one cache miss a hit), one key hammered by 2 threads at once (two shards serving one
 * client: the slot's cache line moves between cores), a refused hit (over the limit), and
 * the client address behind a proxy (kl_ip_client on a 3-hop X-Forwarded-For). Fixed
 * iteration counts on the real clock; prints figures only, asserts nothing. */
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
    return 0;
}
