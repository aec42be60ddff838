#include "core/rand.h"

#include <sys/random.h>
#include <sys/types.h>

#include "core/clock.h"

uint64_t kl_rand_seed(const void *salt) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = kl_clock_ns() ^ (uint64_t)(uintptr_t)salt * 0x9e3779b97f4a7c15ull;
    return s;
}
