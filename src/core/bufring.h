/* bufring.h - a provided-buffer ring (io_uring buffer group) and its bookkeeping.
 *
 * Ownership: a buffer is either in the ring (the kernel may fill it at any time) or "out"
 * (the kernel filled it and reported its id in a CQE; user space owns it until
 * kl_bufring_put). Puts are batched and published to the kernel by kl_bufring_commit,
 * whose tail store is a release: the kernel sees the ring entries before the new tail.
 * Receives draw from one shared ring, so an idle connection holds no buffer at all. */
#ifndef KL_BUFRING_H
#define KL_BUFRING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    struct io_uring_buf_ring *br; /**< ring entries shared with the kernel */
    char *bufs;                   /**< count * size bytes of buffer memory */
    unsigned count;               /**< buffers (a power of two, at most 32768) */
    unsigned size;                /**< bytes per buffer */
    uint16_t bgid;                /**< buffer group id given to the kernel */
    unsigned out;                 /**< buffers user space owns now */
    unsigned _uncommitted;        /**< puts not yet published */
    uint64_t *_outmap;            /**< bit per buffer: set while out (catches double puts) */
    bool _registered;
    size_t _ring_bytes;
} kl_bufring_t;

/** Allocates count buffers of size bytes with every buffer in the ring (not yet
 * registered). Returns 0 or -EINVAL / -ENOMEM. */
int kl_bufring_init(kl_bufring_t *b, unsigned count, unsigned size, uint16_t bgid);
/** Registers the ring with the kernel as buffer group bgid. Returns 0 or -errno. */
int kl_bufring_register(kl_bufring_t *b, struct io_uring *ring);
/** The memory of buffer bid. */
static inline char *kl_bufring_buf(const kl_bufring_t *b, uint16_t bid) {
    return b->bufs + (size_t)bid * b->size;
}
/** Records that a CQE handed buffer bid to user space. Returns 0, or -EINVAL for an id
 * that is out of range or already out. */
int kl_bufring_take(kl_bufring_t *b, uint16_t bid);
/** Gives buffer bid back (visible to the kernel after commit). Returns 0 or -EINVAL when
 * bid is not out. */
int kl_bufring_put(kl_bufring_t *b, uint16_t bid);
/** Publishes the puts made since the last commit to the kernel. */
void kl_bufring_commit(kl_bufring_t *b);
/** Unregisters (when registered) and frees everything. */
void kl_bufring_destroy(kl_bufring_t *b, struct io_uring *ring);

#endif
