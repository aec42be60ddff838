/* acceptor.h - a light thread that accepts connections (multishot accept on its own ring)
 * and hands each one to the shard with the fewest open connections, by posting the fd
 * to that shard's ring with IORING_OP_MSG_RING. No lock: the acceptor counts what it
 * handed to each shard, each shard publishes how many it closed (an atomic), and the
 * difference is the shard's load. */
#ifndef KL_ACCEPTOR_H
#define KL_ACCEPTOR_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/shard.h"

/** Optional checks the layer above runs on the acceptor thread, per accepted socket. */
typedef struct {
    /** Before the socket is handed to a shard: 0 to hand it over, < 0 to close it at once. */
    int (*admit)(void *ctx, int fd);
    /** An admitted socket could not be handed over after all and is closed. */
    void (*unadmit)(void *ctx, int fd);
    void *ctx;
} kl_acceptor_admit_t;

typedef struct {
    int listen_fd;              /**< owned; closed when the acceptor stops */
    kl_shard_t *shards;         /**< the shards to hand connections to */
    unsigned nshards;
    unsigned max_per_shard;     /**< open connections per shard before new ones are refused */
    int notsent_lowat;          /**< TCP_NOTSENT_LOWAT for accepted sockets; 0 = the kernel's */
    kl_acceptor_admit_t admit;  /**< zeroed: every socket is handed over */
    uint64_t *handed;           /**< per shard: connections handed (acceptor-private) */
    _Atomic uint64_t accepted;  /**< connections handed to shards */
    _Atomic uint64_t refused;   /**< connections closed at once: every shard was full */
    _Atomic int stop;
    bool admin;                 /**< the admin listener's: round-robin, no cap, no admit, posted
                                     to each shard's admin_accept_io */
    unsigned _rr;               /**< where the least-loaded search starts (spreads ties) */
    struct io_uring _ring;
    pthread_t _thread;
} kl_acceptor_t;

/** Creates a TCP socket listening on host:port (SO_REUSEADDR, given backlog).
 * Returns the fd or -errno. */
int kl_listen_tcp(const char *host, int port, int backlog);
/** Starts the acceptor thread on listen_fd (taken over); accepted sockets get TCP_NODELAY
 * and, when notsent_lowat > 0, that TCP_NOTSENT_LOWAT, and go through admit (NULL: none)
 * once a shard has room for them. Returns 0 or -errno. */
int kl_acceptor_start(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards,
                      unsigned max_per_shard, int notsent_lowat, const kl_acceptor_admit_t *admit);
/** Starts an acceptor for the admin listener on listen_fd (taken over): its connections go
 * to the shards in turn, to their admin_accept_io, uncapped and not counted as load.
 * Returns 0 or -errno. */
int kl_acceptor_start_admin(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards);
/** Stops accepting: closes the listening socket and joins the thread. */
void kl_acceptor_stop(kl_acceptor_t *a);

#endif
