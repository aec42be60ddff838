/* rand.h - seeds for hash tables that face hostile keys. */
#ifndef KL_RAND_H
#define KL_RAND_H

#include <stdint.h>

/** 64 random bits from the kernel (never blocks); when it has none to give yet, the clock
 * mixed with salt (an address), which still differs between tables and runs. */
uint64_t kl_rand_seed(const void *salt);

#endif
