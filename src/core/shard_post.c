#include "core/shard_post.h"

#include <stdint.h>

int kl_shard_post(kl_shard_t *sh, kl_io_t *io, int32_t res) {
    struct io_uring r;
    int rc = io_uring_queue_init(2, &r, 0);
    if (rc < 0) return rc;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
    io_uring_prep_msg_ring(sqe, sh->ring.ring_fd, (unsigned)res, (uint64_t)(uintptr_t)io, 0);
    rc = io_uring_submit_and_wait(&r, 1);
    if (rc >= 0) {
        struct io_uring_cqe *cqe;
        rc = io_uring_wait_cqe(&r, &cqe);
        if (rc == 0) {
            rc = cqe->res < 0 ? cqe->res : 0;
            io_uring_cqe_seen(&r, cqe);
        }
    }
    io_uring_queue_exit(&r);
    return rc;
}
