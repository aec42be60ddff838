/* micro.h - what every microbenchmark shares: a monotonic clock in seconds. */
#ifndef KL_MICRO_H
#define KL_MICRO_H

#include <time.h>

/** Monotonic seconds, for timing fixed iteration counts. */
static inline double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
