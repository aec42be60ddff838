#include "core/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/stream.h"

/* Arena chunks: 8 KiB each, 64 kept spare per shard after a trim. */
#define CHUNK_SIZE 8192
#define CHUNK_SPARES 64
/* How often a shard publishes its load for the acceptor. */
#define LOAD_PERIOD_MS 100
/* kl_shard_pick counts a load above this as this: a starved shard still gets a quarter of an
 * idle one's share of new connections, so its load figure keeps meaning something. */
#define LOAD_CAP 3000u
/* How long kl_shard_start waits for a shard to set up (its ring, buffers, on_start). */
#define START_DEADLINE_MS 10000
/* A shard gathers (below) only while at least this many of its streams received bytes in
 * the last load period: with fewer, each connection's next request is what the wait would
 * hold back, and gathering only idles the core. */
#define GATHER_MIN_ACTIVE 64
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15) /* Linux 6.12; liburing 2.3's header predates it */
#endif

static int setup_ring(kl_shard_t *sh) {
    struct io_uring_params p;
    /* Preferred: one submitter (this thread) and task work run only when we ask for
     * completions, so no interrupts steal the shard. Older kernels: fall back. */
    const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int r = -ENOSYS;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        memset(&p, 0, sizeof(p));
        p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = sh->cfg.entries * 4;
        r = io_uring_queue_init_params(sh->cfg.entries, &sh->ring, &p);
        if (r == 0) {
            sh->ring_flags = p.flags;
            sh->gather_ok = (p.features & IORING_FEAT_MIN_TIMEOUT) && (p.features & IORING_FEAT_EXT_ARG);
            return 0;
        }
        if (r != -EINVAL) break;
    }
    return r;
}

struct io_uring_sqe *kl_shard_sqe(kl_shard_t *sh) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&sh->ring);
    while (!sqe) {
        io_uring_submit(&sh->ring);
        sqe = io_uring_get_sqe(&sh->ring);
    }
    return sqe;
}

int kl_shard_pick(const uint64_t *open, const uint32_t *load, unsigned n, unsigned start, uint64_t max_open) {
    int best = -1;
    unsigned __int128 best_score = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (start + k) % n;
        if (open[i] >= max_open) continue;
        uint32_t l = load[i] < LOAD_CAP ? load[i] : LOAD_CAP;
        unsigned __int128 score = (unsigned __int128)(open[i] + 1) * (1000u + l);
        if (best < 0 || score < best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}

/* The thread's run time plus run-queue wait (ns) from the kernel's schedstat; 0 when unknown. */
static uint64_t sched_ns(kl_shard_t *sh) {
    char buf[96];
    if (sh->_schedstat_fd < 0) return 0;
    ssize_t n = pread(sh->_schedstat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    uint64_t run = 0, wait = 0;
    if (sscanf(buf, "%" SCNu64 " %" SCNu64, &run, &wait) != 2) return 0;
    return run + wait;
}

/* Publishes load_permille for the last period: how much of it the thread ran or waited to
 * run. A shard pinned to a core that a load generator or PostgreSQL also wants shows above
 * 1000 while starved, which a busy-loop measure (time between waits) could not tell from
 * work. Also closes the period's count of active streams. */
static void publish_load(kl_shard_t *sh) {
    if (sh->now_ms - sh->_load_at_ms < LOAD_PERIOD_MS) return;
    sh->active_streams = sh->_active_now;
    sh->_active_now = 0;
    sh->_period++;
    if (sh->_schedstat_fd < 0) {
        sh->_load_at_ms = sh->now_ms;
        return;
    }
    uint64_t ns = sched_ns(sh), wall_ms = sh->now_ms - sh->_load_at_ms;
    uint64_t permille = ns > sh->_sched_ns ? (ns - sh->_sched_ns) / 1000 / wall_ms : 0;
    if (permille > 100000) permille = 100000;
    atomic_store_explicit(&sh->load_permille, (uint32_t)permille, memory_order_relaxed);
    sh->_sched_ns = ns;
    sh->_load_at_ms = sh->now_ms;
}

void kl_shard_conn_closed(kl_shard_t *sh) {
    sh->conns--;
    /* Release pairs with the acceptor's acquire load: it never sees a shard emptier
     * than it is. */
    atomic_fetch_add_explicit(&sh->closed_total, 1, memory_order_release);
}

static void accept_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    (void)io;
    int fd = cqe->res;
    if (fd < 0) return;
    sh->conns++;
    sh->hooks->on_accept(sh, fd);
}

/* An admin connection is not the acceptor's to balance: it never counted it as handed, so
 * the close that kl_shard_conn_closed will count is taken off closed_total in advance (the
 * acceptor's handed - closed is modular, so it stays exact). */
static void admin_accept_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    (void)io;
    int fd = cqe->res;
    if (fd < 0) return;
    if (!sh->hooks->on_accept_admin) {
        close(fd);
        return;
    }
    atomic_fetch_sub_explicit(&sh->closed_total, 1, memory_order_relaxed);
    sh->conns++;
    sh->hooks->on_accept_admin(sh, fd);
}

