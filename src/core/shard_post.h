/* shard_post.h - waking a shard from a thread that is not a shard: an IORING_OP_MSG_RING
 * completion on its ring, as the acceptor hands over connections. For rare control messages
 * (a route reload); the payload travels beside it, e.g. in an atomic the handler reads. */
#ifndef KL_SHARD_POST_H
#define KL_SHARD_POST_H

#include <stdint.h>

#include "core/shard.h"

/** Posts a completion with user_data io and res to sh's ring; io->cb then runs on sh's
 * thread. Blocks the caller until the kernel delivered it (a ring of its own, made and torn
 * down per call). Returns 0 or -errno (the completion was not delivered). */
int kl_shard_post(kl_shard_t *sh, kl_io_t *io, int32_t res);

#endif
