/* shard.h - one pinned thread with its own io_uring, buffer ring, timer wheel and chunk
 * recycler. Everything a shard owns is touched only by its thread; the only fields other
 * threads read are the atomics marked so. Work reaches a shard as io_uring completions:
 * its own I/O, and new connections posted by the acceptor with IORING_OP_MSG_RING. */
#ifndef KL_SHARD_H
#define KL_SHARD_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/bufring.h"
#include "core/list.h"
#include "core/timer.h"

typedef struct kl_shard kl_shard_t;
typedef struct kl_io kl_io_t;

/** Completion handler: an SQE's user_data points at a kl_io_t; its cb gets the CQE. */
struct kl_io {
    void (*cb)(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe);
};

/** What the layer above the runtime plugs into every shard. */
typedef struct {
    /** Called on the shard thread once its ring is ready; returns 0 or -errno to abort startup. */
    int (*on_start)(kl_shard_t *sh);
    /** A new connection for this shard; the callee owns fd. */
    void (*on_accept)(kl_shard_t *sh, int fd);
    /** A new connection from the admin listener (kl_acceptor_start_admin); the callee owns
     * fd. NULL: such connections are closed. */
    void (*on_accept_admin)(kl_shard_t *sh, int fd);
    /** Called once per loop iteration before submitting (flush batched work here). */
    void (*on_tick)(kl_shard_t *sh);
    /** Graceful shutdown began: close idle connections, finish in-flight ones. */
    void (*on_drain)(kl_shard_t *sh);
    /** The loop ended, or on_start failed: release everything on_start acquired (the ring
     * is still valid). */
    void (*on_stop)(kl_shard_t *sh);
} kl_shard_hooks_t;

typedef struct {
    unsigned entries;     /**< SQ entries (CQ gets 4x) */
    unsigned buf_count;   /**< provided receive buffers (power of two) */
    unsigned buf_size;    /**< bytes per receive buffer */
    unsigned max_wait_ms; /**< longest sleep in the loop (bounds drain-notice latency) */
    unsigned send_timeout_ms; /**< a stream whose output makes no progress this long is closed; 0 = never */
    unsigned recv_burst;  /**< bytes one armed receive may deliver before it is re-armed; 0 = no cap */
    unsigned gather_us;   /**< a busy shard's wait gathers completions this long (shard.c); 0 = never */
} kl_shard_config_t;

