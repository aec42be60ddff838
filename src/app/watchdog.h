/* watchdog.h - systemd's watchdog, fed only while every shard's loop turns: the main
 * thread pings (WATCHDOG=1) every half interval, and only when each shard's heartbeat
 * (shard.h) advanced since the last ping. A shard stuck in a loop or a blocking call
 * stops the pings, and systemd kills and restarts keel. Main thread only. */
#ifndef KL_WATCHDOG_H
#define KL_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/shard.h"

typedef struct {
    uint64_t interval_ms; /**< between pings: half of $WATCHDOG_USEC; 0 = no watchdog */
    uint64_t next_ms;     /**< kl_clock_ms of the next check */
    uint64_t *beats;      /**< each shard's heartbeat at the last ping (owned) */
    const kl_shard_t *shards;
    unsigned n;
    bool stalled;         /**< pings are withheld (logged once per stall) */
} kl_watchdog_t;

/** Reads $WATCHDOG_USEC for n running shards. */
void kl_watchdog_init(kl_watchdog_t *w, const kl_shard_t *shards, unsigned n);
/** Pings when due and every shard turned since the last ping; returns the ms until the
 * next check is due (the caller's longest sleep), UINT64_MAX without a watchdog. */
uint64_t kl_watchdog_tick(kl_watchdog_t *w, uint64_t now_ms);
/** Releases w. */
void kl_watchdog_free(kl_watchdog_t *w);

#endif
