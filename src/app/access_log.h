/* access_log.h - the access log's writer: each shard appends whole JSON lines to its own
 * bounded single-producer ring; one writer thread drains every ring to the output with
 * blocking write(2). A shard never waits and never makes a system call for the log: when
 * its ring is full (the output is slower than the requests) the line is dropped and
 * counted, as pino's async destination drops under pressure rather than stall the loop.
 * Lines of one shard keep their order; lines of different shards interleave only whole. */
#ifndef KL_ACCESS_LOG_H
#define KL_ACCESS_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One shard's ring. head and tail count bytes ever written and ever drained. */
typedef struct {
    char *buf;
    size_t cap;              /* a power of two */
    _Atomic uint64_t head;   /* written by the shard (release), read by the writer (acquire) */
    _Atomic uint64_t tail;   /* written by the writer (release), read by the shard (acquire) */
    char _pad[64];           /* head and tail apart from the next ring's */
} kl_alog_ring_t;

typedef struct kl_alog {
    kl_alog_ring_t *rings;
    unsigned n;
    int fd;                  /**< where lines go (not owned) */
    char prefix[320];        /**< `,"pid":N,"hostname":"..."` (escaped), the same in every line */
    size_t prefix_len;
    _Atomic int stop;
    _Atomic int done;        /* the writer wrote everything after stop and returned */
    pthread_t thread;
} kl_alog_t;

/** Starts the writer for n shards, each with a ring of ring_bytes (rounded up to a power of
 * two), writing to fd. Returns NULL when the thread cannot start. */
kl_alog_t *kl_alog_start(unsigned n, size_t ring_bytes, int fd);
/** Appends one whole line to ring i (shard i's thread only). Returns false, writing
 * nothing, when the ring has no room for it. */
bool kl_alog_push(kl_alog_t *l, unsigned i, const char *line, size_t len);
/** Writes out what every ring holds, waiting at most wait_ms for the output to take it,
 * stops the writer and frees everything (after every shard stopped pushing). A writer stuck
 * on an output that takes nothing is left behind with its rings. NULL: nothing. */
void kl_alog_stop(kl_alog_t *l, int wait_ms);

#endif