static void dispatch(kl_shard_t *sh, const struct io_uring_cqe *cqe) {
    kl_io_t *io = io_uring_cqe_get_data(cqe);
    if (io) io->cb(sh, io, cqe);
}

/* Submits the queued SQEs and waits up to *ts for completions, but once one is there keeps
 * gathering for up to gather_us (the kernel's minimum wait, Linux 6.12+). Why: two shards
 * and a load generator or PostgreSQL are three busy threads on two cores. A shard that
 * always finds a completion waiting never sleeps, so the scheduler takes its core away only
 * at a tick (4 ms at 250 Hz), and every connection it holds waits that long; a shard that
 * sleeps a few microseconds per turn hands the core over at points of its own. liburing 2.3
 * (Debian 12) has no call that sets the minimum wait, so this flushes its SQ ring as
 * io_uring_submit does (the SQ array is filled once at setup) and enters the kernel itself. */
static int submit_and_gather(kl_shard_t *sh, struct __kernel_timespec *ts) {
    struct io_uring_sq *sq = &sh->ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail); /* SQE contents before the tail */
    }
    struct io_uring_getevents_arg arg = {
        .sigmask_sz = _NSIG / 8,
        .pad = sh->cfg.gather_us, /* min_wait_usec since Linux 6.12 */
        .ts = (uint64_t)(uintptr_t)ts,
    };
    /* Any count above what a turn sees: the minimum wait, not the count, ends the gathering. */
    unsigned wait_nr = sh->cfg.entries * 4;
    long r = syscall(__NR_io_uring_enter, sh->ring.ring_fd, tail - *sq->khead, wait_nr,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
    return r < 0 ? -errno : 0;
}

