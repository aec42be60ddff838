/* ratelimit.c - see ratelimit.h for the rule, the slot layout and why it is exact. */
#include "app/ratelimit.h"

#include <stdatomic.h>
#include <stdbool.h>

#include "core/alloc.h"
#include "core/clock.h"

#define COUNT_BITS 20
#define END_BITS 28
#define FP_BITS 16
#define COUNT_MASK ((1ull << COUNT_BITS) - 1)
#define END_MASK ((1ull << END_BITS) - 1)
#define HALF (1ull << (END_BITS - 1))
/* An end this long ago can no longer matter to any window that has not ended. */
#define STALE_MS ((uint64_t)KL_RATELIMIT_MAX_WINDOW_MS + 60000)
/* The table's time starts here, so that (now - phase) is never negative. */
#define ORIGIN_MS (2ull * KL_RATELIMIT_MAX_WINDOW_MS)
/* Retries when a window ends while it is being counted (each needs a window to end). */
#define ATTEMPTS 8

_Static_assert(FP_BITS + END_BITS + COUNT_BITS == 64, "one word");
_Static_assert(KL_RATELIMIT_MAX_LIMIT <= COUNT_MASK, "limit fits the count");
_Static_assert(STALE_MS + KL_RATELIMIT_MAX_WINDOW_MS < HALF, "ends compare within half the ring");

struct kl_ratelimit {
    _Atomic uint64_t *slots;
    uint64_t mask;
    uint64_t base; /* clock reading at creation */
    uint64_t (*clock)(void *ctx);
    void *ctx;
};

static uint64_t fp_of(uint64_t w) { return w >> (END_BITS + COUNT_BITS); }
static uint64_t end_of(uint64_t w) { return (w >> COUNT_BITS) & END_MASK; }
static uint64_t count_of(uint64_t w) { return w & COUNT_MASK; }
static uint64_t make(uint64_t fp, uint64_t end, uint64_t count) {
    return fp << (END_BITS + COUNT_BITS) | (end & END_MASK) << COUNT_BITS | count;
}
/* a <= b on the 2^28 ms ring (both within half of it of each other) */
static bool ends_by(uint64_t a, uint64_t b) { return ((b - a) & END_MASK) < HALF; }

/* Nonzero (the low bit is set), so no claimed slot ever reads as empty, even at count 0. */
static uint64_t key_fp(uint64_t key) { return (key & ((1u << FP_BITS) - 1)) | 1; }
static uint64_t key_home(const kl_ratelimit_t *t, uint64_t key) { return (key >> FP_BITS) & t->mask; }

static uint64_t default_clock(void *ctx) {
    (void)ctx;
    return kl_clock_ms();
}

static uint64_t now_of(const kl_ratelimit_t *t) { return t->clock(t->ctx) - t->base + ORIGIN_MS; }

/* A range longer than the table would look at its slots twice. */
static unsigned probes(const kl_ratelimit_t *t) {
    return t->mask < KL_RATELIMIT_PROBES ? (unsigned)t->mask + 1 : KL_RATELIMIT_PROBES;
}

kl_ratelimit_t *kl_ratelimit_new(size_t slots, uint64_t (*clock)(void *ctx), void *ctx) {
    if (slots < KL_RATELIMIT_MIN_SLOTS || slots > KL_RATELIMIT_MAX_SLOTS || (slots & (slots - 1))) return NULL;
    kl_ratelimit_t *t = kl_calloc(sizeof(*t));
    /* Fresh zeroed pages (all-zero bytes are an empty slot): a slot costs memory only once
     * a key first lands on its page. */
    t->slots = kl_calloc(slots * sizeof(*t->slots));
    t->mask = slots - 1;
    t->clock = clock ? clock : default_clock;
    t->ctx = ctx;
    t->base = t->clock(ctx);
    return t;
}

void kl_ratelimit_free(kl_ratelimit_t *t) {
    if (!t) return;
    kl_free(t->slots);
    kl_free(t);
}

size_t kl_ratelimit_slots(const kl_ratelimit_t *t) { return (size_t)t->mask + 1; }

