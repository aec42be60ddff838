#include "core/timer.h"

#define MASK (KL_WHEEL_SLOTS - 1)

void kl_wheel_init(kl_wheel_t *w, uint64_t now_ms) {
    w->now = now_ms;
    w->count = 0;
    for (size_t i = 0; i < KL_WHEEL_SLOTS; i++) kl_list_init(&w->_slots[i]);
}

static void place(kl_wheel_t *w, kl_timer_t *t) {
    /* A deadline already passed goes in the next slot a run will visit. */
    uint64_t tick = t->at > w->now ? t->at : w->now + 1;
    kl_list_push(&w->_slots[tick & MASK], &t->_link);
}

void kl_wheel_add(kl_wheel_t *w, kl_timer_t *t, uint64_t at_ms) {
    kl_wheel_del(w, t);
    t->at = at_ms;
    place(w, t);
    w->count++;
}

void kl_wheel_del(kl_wheel_t *w, kl_timer_t *t) {
    if (!kl_list_linked(&t->_link)) return;
    kl_list_remove(&t->_link);
    w->count--;
}

size_t kl_wheel_run(kl_wheel_t *w, uint64_t now_ms) {
    size_t fired = 0;
    if (now_ms <= w->now) return 0;
    uint64_t from = w->now + 1;
    uint64_t ticks = now_ms - w->now;
    if (ticks > KL_WHEEL_SLOTS) ticks = KL_WHEEL_SLOTS;
    w->now = now_ms;
    for (uint64_t i = 0; i < ticks; i++) {
        kl_list_t *slot = &w->_slots[(from + i) & MASK];
        if (kl_list_empty(slot)) continue;
        /* Detach the slot first: callbacks may re-arm timers into this very slot. */
        kl_list_t pending;
        kl_list_init(&pending);
        pending.next = slot->next;
        pending.prev = slot->prev;
        pending.next->prev = &pending;
        pending.prev->next = &pending;
        kl_list_init(slot);
        kl_list_t *n;
        while ((n = kl_list_shift(&pending)) != NULL) {
            kl_timer_t *t = kl_container_of(n, kl_timer_t, _link);
            if (t->at > now_ms) {
                place(w, t); /* a later rotation */
                continue;
            }
            w->count--;
            fired++;
            t->cb(t);
        }
    }
    return fired;
}

uint64_t kl_wheel_timeout(const kl_wheel_t *w, uint64_t max_ms) {
    if (w->count == 0) return max_ms;
    uint64_t lim = max_ms < KL_WHEEL_SLOTS ? max_ms : KL_WHEEL_SLOTS;
    for (uint64_t d = 1; d <= lim; d++)
        if (!kl_list_empty(&w->_slots[(w->now + d) & MASK])) return d;
    return max_ms;
}
