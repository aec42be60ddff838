#include <stdint.h>

#include "core/shard.h"
#include "kt.h"

/* Idle shards: least connections, ties to the first found from start. */
static void idle_shards_least_connections(void) {
    uint64_t open[3] = {4, 2, 2};
    uint32_t load[3] = {0, 0, 0};
    KT_EQ(kl_shard_pick(open, load, 3, 0, 100), 1);
    KT_EQ(kl_shard_pick(open, load, 3, 2, 100), 2); /* tie: the search start wins */
    uint64_t even[2] = {0, 0};
    KT_EQ(kl_shard_pick(even, load, 2, 0, 100), 0);
    KT_EQ(kl_shard_pick(even, load, 2, 1, 100), 1);
}

/* A shard that is starved of CPU (load above 1000) gets new connections only once the
 * others hold proportionally more: (open + 1) * (1000 + load) is compared. */
static void starved_shard_gets_fewer(void) {
    uint64_t open[2] = {0, 0};
    uint32_t load[2] = {1500, 100};
    KT_EQ(kl_shard_pick(open, load, 2, 0, 100), 1);
    open[1] = 1; /* 1 * 2500 vs 2 * 1100: still shard 1 */
    KT_EQ(kl_shard_pick(open, load, 2, 0, 100), 1);
    open[1] = 2; /* 2500 vs 3300: now shard 0 */
    KT_EQ(kl_shard_pick(open, load, 2, 0, 100), 0);
    /* a busy shard with far fewer connections still gets some: no stranding either way */
    uint64_t o2[2] = {0, 50};
    uint32_t l2[2] = {3000, 0};
    KT_EQ(kl_shard_pick(o2, l2, 2, 1, 100), 0);
}

static void full_shards_skipped(void) {
    uint64_t open[3] = {10, 3, 10};
    uint32_t load[3] = {0, 5000, 0};
    KT_EQ(kl_shard_pick(open, load, 3, 0, 10), 1); /* the only one with room, however loaded */
    open[1] = 10;
    KT_EQ(kl_shard_pick(open, load, 3, 0, 10), -1);
    /* huge counts and loads do not overflow the comparison */
    uint64_t big[2] = {UINT64_MAX - 2, UINT64_MAX - 3};
    uint32_t bl[2] = {UINT32_MAX, UINT32_MAX};
    KT_EQ(kl_shard_pick(big, bl, 2, 0, UINT64_MAX), 1);
}

/* However starved a shard looks, it keeps a quarter of an idle shard's share: load counts
 * at most 3000. */
static void load_is_capped(void) {
    uint64_t open[2] = {3, 0};
    uint32_t load[2] = {0, 50000};
    KT_EQ(kl_shard_pick(open, load, 2, 0, 100), 0); /* 4 * 1000 vs 1 * 4000: a tie, the start wins */
    KT_EQ(kl_shard_pick(open, load, 2, 1, 100), 1);
    open[0] = 4;
    KT_EQ(kl_shard_pick(open, load, 2, 0, 100), 1); /* 5000 > 4000 */
}

int main(void) {
    KT_RUN(idle_shards_least_connections);
    KT_RUN(starved_shard_gets_fewer);
    KT_RUN(full_shards_skipped);
    KT_RUN(load_is_capped);
    return KT_DONE();
}
