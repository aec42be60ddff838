/* stream.h - one TCP connection on a shard: multishot receive from the shard's buffer
 * ring, batched sends with short-send handling, deadlines, and an orderly close.
 *
 * Input: each received buffer is offered to on_data at once (zero-copy); only the bytes
 * on_data does not consume are copied into the stream's own input buffer, which is freed
 * as soon as it is empty. So an idle connection holds no receive buffer at all.
 * Output: kl_stream_write copies into a pending buffer; the shard submits one send per
 * stream per loop iteration, so pipelined responses leave in one write. While the kernel
 * owns the in-flight buffer, new writes go to the pending one. A peer that takes none of
 * our output for the shard's send_timeout_ms is closed: output never waits forever.
 * Memory: a buffer that cannot grow (allocation failure) closes that stream, never the
 * process.
 * Lifetime: the stream is freed by its owner in on_closed, called exactly once after the
 * fd is closed and no SQE refers to the stream any more. */
#ifndef KL_STREAM_H
#define KL_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/shard.h"
#include "core/timer.h"

typedef struct kl_stream kl_stream_t;

typedef struct {
    /** New input: data[0..len) is every unconsumed byte (writable). Returns how many bytes
     * it consumed; the rest is kept and offered again with the next bytes or on resume. */
    size_t (*on_data)(kl_stream_t *s, char *data, size_t len);
    /** The peer finished sending (EOF). The stream stays open for writing. */
    void (*on_eof)(kl_stream_t *s);
    /** The deadline set by kl_stream_set_deadline passed. */
    void (*on_timeout)(kl_stream_t *s);
    /** Everything written has been handed to the kernel (optional). */
    void (*on_drain)(kl_stream_t *s);
    /** Final: fd closed, no I/O outstanding; the owner frees the stream now. */
    void (*on_closed)(kl_stream_t *s);
} kl_stream_cbs_t;

typedef struct {
    char *base;
    size_t len, cap;
} kl_stream_buf_t;

struct kl_stream {
    kl_shard_t *shard;          /**< owning shard */
    int fd;                     /**< the socket; -1 once closed */
    const kl_stream_cbs_t *cbs; /**< upper-layer callbacks */
    kl_stream_buf_t in;         /**< unconsumed input (owned copy) */
    kl_stream_buf_t out;        /**< written, not yet submitted */
    kl_stream_buf_t flight;     /**< owned by the kernel while a send is in flight */
    size_t flight_off;          /**< bytes of flight already sent */
    kl_timer_t timer;           /**< the one deadline (upper layer's, then lingering) */
    kl_timer_t _send_timer;     /* send progress deadline (shard cfg send_timeout_ms) */
    kl_list_t _flush_link, _resume_link, _rearm_link;
    kl_io_t _recv_io, _send_io;
    unsigned _refs;             /**< SQEs in flight + callbacks running */
    uint32_t _period;           /* the shard's load period in which it last received bytes */
    bool _reading;              /**< the owner wants input */
    bool _recv_armed;           /**< a multishot recv is in the kernel */
    bool _eof;                  /**< the peer sent FIN */
    bool _closing;              /**< close requested: no more callbacks except on_closed */
    bool _finish;               /**< close after the output drains (graceful) */
    bool _lingering;            /**< output done, write side shut, discarding input */
    bool _closed;               /**< on_closed was called */
};

/** Binds an accepted fd to s (memory owned by the caller) and starts receiving. */
void kl_stream_init(kl_stream_t *s, kl_shard_t *sh, int fd, const kl_stream_cbs_t *cbs);
/** Queues bytes to send (copied); sent at the end of this loop iteration. */
void kl_stream_write(kl_stream_t *s, const void *data, size_t len);
/** Bytes written but not yet acknowledged by a completed send. */
static inline size_t kl_stream_unsent(const kl_stream_t *s) {
    return s->out.len + (s->flight.len - s->flight_off);
}
/** Bytes received and not yet consumed by on_data. */
static inline size_t kl_stream_buffered(const kl_stream_t *s) { return s->in.len; }
/** True once kl_stream_finish or kl_stream_abort was called (or the peer reset): no more
 * requests should be read from s. */
static inline bool kl_stream_closing(const kl_stream_t *s) { return s->_finish || s->_closing; }
/** Stops (false) or resumes (true) receiving; buffered input is kept either way. */
void kl_stream_set_reading(kl_stream_t *s, bool on);
/** Offers the buffered input to on_data again, from the loop (not re-entrantly). */
void kl_stream_resume(kl_stream_t *s);
/** Arms the deadline ms from now (0 disarms); on_timeout is called when it passes. */
void kl_stream_set_deadline(kl_stream_t *s, uint64_t ms);
/** Graceful close: send what is queued, shut the write side, discard input briefly so the
 * peer reads the last response instead of a reset, then close. */
void kl_stream_finish(kl_stream_t *s);
/** Immediate close: drop queued output and close now. */
void kl_stream_abort(kl_stream_t *s);

/* runtime internals, called by the shard loop */
/** Prepares the shard's stream work lists (before any stream exists). */
void kl_stream__shard_init(kl_shard_t *sh);
/** True when streams have output to submit or buffered input to offer: the loop must not sleep. */
bool kl_stream__work_pending(const kl_shard_t *sh);
/** Submits the pending output of every stream on the shard's flush list. */
void kl_stream__flush_all(kl_shard_t *sh);
/** Restarts multishot receives that ended (e.g. -ENOBUFS) once buffers are back. */
void kl_stream__rearm_all(kl_shard_t *sh);
/** Offers buffered input of streams queued by kl_stream_resume. */
void kl_stream__resume_all(kl_shard_t *sh);

#endif
