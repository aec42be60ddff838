/* bench_timer.c - the shard's timer wheel: insert, re-arm, delete and expire, the four
 * things a server does per connection deadline. Prints figures only; asserts nothing. */
#include "micro.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/timer.h"

#define TIMERS 200000
#define ROUNDS 10

static unsigned long long fired_total;
static void on_fire(kl_timer_t *t) {
    (void)t;
    fired_total++;
}

static void report(const char *what, double dt, double ops) {
    printf("  %-34s %12.0f ops/s %8.2f ns/op\n", what, ops / dt, dt * 1e9 / ops);
}

int main(void) {
    static kl_wheel_t w;
    kl_timer_t *timers = calloc(TIMERS, sizeof *timers);
    uint32_t *delay = malloc(TIMERS * sizeof *delay);
    if (!timers || !delay) return 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < TIMERS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        delay[i] = 1 + (uint32_t)(x % 4000); /* within one rotation: header/keep-alive-like deadlines */
        timers[i].cb = on_fire;
    }
    double t_add = 0, t_rearm = 0, t_del = 0, t_exp = 0;
    unsigned long long expired = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t clock = 1000000 + (uint64_t)r * 10000;
        kl_wheel_init(&w, clock);
        double t0 = now();
        for (size_t i = 0; i < TIMERS; i++) kl_wheel_add(&w, &timers[i], clock + delay[i]);
        t_add += now() - t0;
        t0 = now();
        for (size_t i = 0; i < TIMERS; i++) kl_wheel_add(&w, &timers[i], clock + delay[TIMERS - 1 - i]); /* re-arm */
        t_rearm += now() - t0;
        t0 = now();
        for (size_t i = 0; i < TIMERS; i += 2) kl_wheel_del(&w, &timers[i]); /* half answered in time */
        t_del += now() - t0;
        unsigned long long before = fired_total;
        t0 = now();
        for (uint64_t ms = 1; ms <= 4001; ms++) kl_wheel_run(&w, clock + ms); /* the rest expire, 1 ms ticks */
        t_exp += now() - t0;
        expired += fired_total - before;
        if (w.count != 0) {
            fprintf(stderr, "bench_timer: %zu timers left on the wheel\n", w.count);
            return 1;
        }
    }
    printf("timer wheel: %d timers x %d rounds, deadlines 1..4000 ms, %d slots\n", TIMERS, ROUNDS, KL_WHEEL_SLOTS);
    report("insert", t_add, (double)TIMERS * ROUNDS);
    report("re-arm (add on an active timer)", t_rearm, (double)TIMERS * ROUNDS);
    report("delete", t_del, (double)TIMERS / 2 * ROUNDS);
    report("expire (run over 4001 ticks)", t_exp, (double)expired);
    printf("  %llu expired, %.2f us per 1 ms tick, %d timers live at the start\n", expired, t_exp * 1e6 / (4001.0 * ROUNDS),
           TIMERS / 2);
    free(timers);
    free(delay);
    return 0;
}