struct kl_shard {
    int id;                    /**< 0..n-1 */
    int cpu;                   /**< CPU it is pinned to, -1 when unpinned */
    struct io_uring ring;      /**< owned; only this thread submits (SINGLE_ISSUER) */
    unsigned ring_flags;       /**< setup flags that the kernel accepted */
    kl_bufring_t bufs;         /**< receive buffers (group 0) */
    kl_wheel_t wheel;          /**< deadlines */
    kl_recycler_t recycler;    /**< arena chunks for requests on this shard */
    uint64_t now_ms;           /**< monotonic clock, refreshed every loop iteration */
    unsigned conns;            /**< open connections (shard-local count) */
    uint64_t send_timeouts;    /**< streams closed because the peer took no output in time */
    uint64_t alloc_failures;   /**< streams closed because a buffer could not grow */
    bool recv_burst_ok;        /**< the kernel caps a multishot receive's total (Linux 6.14+):
                                    cleared at the first -EINVAL, then receives run uncapped */
    const kl_shard_hooks_t *hooks;
    void *app;                 /**< the upper layer's per-shard state */
    /* stream.c's work lists, private to it; the loop only asks stream.c to run them */
    kl_list_t _flush_list;     /* streams with output to submit this iteration */
    kl_list_t _resume_list;    /* streams whose buffered input should be offered again */
    kl_list_t _rearm_list;     /* streams whose multishot recv ended and must restart */
    kl_io_t accept_io;         /**< MSG_RING target: res carries the new fd */
    kl_io_t admin_accept_io;   /**< MSG_RING target for the admin listener's connections */
    uint64_t turn_ns;          /**< how long the last loop turn's work took (wait return to next wait) */
    bool prompt_wait;          /**< set by the upper layer (on_tick): a completion it awaits should
                                    be taken at once (a database answer), so this turn's wait
                                    does not gather */
    bool gather_ok;            /**< the kernel has io_uring's minimum wait (Linux 6.12+) */
    uint64_t gathered_waits;   /**< waits that gathered (shard-local count) */
    unsigned active_streams;   /**< streams that received bytes in the last full load period */
    size_t out_held;           /**< bytes its streams' output buffers hold (capacity, queued and
                                    in flight): what clients slow to read keep it holding */
    unsigned _active_now;      /* streams that received bytes in the current period */
    uint32_t _period;          /* load periods so far: a stream counts once per period */
    uint64_t _woke_ns;         /* when the last wait returned */
    bool draining;             /**< shard-local copy of the drain request */
    uint64_t drain_deadline;   /**< now_ms by which the loop ends regardless */
    int _schedstat_fd;         /* /proc/thread-self/schedstat, -1 when unavailable */
    uint64_t _load_at_ms;      /* when load_permille was last published */
    uint64_t _sched_ns;        /* run + run-queue wait ns at that time */
    /* cross-thread */
    _Atomic uint64_t closed_total; /**< written by this shard, read by the acceptor */
    _Atomic uint32_t load_permille; /**< written by this shard every 100 ms, read by the acceptor:
                                         CPU time the thread ran plus time it waited for a CPU, per
                                         1000 of wall time (above 1000: it was starved) */
    _Atomic int drain_req;         /**< set by the main thread: 1 drain */
    _Atomic int ready;             /**< 1 running, -errno failed at startup */
    _Atomic uint64_t heartbeat;    /**< loop iterations: a watchdog sees the loop turn (it
                                        turns at least every cfg.max_wait_ms) */
    pthread_t thread;
    kl_shard_config_t cfg;
    uint64_t drain_ms;          /**< how long a drain may take */
    int start_err;
};

/** Creates the shard's thread, pinned to cpu (-1: unpinned); it sets up its ring and calls
 * hooks->on_start. Returns 0 once running, the -errno of the startup failure, or -ETIMEDOUT
 * when the shard neither ran nor failed within 10 s. */
int kl_shard_start(kl_shard_t *sh, int id, int cpu, const kl_shard_config_t *cfg,
                   const kl_shard_hooks_t *hooks, void *app, uint64_t drain_ms);
/** Asks the shard (from any thread) to drain and stop. */
void kl_shard_request_drain(kl_shard_t *sh);
/** Waits for the thread to end, at most until deadline_ms (kl_clock_ms). Returns 0 or -ETIMEDOUT. */
int kl_shard_join(kl_shard_t *sh, uint64_t deadline_ms);

/** An SQE from the shard's ring, submitting first if the SQ is full; never NULL. */
struct io_uring_sqe *kl_shard_sqe(kl_shard_t *sh);
/** From on_stop: dispatches completions until no connection is open or ms passed, so that
 * aborted connections are finalized (fd closed, on_closed called) before teardown. */
void kl_shard_settle(kl_shard_t *sh, uint64_t ms);
/** Of n shards with open[i] connections and load[i] (load_permille), the one a new connection
 * should go to, searching from start (ties go to the first found): the least
 * (open + 1) * (1000 + min(load, 3000)), so that idle shards split connections evenly and a
 * shard that is busy or starved of CPU (by a load generator or a database backend sharing its
 * core) gets fewer, but never fewer than a quarter of an idle shard's share. Shards with max_open or more are skipped; -1 when every shard is full. Pure. */
int kl_shard_pick(const uint64_t *open, const uint32_t *load, unsigned n, unsigned start, uint64_t max_open);
/** Called by the upper layer when a connection ends, to keep the acceptor's counts right. */
void kl_shard_conn_closed(kl_shard_t *sh);

#endif
