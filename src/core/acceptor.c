#include "core/acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

/* user_data tags on the acceptor's own ring */
#define UD_ACCEPT 1u
#define UD_HANDOFF (1ull << 63) /* | shard << 32 | fd: reported only when the post failed */
#define UD_CANCEL 2u
/* 10 ms waits for the cancelled accept's last completion when stopping (it comes at once) */
#define CANCEL_WAITS 100

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
    uint64_t *open = a->_open;
    uint32_t *load = a->_load;
    for (unsigned i = 0; i < a->nshards; i++) {
        /* Acquire pairs with the shard's release increment of closed_total. */
        uint64_t closed = atomic_load_explicit(&a->shards[i].closed_total, memory_order_acquire);
        open[i] = a->handed[i] - closed;
        load[i] = a->by_load ? atomic_load_explicit(&a->shards[i].load_permille, memory_order_relaxed) : 0;
    }
    int best = kl_shard_pick(open, load, a->nshards, a->_rr, a->max_per_shard);
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

/* Dispatches the completions at hand; true once the multishot accept ended. */
static bool reap(kl_acceptor_t *a) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    bool ended = false;
    io_uring_for_each_cqe(&a->_ring, head, cqe) {
        n++;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud == UD_ACCEPT) {
            if (cqe->res >= 0) hand_off(a, cqe->res);
            if (!(cqe->flags & IORING_CQE_F_MORE)) ended = true;
        } else if ((ud & UD_HANDOFF) && cqe->res < 0) {
            /* The shard never saw this fd: it is still ours to close. */
            if (!a->admin) a->handed[(ud >> 32) & 0x7fffffff]--;
            if (!a->admin && a->admit.unadmit) a->admit.unadmit(a->admit.ctx, (int)(uint32_t)ud);
            close((int)(uint32_t)ud);
        }
    }
    io_uring_cq_advance(&a->_ring, n);
    return ended;
}

/* Stopping: the armed accept may have taken connections whose completions we have not
 * read. Dropped with the ring, they would be closed unanswered, and the listening socket
 * may live on (a restarted keel shares it), so its clients would have been served by the
 * other process: cancel the accept and hand over everything it took before it ended. */
static void cancel_accept(kl_acceptor_t *a) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->_ring);
    if (!sqe) {
        io_uring_submit(&a->_ring);
        sqe = io_uring_get_sqe(&a->_ring);
    }
    io_uring_prep_cancel64(sqe, UD_ACCEPT, 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
    for (int i = 0; i < CANCEL_WAITS; i++) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
        struct io_uring_cqe *cqe;
        int r = io_uring_submit_and_wait_timeout(&a->_ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR) break;
        if (reap(a)) break;
    }
    io_uring_submit(&a->_ring); /* the last hand-offs */
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
        if (reap(a)) {
            /* Multishot accept ends on errors such as EMFILE: back off briefly, then retry. */
            struct timespec pause = {0, 10 * 1000000};
            nanosleep(&pause, NULL);
            arm_accept(a);
        }
    }
    cancel_accept(a);
    return NULL;
}

/* The acceptor's ring (sq entries, a CQ of cq) and its thread. Returns 0 or -errno, with
 * nothing left behind. */
static int start_thread(kl_acceptor_t *a, unsigned sq, unsigned cq) {
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = cq};
    int r = io_uring_queue_init_params(sq, &a->_ring, &p);
    if (r < 0) return r;
    r = pthread_create(&a->_thread, NULL, thread_main, a);
    if (r) {
        io_uring_queue_exit(&a->_ring);
        return -r;
    }
    return 0;
}

int kl_acceptor_start(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards,
                      unsigned max_per_shard, int notsent_lowat, bool by_load, const kl_acceptor_admit_t *admit) {
    memset(a, 0, sizeof(*a));
    a->by_load = by_load;
    if (admit) a->admit = *admit;
    a->notsent_lowat = notsent_lowat;
    a->listen_fd = listen_fd;
    a->shards = shards;
    a->nshards = nshards;
    a->max_per_shard = max_per_shard;
    a->handed = kl_calloc(nshards * sizeof(uint64_t));
    a->_open = kl_calloc(nshards * sizeof(uint64_t));
    a->_load = kl_calloc(nshards * sizeof(uint32_t));
    int r = start_thread(a, 256, 4096);
    if (r == 0) return 0;
    kl_free(a->handed);
    kl_free(a->_open);
    kl_free(a->_load);
    a->handed = NULL;
    a->_open = NULL;
    a->_load = NULL;
    return r;
}

int kl_acceptor_start_admin(kl_acceptor_t *a, int listen_fd, kl_shard_t *shards, unsigned nshards) {
    memset(a, 0, sizeof(*a));
    a->admin = true;
    a->listen_fd = listen_fd;
    a->shards = shards;
    a->nshards = nshards;
    a->handed = kl_calloc(nshards * sizeof(uint64_t));
    int r = start_thread(a, 64, 256);
    if (r == 0) return 0;
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
    kl_free(a->_open);
    kl_free(a->_load);
    a->handed = NULL;
    a->_open = NULL;
    a->_load = NULL;
}
