/* timer.h - a hashed timer wheel for deadlines (header, body, keep-alive, DB acquire).
 * One wheel per shard, millisecond ticks, 4096 slots: insert and delete are O(1); a run
 * visits the slots the clock passed, and an entry more than one rotation away is simply
 * looked at again on the next rotation. Callbacks may add or delete any timer. */
#ifndef KL_TIMER_H
#define KL_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

#define KL_WHEEL_SLOTS 4096

typedef struct kl_timer kl_timer_t;
/** Called once when the timer's deadline has passed; the timer is already inactive. */
typedef void (*kl_timer_cb)(kl_timer_t *t);

struct kl_timer {
    kl_list_t _link;
    uint64_t at;    /**< deadline in ms on the wheel's clock */
    kl_timer_cb cb; /**< what to call; set before kl_wheel_add */
};

typedef struct {
    uint64_t now;  /**< the clock as of the last kl_wheel_run */
    size_t count;  /**< active timers */
    kl_list_t _slots[KL_WHEEL_SLOTS];
} kl_wheel_t;

/** Prepares an empty wheel whose clock reads now_ms. */
void kl_wheel_init(kl_wheel_t *w, uint64_t now_ms);
/** Arms t to fire at at_ms (re-arms it if already active); a past deadline fires on the next run. */
void kl_wheel_add(kl_wheel_t *w, kl_timer_t *t, uint64_t at_ms);
/** Disarms t if active; safe on an inactive or zeroed timer. */
void kl_wheel_del(kl_wheel_t *w, kl_timer_t *t);
/** True when t is armed. */
static inline bool kl_timer_active(const kl_timer_t *t) { return kl_list_linked(&t->_link); }
/** Advances the clock to now_ms and fires every timer due by then; returns how many fired. */
size_t kl_wheel_run(kl_wheel_t *w, uint64_t now_ms);
/** Milliseconds from the clock until the next slot holding a timer, at most max_ms. */
uint64_t kl_wheel_timeout(const kl_wheel_t *w, uint64_t max_ms);

#endif
