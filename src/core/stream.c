#include "core/stream.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

/* How long a gracefully closed connection keeps reading (and discarding) so that the
 * peer gets our last response rather than a reset caused by unread input. */
#define LINGER_MS 2000

static void recv_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe);
static void send_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe);
static void timer_cb(kl_timer_t *t);
static void send_timer_cb(kl_timer_t *t);
static void close_now(kl_stream_t *s);

/* Returns false, changing nothing, when the buffer cannot grow. held (NULL for input) counts
 * the capacity of the shard's output buffers (kl_shard_t.out_held). */
static bool buf_append(kl_stream_buf_t *b, const void *p, size_t n, size_t *held) {
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        char *base = kl_tryrealloc(b->base, cap);
        if (!base) return false;
        if (held) *held += cap - b->cap;
        b->base = base;
        b->cap = cap;
    }
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return true;
}

static void buf_release(kl_stream_buf_t *b, size_t *held) {
    if (held) *held -= b->cap;
    kl_free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

static void buf_consume(kl_stream_buf_t *b, size_t n) {
    if (n >= b->len) {
        buf_release(b, NULL); /* an idle connection keeps no input memory */
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

static void finalize_if_done(kl_stream_t *s) {
    if (!s->_closing || s->_refs || s->_closed) return;
    s->_closed = true;
    if (s->fd >= 0) close(s->fd); /* no SQE refers to the fd any more */
    s->fd = -1;
    buf_release(&s->flight, &s->shard->out_held);
    kl_shard_conn_closed(s->shard);
    s->cbs->on_closed(s);
}

/* A buffer could not grow: this connection ends, the process goes on. (Inside a callback
 * the stream holds a reference, so on_closed waits until that callback returned.) */
static void out_of_memory(kl_stream_t *s) {
    s->shard->alloc_failures++;
    close_now(s);
    finalize_if_done(s);
}

static void arm_recv(kl_stream_t *s) {
    kl_shard_t *sh = s->shard;
    struct io_uring_sqe *sqe = kl_shard_sqe(sh);
    io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = sh->bufs.bgid;
    /* Cap what this receive may deliver in all (the kernel's sqe->optlen for a multishot
     * receive, which these headers still call file_index): a stream that stops reading
     * then has at most one burst in flight, instead of whatever the socket had queued. */
    if (sh->recv_burst_ok) sqe->file_index = sh->cfg.recv_burst;
    io_uring_sqe_set_data(sqe, &s->_recv_io);
    s->_recv_armed = true;
    s->_refs++;
}

static void cancel_recv(kl_stream_t *s) {
    if (!s->_recv_armed) return;
    struct io_uring_sqe *sqe = kl_shard_sqe(s->shard);
    io_uring_prep_cancel(sqe, &s->_recv_io, 0);
    io_uring_sqe_set_data(sqe, NULL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void kl_stream_init(kl_stream_t *s, kl_shard_t *sh, int fd, const kl_stream_cbs_t *cbs) {
    memset(s, 0, sizeof(*s));
    s->shard = sh;
    s->fd = fd;
    s->cbs = cbs;
    s->_recv_io.cb = recv_cb;
    s->_send_io.cb = send_cb;
    s->timer.cb = timer_cb;
    s->_send_timer.cb = send_timer_cb;
    s->_reading = true;
    arm_recv(s);
}

static void offer(kl_stream_t *s) {
    size_t used = s->cbs->on_data(s, s->in.base, s->in.len);
    if (s->_closing) return;
    buf_consume(&s->in, used);
}

static void deliver(kl_stream_t *s, char *p, size_t n) {
    if (s->_finish) return; /* closing gracefully: input is discarded */
    if (s->in.len == 0 && s->_reading) {
        /* Zero-copy path: the owner parses straight out of the provided buffer. */
        size_t used = s->cbs->on_data(s, p, n);
        if (!s->_closing && !s->_finish && used < n && !buf_append(&s->in, p + used, n - used, NULL)) out_of_memory(s);
        return;
    }
    if (!buf_append(&s->in, p, n, NULL)) {
        out_of_memory(s);
        return;
    }
    if (s->_reading) offer(s);
}

static void recv_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    kl_stream_t *s = kl_container_of(io, kl_stream_t, _recv_io);
    bool more = cqe->flags & IORING_CQE_F_MORE;
    int res = cqe->res;
    s->_refs++; /* hold the stream across callbacks that may close it */
    if (!more) {
        s->_recv_armed = false;
        s->_refs--;
    }
    if (res > 0) {
        uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        /* The kernel filled buffer bid: user space owns it until the put below. */
        kl_bufring_take(&sh->bufs, bid);
        if (s->_period != sh->_period) { /* periods start at 1: a new stream's 0 is none */
            s->_period = sh->_period;
            sh->_active_now++;
        }
        if (!s->_closing && !s->_lingering) deliver(s, kl_bufring_buf(&sh->bufs, bid), (size_t)res);
        kl_bufring_put(&sh->bufs, bid);
    } else if (res == 0) {
        s->_eof = true;
        if (s->_lingering) close_now(s);
        else if (!s->_closing && s->cbs->on_eof) s->cbs->on_eof(s);
    } else if (res == -EINVAL && sh->recv_burst_ok) {
        sh->recv_burst_ok = false; /* an older kernel refuses the cap: re-armed without it */
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        close_now(s); /* reset or other socket error: nothing more can be said */
    }
    /* A multishot recv ends on -ENOBUFS (buffers ran dry), when its burst cap is reached, and
     * at some other points; it is restarted after this batch, when the buffers handed back
     * above are committed, unless the owner stopped reading meanwhile. */
    if (!s->_recv_armed && !s->_closing && !s->_eof && (s->_reading || s->_lingering) &&
        !kl_list_linked(&s->_rearm_link))
        kl_list_push(&sh->_rearm_list, &s->_rearm_link);
    s->_refs--;
    finalize_if_done(s);
}

/* (Re)starts the send-progress deadline: the peer must take some of our output in time. */
static void arm_send_timer(kl_stream_t *s) {
    unsigned ms = s->shard->cfg.send_timeout_ms;
    if (ms) kl_wheel_add(&s->shard->wheel, &s->_send_timer, s->shard->now_ms + ms);
}

static void submit_send(kl_stream_t *s) {
    if (!kl_timer_active(&s->_send_timer)) arm_send_timer(s);
    struct io_uring_sqe *sqe = kl_shard_sqe(s->shard);
    /* The kernel owns flight until the CQE: nothing may write or move it meanwhile. */
    io_uring_prep_send(sqe, s->fd, s->flight.base + s->flight_off, s->flight.len - s->flight_off,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &s->_send_io);
    s->_refs++;
}

static bool send_inflight(const kl_stream_t *s) { return s->flight.len != 0; }

static void begin_linger(kl_stream_t *s) {
    s->_lingering = true;
    if (s->_eof) {
        close_now(s);
        return;
    }
    shutdown(s->fd, SHUT_WR);
    buf_release(&s->in, NULL);
    kl_wheel_add(&s->shard->wheel, &s->timer, s->shard->now_ms + LINGER_MS);
    if (!s->_recv_armed && !kl_list_linked(&s->_rearm_link))
        kl_list_push(&s->shard->_rearm_list, &s->_rearm_link);
}

static void flush(kl_stream_t *s) {
    if (s->_closing || send_inflight(s) || s->out.len == 0) return;
    kl_stream_buf_t t = s->flight;
    s->flight = s->out;
    s->out = t;
    s->out.len = 0;
    s->flight_off = 0;
    submit_send(s);
}

static void send_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    kl_stream_t *s = kl_container_of(io, kl_stream_t, _send_io);
    (void)sh;
    s->_refs--;
    if (s->_closing) {
        finalize_if_done(s);
        return;
    }
    if (cqe->res < 0) {
        close_now(s); /* EPIPE / ECONNRESET: the peer is gone */
        finalize_if_done(s);
        return;
    }
    s->flight_off += (size_t)cqe->res;
    if (cqe->res > 0) arm_send_timer(s); /* progress: the deadline starts over */
    if (s->flight_off < s->flight.len) {
        submit_send(s); /* short send: the rest goes out from where the kernel stopped */
        return;
    }
    s->flight.len = 0;
    s->flight_off = 0;
    if (s->out.len) {
        flush(s);
        return;
    }
    /* Nothing left to send: give the memory back so idle connections stay small. */
    kl_wheel_del(&s->shard->wheel, &s->_send_timer);
    buf_release(&s->flight, &s->shard->out_held);
    buf_release(&s->out, &s->shard->out_held);
    s->_refs++;
    if (s->_finish) begin_linger(s);
    else if (s->cbs->on_drain) s->cbs->on_drain(s);
    s->_refs--;
    finalize_if_done(s);
}

void kl_stream_write(kl_stream_t *s, const void *data, size_t len) {
    if (s->_closing || s->_finish || len == 0) return;
    if (!buf_append(&s->out, data, len, &s->shard->out_held)) {
        out_of_memory(s); /* a response cut short must not go out: the peer sees a close */
        return;
    }
    if (!kl_list_linked(&s->_flush_link)) kl_list_push(&s->shard->_flush_list, &s->_flush_link);
}

void kl_stream_set_reading(kl_stream_t *s, bool on) {
    if (s->_closing || s->_reading == on) return;
    s->_reading = on;
    if (!on) {
        cancel_recv(s);
        return;
    }
    if (s->in.len) kl_stream_resume(s);
    if (!s->_recv_armed && !s->_eof && !kl_list_linked(&s->_rearm_link))
        kl_list_push(&s->shard->_rearm_list, &s->_rearm_link);
}

void kl_stream_resume(kl_stream_t *s) {
    if (s->_closing || kl_list_linked(&s->_resume_link)) return;
    kl_list_push(&s->shard->_resume_list, &s->_resume_link);
}

void kl_stream_set_deadline(kl_stream_t *s, uint64_t ms) {
    if (s->_closing || s->_finish) return;
    if (ms == 0) kl_wheel_del(&s->shard->wheel, &s->timer);
    else kl_wheel_add(&s->shard->wheel, &s->timer, s->shard->now_ms + ms);
}

static void send_timer_cb(kl_timer_t *t) {
    kl_stream_t *s = kl_container_of(t, kl_stream_t, _send_timer);
    if (s->_closing) return;
    s->shard->send_timeouts++;
    close_now(s);
    finalize_if_done(s);
}

static void timer_cb(kl_timer_t *t) {
    kl_stream_t *s = kl_container_of(t, kl_stream_t, timer);
    if (s->_lingering) {
        close_now(s);
        finalize_if_done(s);
        return;
    }
    if (s->_closing) return;
    s->_refs++;
    s->cbs->on_timeout(s);
    s->_refs--;
    finalize_if_done(s);
}

void kl_stream_finish(kl_stream_t *s) {
    if (s->_closing || s->_finish) return;
    s->_finish = true;
    kl_wheel_del(&s->shard->wheel, &s->timer);
    kl_list_remove(&s->_resume_link);
    if (!send_inflight(s) && s->out.len == 0) begin_linger(s);
}

static void close_now(kl_stream_t *s) {
    if (s->_closing) return;
    s->_closing = true;
    kl_wheel_del(&s->shard->wheel, &s->timer);
    kl_wheel_del(&s->shard->wheel, &s->_send_timer);
    kl_list_remove(&s->_flush_link);
    kl_list_remove(&s->_resume_link);
    kl_list_remove(&s->_rearm_link);
    buf_release(&s->in, NULL);
    buf_release(&s->out, &s->shard->out_held);
    /* shutdown completes a pending recv or send at once; the fd itself is closed only
     * when no SQE refers to it, so its number cannot be reused under an SQE. */
    shutdown(s->fd, SHUT_RDWR);
    cancel_recv(s);
}

void kl_stream_abort(kl_stream_t *s) {
    close_now(s);
    finalize_if_done(s);
}

void kl_stream__shard_init(kl_shard_t *sh) {
    kl_list_init(&sh->_flush_list);
    kl_list_init(&sh->_resume_list);
    kl_list_init(&sh->_rearm_list);
}

bool kl_stream__work_pending(const kl_shard_t *sh) {
    return !kl_list_empty(&sh->_resume_list) || !kl_list_empty(&sh->_flush_list);
}

void kl_stream__flush_all(kl_shard_t *sh) {
    kl_list_t *n;
    while ((n = kl_list_shift(&sh->_flush_list)) != NULL) flush(kl_container_of(n, kl_stream_t, _flush_link));
}

void kl_stream__rearm_all(kl_shard_t *sh) {
    kl_list_t *n;
    while ((n = kl_list_shift(&sh->_rearm_list)) != NULL) {
        kl_stream_t *s = kl_container_of(n, kl_stream_t, _rearm_link);
        if (!s->_closing && !s->_recv_armed && !s->_eof && (s->_reading || s->_lingering)) arm_recv(s);
    }
}

void kl_stream__resume_all(kl_shard_t *sh) {
    kl_list_t *n;
    while ((n = kl_list_shift(&sh->_resume_list)) != NULL) {
        kl_stream_t *s = kl_container_of(n, kl_stream_t, _resume_link);
        if (s->_closing || !s->_reading || s->in.len == 0) continue;
        s->_refs++;
        offer(s);
        s->_refs--;
        finalize_if_done(s);
    }
}
