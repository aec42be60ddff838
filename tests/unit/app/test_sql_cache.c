/* The table of cache fills under way: its hash seed is random (issue 9 item 10), so clients
 * cannot aim keys at one bucket of it, and init/shutdown own it. */
#include "app/sql_cache.c"

#include "kt.h"

static void seeds_are_random(void) {
    /* four tables (shards) made in a row: equal seeds would mean a fixed or clock-only seed */
    kl_app_shard_t as[4];
    memset(as, 0, sizeof(as));
    for (int i = 0; i < 4; i++) kl_sql_cache_init(&as[i]);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) KT_CHECK(as[i].fills->seed != as[j].fills->seed);
    for (int i = 0; i < 4; i++) {
        for (size_t b = 0; b < FILL_BUCKETS; b++) KT_CHECK(as[i].fills->buckets[b] == NULL);
        kl_sql_cache_shutdown(&as[i]);
        KT_CHECK(as[i].fills == NULL);
    }
    kl_sql_cache_shutdown(&as[0]); /* safe when there is none */
}

int main(void) {
    KT_RUN(seeds_are_random);
    return KT_DONE();
}
