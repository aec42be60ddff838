/* clock.h - monotonic and wall-clock readings. */
#ifndef KL_CLOCK_H
#define KL_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Monotonic milliseconds (arbitrary origin), for deadlines. */
static inline uint64_t kl_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/** Monotonic nanoseconds, for durations. */
static inline uint64_t kl_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
