#include "core/acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

/* user_data tags on the acceptor's own ring */
#define UD_ACCEPT 1u
#define UD_HANDOFF (1ull << 63) /* | shard << 32 | fd: reported only when the post failed */

int kl_listen_tcp(const char *host, int port, int backlog) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int r = getaddrinfo(host, portstr, &hints, &res);
    if (r != 0) return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    int fd = -1;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            r = fd;
            break;
        }
        r = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return r;
}

static void arm_accept(kl_acceptor_t *a) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->_ring);
    io_uring_prep_multishot_accept(sqe, a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, UD_ACCEPT);
}

static int least_loaded(kl_acceptor_t *a) {
    int best = -1;
    uint64_t best_open = UINT64_MAX;
    for (unsigned k = 0; k < a->nshards; k++) {
        unsigned i = (a->_rr + k) % a->nshards;
        /* Acquire pairs with the shard's release increment of closed_total. */
        uint64_t closed = atomic_load_explicit(&a->shards[i].closed_total, memory_order_acquire);
        uint64_t open = a->handed[i] - closed;
        if (open < best_open && open < a->max_per_shard) {
            best = (int)i;
            best_open = open;
        }
    }
    a->_rr++;
    return best;
}

static struct io_uring_sqe *get_sqe(kl_acceptor_t *a) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->_ring);
    if (!sqe) {
        io_uring_submit(&a->_ring);
        sqe = io_uring_get_sqe(&a->_ring);
    }
    return sqe;
}

/* Admin connections are few (a scraper, an operator): each shard in turn takes one. */
static void hand_off_admin(kl_acceptor_t *a, int fd) {
    unsigned i = a->_rr++ % a->nshards;
    struct io_uring_sqe *sqe = get_sqe(a);
    io_uring_prep_msg_ring(sqe, a->shards[i].ring.ring_fd, (unsigned)fd, (uint64_t)(uintptr_t)&a->shards[i].admin_accept_io, 0);
    io_uring_sqe_set_data64(sqe, UD_HANDOFF | (uint64_t)i << 32 | (uint32_t)fd);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    atomic_fetch_add_explicit(&a->accepted, 1, memory_order_relaxed);
}

static void hand_off(kl_acceptor_t *a, int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The kernel holds at most this much of our output that the peer has not been sent: a
     * client that never reads then costs a bounded socket buffer, not one autotuned to
     * megabytes (whose filling also stalls the shard doing it), while one that reads gets
     * its next bytes as fast as before: only the unsent queue is capped, not the window. */
    if (a->notsent_lowat)
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &a->notsent_lowat, sizeof(a->notsent_lowat));
    if (a->admin) {
        hand_off_admin(a, fd);
        return;
    }
    int i = least_loaded(a);
    if (i < 0) {
        close(fd);
        atomic_fetch_add_explicit(&a->refused, 1, memory_order_relaxed);
        return;
    }
    if (a->admit.admit && a->admit.admit(a->admit.ctx, fd) < 0) {
        close(fd); /* e.g. the peer is already gone */
        return;
    }
    kl_shard_t *sh = &a->shards[i];
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->_ring);
    if (!sqe) {
        io_uring_submit(&a->_ring);
        sqe = io_uring_get_sqe(&a->_ring);
    }
    /* The fd travels in the CQE's res field; user_data names the shard's accept handler.
     * From here the shard owns the fd (unless the post fails: then we close it). */
    io_uring_prep_msg_ring(sqe, sh->ring.ring_fd, (unsigned)fd, (uint64_t)(uintptr_t)&sh->accept_io, 0);
    io_uring_sqe_set_data64(sqe, UD_HANDOFF | (uint64_t)i << 32 | (uint32_t)fd);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    a->handed[i]++;
    atomic_fetch_add_explicit(&a->accepted, 1, memory_order_relaxed);
}

static void *thread_main(void *arg) {
    kl_acceptor_t *a = arg;
    pthread_setname_np(pthread_self(), a->admin ? "keel-admin" : "keel-acceptor");
    arm_accept(a);
    while (!atomic_load_explicit(&a->stop, memory_order_acquire)) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
        struct io_uring_cqe *cqe;
        int r = io_uring_submit_and_wait_timeout(&a->_ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR) break;
        unsigned head, n = 0;
        bool rearm = false;
        io_uring_for_each_cqe(&a->_ring, head, cqe) {
            n++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud == UD_ACCEPT) {
                if (cqe->res >= 0) hand_off(a, cqe->res);
                if (!(cqe->flags & IORING_CQE_F_MORE)) rearm = true;
            } else if ((ud & UD_HANDOFF) && cqe->res < 0) {
                /* The shard never saw this fd: it is still ours to close. */
                if (!a->admin) a->handed[(ud >> 32) & 0x7fffffff]--;
                if (!a->admin && a->admit.unadmit) a->admit.unadmit(a->admit.ctx, (int)(uint32_t)ud);
                close((int)(uint32_t)ud);
            }
        }
        io_uring_cq_advance(&a->_ring, n);
        if (rearm) {
            /* Multishot accept ends on errors such as EMFILE: back off briefly, then retry. */
            struct timespec pause = {0, 10 * 1000000};
            nanosleep(&pause, NULL);
            arm_accept(a);
        }
    }
    return NULL;
}

int kl_acceptor_start(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards,
                      unsigned max_per_shard, int notsent_lowat, const kl_acceptor_admit_t *admit) {
    memset(a, 0, sizeof(*a));
    if (admit) a->admit = *admit;
    a->notsent_lowat = notsent_lowat;
    a->listen_fd = listen_fd;
    a->shards = shards;
    a->nshards = nshards;
    a->max_per_shard = max_per_shard;
    a->handed = kl_calloc(nshards * sizeof(uint64_t));
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 4096};
    int r = io_uring_queue_init_params(256, &a->_ring, &p);
    if (r < 0) goto err;
    r = pthread_create(&a->_thread, NULL, thread_main, a);
    if (r) {
        r = -r;
        io_uring_queue_exit(&a->_ring);
        goto err;
    }
    return 0;
err:
    kl_free(a->handed);
    a->handed = NULL;
    return r;
}

int kl_acceptor_start_admin(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards) {
    memset(a, 0, sizeof(*a));
    a->admin = true;
    a->listen_fd = listen_fd;
    a->shards = shards;
    a->nshards = nshards;
    a->handed = kl_calloc(nshards * sizeof(uint64_t));
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 256};
    int r = io_uring_queue_init_params(64, &a->_ring, &p);
    if (r < 0) goto err;
    r = pthread_create(&a->_thread, NULL, thread_main, a);
    if (r) {
        r = -r;
        io_uring_queue_exit(&a->_ring);
        goto err;
    }
    return 0;
err:
    kl_free(a->handed);
    a->handed = NULL;
    return r;
}

void kl_acceptor_stop(kl_acceptor_t *a) {
    atomic_store_explicit(&a->stop, 1, memory_order_release);
    pthread_join(a->_thread, NULL);
    close(a->listen_fd);
    a->listen_fd = -1;
    io_uring_queue_exit(&a->_ring);
    kl_free(a->handed);
    a->handed = NULL;
}