/* One wait for completions (at most wait_ms) and their dispatch. */
static int turn(kl_shard_t *sh, uint64_t wait_ms, bool gather) {
    struct __kernel_timespec ts = {.tv_sec = (long long)(wait_ms / 1000), .tv_nsec = (long long)(wait_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;
    int r = gather ? submit_and_gather(sh, &ts) : 0;
    if (gather && r == -EINVAL) /* a kernel that refused the minimum wait after all: never again */
        sh->gather_ok = gather = false;
    if (!gather) r = io_uring_submit_and_wait_timeout(&sh->ring, &cqe, 1, &ts, NULL);
    sh->now_ms = kl_clock_ms();
    unsigned head, n = 0;
    io_uring_for_each_cqe(&sh->ring, head, cqe) {
        dispatch(sh, cqe);
        n++;
    }
    io_uring_cq_advance(&sh->ring, n);
    return r;
}

void kl_shard_settle(kl_shard_t *sh, uint64_t ms) {
    uint64_t until = kl_clock_ms() + ms;
    while (sh->conns > 0 && kl_clock_ms() < until) turn(sh, 10, false);
}

/* The loop calls into stream.c (flush, rearm, resume) and stream.c calls back into the
 * shard (SQEs, connection counts): the two are one runtime split in two files, as h2o's
 * evloop and its sockets are. The loop owns the order of a turn: hooks, then every
 * stream's batched output and the buffers handed back, then one wait, then the input
 * that was set aside and the deadlines. */
static void loop(kl_shard_t *sh) {
    for (;;) {
        atomic_fetch_add_explicit(&sh->heartbeat, 1, memory_order_relaxed);
        if (!sh->draining && atomic_load_explicit(&sh->drain_req, memory_order_acquire)) {
            /* Connections the acceptor handed over before the drain was asked for may
             * still be in our completion queue: take them now, or a loop with no
             * connection left would end with their fds unanswered. */
            turn(sh, 0, false);
            sh->draining = true;
            sh->drain_deadline = sh->now_ms + sh->drain_ms;
            if (sh->hooks->on_drain) sh->hooks->on_drain(sh);
        }
        if (sh->draining && (sh->conns == 0 || sh->now_ms >= sh->drain_deadline)) break;
        if (sh->hooks->on_tick) sh->hooks->on_tick(sh);
        kl_stream__flush_all(sh);
        kl_bufring_commit(&sh->bufs);
        kl_stream__rearm_all(sh);

        uint64_t wait = kl_wheel_timeout(&sh->wheel, sh->cfg.max_wait_ms);
        if (kl_stream__work_pending(sh)) wait = 0;
        bool gather = wait > 0 && sh->gather_ok && sh->cfg.gather_us && !sh->prompt_wait &&
                      sh->active_streams >= GATHER_MIN_ACTIVE;
        sh->gathered_waits += gather;
        sh->turn_ns = kl_clock_ns() - sh->_woke_ns;
        int r = turn(sh, wait, gather);
        sh->_woke_ns = kl_clock_ns();
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY) {
            kl_log(KL_LOG_ERROR, "io_uring wait failed; the shard's loop ends", "\"shard\":%d,\"error\":\"%s\"", sh->id,
                   strerror(-r)); /* strerror's text needs no JSON escaping */
            break;
        }
        kl_stream__resume_all(sh);
        kl_wheel_run(&sh->wheel, sh->now_ms);
        publish_load(sh);
    }
}

static void *thread_main(void *arg) {
    kl_shard_t *sh = arg;
    int r;
    if (sh->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(sh->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
    }
    char name[16];
    snprintf(name, sizeof(name), "keel-shard-%d", sh->id);
    pthread_setname_np(pthread_self(), name);

    r = setup_ring(sh);
    if (r < 0) goto out;
    r = kl_bufring_init(&sh->bufs, sh->cfg.buf_count, sh->cfg.buf_size, 0);
    if (r < 0) goto out_ring;
    r = kl_bufring_register(&sh->bufs, &sh->ring);
    if (r < 0) goto out_bufs;
    sh->now_ms = kl_clock_ms();
    sh->_schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    sh->_load_at_ms = sh->now_ms;
    sh->_period = 1;
    sh->_sched_ns = sched_ns(sh);
    kl_wheel_init(&sh->wheel, sh->now_ms);
    kl_recycler_init(&sh->recycler, CHUNK_SIZE, CHUNK_SPARES);
    kl_stream__shard_init(sh);
    sh->recv_burst_ok = sh->cfg.recv_burst != 0;
    sh->accept_io.cb = accept_cb;
    sh->admin_accept_io.cb = admin_accept_cb;
    sh->_woke_ns = kl_clock_ns();
    r = sh->hooks->on_start ? sh->hooks->on_start(sh) : 0;
    if (r == 0) {
        atomic_store_explicit(&sh->ready, 1, memory_order_release);
        loop(sh);
    }
    /* Also after a failed on_start: on_stop releases whatever on_start had acquired. */
    if (sh->hooks->on_stop) sh->hooks->on_stop(sh);
    kl_recycler_destroy(&sh->recycler);
    if (sh->_schedstat_fd >= 0) close(sh->_schedstat_fd);
out_bufs:
    kl_bufring_destroy(&sh->bufs, &sh->ring);
out_ring:
    io_uring_queue_exit(&sh->ring);
out:
    if (r < 0) {
        sh->start_err = r;
        atomic_store_explicit(&sh->ready, r, memory_order_release);
    }
    return NULL;
}

int kl_shard_start(kl_shard_t *sh, int id, int cpu, const kl_shard_config_t *cfg,
                   const kl_shard_hooks_t *hooks, void *app, uint64_t drain_ms) {
    memset(sh, 0, sizeof(*sh));
    sh->id = id;
    sh->cpu = cpu;
    sh->cfg = *cfg;
    sh->hooks = hooks;
    sh->app = app;
    sh->drain_ms = drain_ms;
    int r = pthread_create(&sh->thread, NULL, thread_main, sh);
    if (r) return -r;
    /* The acceptor needs the ring fd, so wait until the thread has set up or failed; a
     * thread that does neither in time (a stuck on_start) fails the start: the caller exits. */
    uint64_t deadline = kl_clock_ms() + START_DEADLINE_MS;
    while ((r = atomic_load_explicit(&sh->ready, memory_order_acquire)) == 0) {
        if (kl_clock_ms() >= deadline) return -ETIMEDOUT;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (r < 0) {
        pthread_join(sh->thread, NULL);
        return r;
    }
    return 0;
}

void kl_shard_request_drain(kl_shard_t *sh) {
    atomic_store_explicit(&sh->drain_req, 1, memory_order_release);
}

int kl_shard_join(kl_shard_t *sh, uint64_t deadline_ms) {
    uint64_t now = kl_clock_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    int r = pthread_timedjoin_np(sh->thread, NULL, &ts);
    return r ? -r : 0;
}