/* One attempt at counting in the window [start, end). */
static int count_in(kl_ratelimit_t *t, uint64_t key, uint32_t limit, uint64_t start, uint64_t end, uint32_t *count) {
    uint64_t fp = key_fp(key), e = end & END_MASK, s = start & END_MASK;
    uint64_t home = key_home(t, key);
    for (unsigned i = 0, n = probes(t); i < n; i++) {
        _Atomic uint64_t *slot = &t->slots[(home + i) & t->mask];
        uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
        for (;;) {
            if (v != 0 && fp_of(v) == fp && end_of(v) == e) { /* this key's window */
                uint64_t c = count_of(v);
                if (c >= limit) {
                    *count = (uint32_t)c;
                    return KL_RATELIMIT_LIMITED;
                }
                if (atomic_compare_exchange_weak_explicit(slot, &v, v + 1, memory_order_acq_rel,
                                                          memory_order_acquire)) {
                    *count = (uint32_t)c + 1;
                    return KL_RATELIMIT_OK;
                }
                continue; /* v holds what is there now */
            }
            if (v == 0 || ends_by(end_of(v), s)) { /* free for this window: claim it */
                if (atomic_compare_exchange_weak_explicit(slot, &v, make(fp, e, 1), memory_order_acq_rel,
                                                          memory_order_acquire)) {
                    *count = 1;
                    return KL_RATELIMIT_OK;
                }
                continue;
            }
            break; /* another key's live window */
        }
    }
    return KL_RATELIMIT_FULL;
}

int kl_ratelimit_hit(kl_ratelimit_t *t, uint64_t key, uint32_t limit, uint32_t window_ms, kl_ratelimit_hit_t *out) {
    uint64_t w = window_ms;
    uint64_t phase = (key >> 40) % w;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        uint64_t now = now_of(t);
        uint64_t end = ((now - phase) / w + 1) * w + phase, start = end - w;
        uint32_t count = 0;
        int r = count_in(t, key, limit, start, end, &count);
        uint64_t after = now_of(t);
        /* A count is valid only if it happened inside its window (see ratelimit.h). FULL
         * counted nothing; no slot in reach can free for this key before its next window. */
        if (after >= end) continue;
        *out = (kl_ratelimit_hit_t){.count = count, .reset_ms = end - after, .window = end};
        return r;
    }
    /* Only reachable when ATTEMPTS windows end during one call: refuse, never over-count. */
    *out = (kl_ratelimit_hit_t){.count = limit, .reset_ms = w, .window = 0};
    return KL_RATELIMIT_LIMITED;
}

void kl_ratelimit_undo(kl_ratelimit_t *t, uint64_t key, uint64_t window) {
    uint64_t fp = key_fp(key), e = window & END_MASK, home = key_home(t, key);
    for (unsigned i = 0, n = probes(t); i < n; i++) {
        _Atomic uint64_t *slot = &t->slots[(home + i) & t->mask];
        uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
        while (v != 0 && fp_of(v) == fp && end_of(v) == e) {
            if (count_of(v) == 0) return;
            if (atomic_compare_exchange_weak_explicit(slot, &v, v - 1, memory_order_acq_rel, memory_order_acquire))
                return;
        }
    }
}

size_t kl_ratelimit_sweep(kl_ratelimit_t *t, size_t from, size_t n) {
    uint64_t cutoff = (now_of(t) - STALE_MS) & END_MASK;
    size_t freed = 0;
    for (size_t i = 0; i < n; i++) {
        _Atomic uint64_t *slot = &t->slots[(from + i) & t->mask];
        uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
        /* Emptying such a slot changes nothing for any window that has not ended: it was
         * already free for all of them. A failed CAS means it was just claimed: keep it. */
        if (v != 0 && ends_by(end_of(v), cutoff) &&
            atomic_compare_exchange_strong_explicit(slot, &v, 0, memory_order_acq_rel, memory_order_acquire))
            freed++;
    }
    return freed;
}

size_t kl_ratelimit_live(kl_ratelimit_t *t) {
    uint64_t now = now_of(t) & END_MASK;
    size_t n = 0;
    for (uint64_t i = 0; i <= t->mask; i++) {
        uint64_t v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
        if (v != 0 && !ends_by(end_of(v), now)) n++;
    }
    return n;
}
