/* bench_cache_mem.c - what the response cache costs in memory beyond the bytes it keeps:
 * fills one cache with 100,000 entries shaped like the reference app's GET /api/bounties/{id}
 * (key "GET /api/bounties/<id>", a 315-byte JSON body, one tag "bounty:<id>"), and prints
 * the process's RSS growth per entry minus the entry's key and body bytes, next to what the
 * cache charges per entry. Then the same with a gzip variant attached to every entry, with
 * no tag, and with bodies of 250-375 bytes (the spread of the reference app's 100,000
 * bounties, most of them; many size classes at once, each with a page being filled). Each fill runs in a child process of its own, so no fill reuses pages an
 * earlier one freed. The budget is large enough that nothing is evicted. Prints figures only. */
#include "micro.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/cache.h"

#define ENTRIES 100000
#define BODY 315
#define GZIP 220
/* bodies of BODY_MIN + (i * 37 % BODY_SPREAD) bytes in the varied run */
#define BODY_MIN 250
#define BODY_SPREAD 126

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

/* Fills a fresh cache; returns RSS growth per entry minus key+body(+gzip) bytes. */
static void run(const char *what, bool tagged, bool gzip, bool varied) {
    static char body[BODY_MIN + BODY_SPREAD], gz[GZIP];
    for (size_t i = 0; i < sizeof body; i++) body[i] = "{\"id\":1,\"title\":\"x\"}"[i % 20];
    memset(gz, 0x1f, sizeof gz);
    long before = rss_bytes();
    double t0 = now();
    kl_cache_t *c = kl_cache_new((size_t)4 << 30);
    size_t data = 0;
    for (int i = 1; i <= ENTRIES; i++) {
        char key[64], tag[32];
        int kn = snprintf(key, sizeof key, "GET /api/bounties/%d", i);
        int tn = snprintf(tag, sizeof tag, "bounty:%d", i);
        kl_str_t tags[1] = {{tag, (size_t)tn}};
        size_t len = varied ? BODY_MIN + (size_t)i * 37 % BODY_SPREAD : BODY;
        kl_cache_put_t in = {.status = 200, .content_type = "application/json", .body = body, .body_len = len,
                             .ttl_ms = 180000, .tags = tagged ? tags : NULL, .ntags = tagged ? 1 : 0};
        kl_cache_entry_t *e;
        if (kl_cache_put(c, key, (size_t)kn, &in, 0, &e) != 0) {
            fprintf(stderr, "put %d failed\n", i);
            exit(1);
        }
        data += (size_t)kn + len;
        if (gzip) {
            kl_cache_set_gzip(c, e, gz, GZIP);
            data += GZIP;
        }
    }
    double dt = now() - t0;
    long grown = rss_bytes() - before;
    const kl_cache_stats_t *s = kl_cache_stats(c);
    printf("  %-34s RSS %6.1f MiB: %6.1f bytes/entry beyond key+bodies (charged %5.1f beyond); %.0f ns/put\n", what,
           (double)grown / (1 << 20), ((double)grown - (double)data) / ENTRIES,
           ((double)s->bytes - (double)data) / (double)s->entries, dt * 1e9 / ENTRIES);
    kl_cache_free(c);
}

int main(void) {
    printf("cache memory: %d entries, %d-byte bodies (gzip variant %d bytes), keys \"GET /api/bounties/<id>\"\n",
           ENTRIES, BODY, GZIP);
    static const struct { const char *what; bool tagged, gzip, varied; } runs[] = {
        {"one tag (bounty:<id>)", true, false, false},
        {"one tag + gzip variant", true, true, false},
        {"no tag", false, false, false},
        {"one tag, bodies of 250-375 bytes", true, false, true}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
            run(runs[i].what, runs[i].tagged, runs[i].gzip, runs[i].varied);
            fflush(stdout);
            _exit(0);
        }
        if (p > 0) waitpid(p, NULL, 0);
    }
    return 0;
}
