#include "core/bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int kl_bufring_init(kl_bufring_t *b, unsigned count, unsigned size, uint16_t bgid) {
    memset(b, 0, sizeof(*b));
    if (count == 0 || count > 32768 || (count & (count - 1)) || size == 0) return -EINVAL;
    b->count = count;
    b->size = size;
    b->bgid = bgid;
    b->_ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
    /* The kernel requires page-aligned ring memory. */
    void *r = mmap(NULL, b->_ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return -ENOMEM;
    b->br = r;
    b->bufs = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->bufs == MAP_FAILED) {
        b->bufs = NULL;
        goto err;
    }
    b->_outmap = calloc((count + 63) / 64, sizeof(uint64_t));
    if (!b->_outmap) goto err;
    io_uring_buf_ring_init(b->br);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(b->br, kl_bufring_buf(b, (uint16_t)i), size, (uint16_t)i,
                              io_uring_buf_ring_mask(count), (int)i);
    io_uring_buf_ring_advance(b->br, (int)count);
    return 0;
err:
    kl_bufring_destroy(b, NULL);
    return -ENOMEM;
}

int kl_bufring_register(kl_bufring_t *b, struct io_uring *ring) {
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)b->br,
        .ring_entries = b->count,
        .bgid = b->bgid,
    };
    int r = io_uring_register_buf_ring(ring, &reg, 0);
    if (r == 0) b->_registered = true;
    return r;
}

static bool is_out(const kl_bufring_t *b, uint16_t bid) {
    return (b->_outmap[bid / 64] >> (bid % 64)) & 1;
}

int kl_bufring_take(kl_bufring_t *b, uint16_t bid) {
    if (bid >= b->count || is_out(b, bid)) return -EINVAL;
    b->_outmap[bid / 64] |= (uint64_t)1 << (bid % 64);
    b->out++;
    return 0;
}

int kl_bufring_put(kl_bufring_t *b, uint16_t bid) {
    if (bid >= b->count || !is_out(b, bid)) return -EINVAL;
    b->_outmap[bid / 64] &= ~((uint64_t)1 << (bid % 64));
    b->out--;
    /* Entries go after the published tail; the kernel cannot see them before commit. */
    io_uring_buf_ring_add(b->br, kl_bufring_buf(b, bid), b->size, bid,
                          io_uring_buf_ring_mask(b->count), (int)b->_uncommitted);
    b->_uncommitted++;
    return 0;
}

void kl_bufring_commit(kl_bufring_t *b) {
    if (!b->_uncommitted) return;
    /* io_uring_buf_ring_advance is a store-release of the tail: entries written above
     * become visible to the kernel no later than the tail itself. Ownership of those
     * buffers passes to the kernel here. */
    io_uring_buf_ring_advance(b->br, (int)b->_uncommitted);
    b->_uncommitted = 0;
}

void kl_bufring_destroy(kl_bufring_t *b, struct io_uring *ring) {
    if (b->_registered && ring) io_uring_unregister_buf_ring(ring, b->bgid);
    if (b->br) munmap(b->br, b->_ring_bytes);
    if (b->bufs) munmap(b->bufs, (size_t)b->count * b->size);
    free(b->_outmap);
    memset(b, 0, sizeof(*b));
}
