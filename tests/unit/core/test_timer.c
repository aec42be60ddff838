#include "core/timer.h"
#include "kt.h"

static int order[64], norder;

static void record(kl_timer_t *t) { order[norder++] = (int)(t->at % 100000); }

static void fires_in_deadline_order(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 1000);
    kl_timer_t t[5] = {0};
    uint64_t at[5] = {1030, 1010, 1020, 1010, 1500};
    for (int i = 0; i < 5; i++) {
        t[i].cb = record;
        kl_wheel_add(&w, &t[i], at[i]);
    }
    KT_EQ(w.count, 5);
    norder = 0;
    KT_EQ(kl_wheel_run(&w, 1009), 0);
    KT_EQ(kl_wheel_run(&w, 1025), 3);
    KT_EQ(order[0], 1010);
    KT_EQ(order[1], 1010);
    KT_EQ(order[2], 1020);
    KT_EQ(kl_wheel_run(&w, 1499), 1);
    KT_EQ(w.count, 1);
    KT_EQ(kl_wheel_run(&w, 1500), 1);
    KT_EQ(w.count, 0);
}

static void far_deadlines_survive_rotations(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 0);
    kl_timer_t t = {.cb = record};
    kl_wheel_add(&w, &t, 3 * KL_WHEEL_SLOTS + 17); /* three rotations away */
    norder = 0;
    for (uint64_t now = 100; now < 3 * KL_WHEEL_SLOTS + 17; now += 100) kl_wheel_run(&w, now);
    KT_EQ(norder, 0);
    KT_CHECK(kl_timer_active(&t));
    kl_wheel_run(&w, 3 * KL_WHEEL_SLOTS + 17);
    KT_EQ(norder, 1);
    KT_CHECK(!kl_timer_active(&t));
}

static void big_clock_jump_fires_everything_due(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 0);
    kl_timer_t t[3] = {{.cb = record}, {.cb = record}, {.cb = record}};
    kl_wheel_add(&w, &t[0], 5);
    kl_wheel_add(&w, &t[1], 9000);
    kl_wheel_add(&w, &t[2], 100000);
    norder = 0;
    KT_EQ(kl_wheel_run(&w, 50000), 2); /* more than one rotation passed at once */
    KT_EQ(w.count, 1);
}

static void delete_and_rearm(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 0);
    kl_timer_t t = {.cb = record};
    kl_wheel_add(&w, &t, 10);
    kl_wheel_del(&w, &t);
    kl_wheel_del(&w, &t); /* twice is harmless */
    KT_EQ(w.count, 0);
    norder = 0;
    KT_EQ(kl_wheel_run(&w, 20), 0);
    kl_wheel_add(&w, &t, 30);
    kl_wheel_add(&w, &t, 40); /* re-arm moves it */
    KT_EQ(w.count, 1);
    KT_EQ(kl_wheel_run(&w, 35), 0);
    KT_EQ(kl_wheel_run(&w, 40), 1);
}

static void past_deadline_fires_next_run(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 1000);
    kl_timer_t t = {.cb = record};
    kl_wheel_add(&w, &t, 10);
    KT_EQ(kl_wheel_timeout(&w, 100), 1);
    KT_EQ(kl_wheel_run(&w, 1001), 1);
}

static kl_wheel_t *cb_wheel;
static kl_timer_t *victim;
static void rearming_cb(kl_timer_t *t) {
    norder++;
    if (norder < 3) kl_wheel_add(cb_wheel, t, cb_wheel->now + 5); /* re-arm itself */
    if (victim) kl_wheel_del(cb_wheel, victim);                   /* and cancel another */
}

static void callbacks_may_rearm_and_delete(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 0);
    cb_wheel = &w;
    kl_timer_t a = {.cb = rearming_cb}, b = {.cb = record};
    victim = &b;
    kl_wheel_add(&w, &a, 10);
    kl_wheel_add(&w, &b, 10); /* same slot, deleted by a's callback before it runs */
    norder = 0;
    kl_wheel_run(&w, 10);
    KT_EQ(norder, 1);
    KT_CHECK(!kl_timer_active(&b));
    victim = NULL;
    kl_wheel_run(&w, 15);
    kl_wheel_run(&w, 20);
    KT_EQ(norder, 3);
    KT_EQ(w.count, 0);
}

static void timeout_reports_next_slot(void) {
    kl_wheel_t w;
    kl_wheel_init(&w, 0);
    KT_EQ(kl_wheel_timeout(&w, 100), 100);
    kl_timer_t t = {.cb = record};
    kl_wheel_add(&w, &t, 42);
    KT_EQ(kl_wheel_timeout(&w, 100), 42);
    KT_EQ(kl_wheel_timeout(&w, 10), 10);
}

int main(void) {
    KT_RUN(fires_in_deadline_order);
    KT_RUN(far_deadlines_survive_rotations);
    KT_RUN(big_clock_jump_fires_everything_due);
    KT_RUN(delete_and_rearm);
    KT_RUN(past_deadline_fires_next_run);
    KT_RUN(callbacks_may_rearm_and_delete);
    KT_RUN(timeout_reports_next_slot);
    return KT_DONE();
}
