/* hash.h - keel's 64-bit non-cryptographic hash (wyhash-style multiply-mix), used for the
 * cache's hash tables and for ETags. Fast on short keys (a few ns for < 64 bytes) and good
 * enough that low bits are usable as table indexes. Not a MAC: do not use it where an
 * attacker must not be able to find collisions; tables facing hostile keys use a secret
 * random seed instead. Output is the same on every little- and big-endian machine. */
#ifndef KL_HASH_H
#define KL_HASH_H

#include <stddef.h>
#include <stdint.h>

/** Hashes p[0..n) under seed; pure, reads exactly n bytes, p may be NULL when n is 0. */
uint64_t kl_hash64(const void *p, size_t n, uint64_t seed);

#endif
