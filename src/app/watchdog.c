#include "app/watchdog.h"

#include <string.h>

#include "app/sd_notify.h"
#include "core/alloc.h"
#include "core/log.h"

void kl_watchdog_init(kl_watchdog_t *w, const kl_shard_t *shards, unsigned n) {
    memset(w, 0, sizeof(*w));
    uint64_t usec = kl_sd_watchdog_usec();
    if (!usec) return;
    w->interval_ms = usec / 2000 ? usec / 2000 : 1;
    w->shards = shards;
    w->n = n;
    w->beats = kl_calloc(n * sizeof(uint64_t));
    /* The first check is one interval away: a shard stuck from the start never pings. */
    for (unsigned i = 0; i < n; i++) w->beats[i] = atomic_load_explicit(&shards[i].heartbeat, memory_order_relaxed);
    kl_sd_notify("WATCHDOG=1");
}

uint64_t kl_watchdog_tick(kl_watchdog_t *w, uint64_t now_ms) {
    if (!w->interval_ms) return UINT64_MAX;
    if (w->next_ms == 0) w->next_ms = now_ms + w->interval_ms;
    if (now_ms < w->next_ms) return w->next_ms - now_ms;
    int stuck = -1;
    for (unsigned i = 0; i < w->n && stuck < 0; i++)
        if (atomic_load_explicit(&w->shards[i].heartbeat, memory_order_relaxed) == w->beats[i]) stuck = (int)i;
    if (stuck >= 0) {
        if (!w->stalled)
            kl_log(KL_LOG_ERROR, "a shard's loop has not turned for a watchdog interval; withholding the watchdog ping",
                   "\"shard\":%d,\"interval_ms\":%llu", stuck, (unsigned long long)w->interval_ms);
        w->stalled = true;
    } else {
        if (w->stalled) kl_log(KL_LOG_WARN, "every shard turns again; watchdog pings resume", NULL);
        w->stalled = false;
        for (unsigned i = 0; i < w->n; i++)
            w->beats[i] = atomic_load_explicit(&w->shards[i].heartbeat, memory_order_relaxed);
        kl_sd_notify("WATCHDOG=1");
    }
    w->next_ms = now_ms + w->interval_ms;
    return w->interval_ms;
}

void kl_watchdog_free(kl_watchdog_t *w) {
    kl_free(w->beats);
    w->beats = NULL;
}
