/* client.c - the io_uring connection engine of one worker thread; see client.h.
 *
 * Each connection has at most one operation in the kernel at a time (connect, send or recv),
 * so ownership is simple: while c->op != OP_NONE the kernel owns c->fd's pending operation
 * and the buffer it was given (c->req for a send, c->rbuf for a recv), and nothing else may
 * touch them. A timed-out connection is cancelled, and its fd closed and buffers reused only
 * when that operation's completion has come back.
 */
#include "client.h"

#include <errno.h>
#include <liburing.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "resp.h"

#define RECV_CAP (KB_RESP_MAX_HEAD + 4096) /* a head may fill KB_RESP_MAX_HEAD; leave room to read on */
#define LATE_NS 1000000ull                  /* open model: this far behind schedule counts as late */
#define TICK_NS 10000000ull                 /* timeouts are checked this often (10 ms) */
#define MAX_WAIT_NS 50000000ull             /* longest sleep, so the stop flag is seen promptly */
#define CQE_BATCH 256

enum { OP_NONE, OP_CONNECT, OP_SEND, OP_RECV, OP_CANCEL };

typedef struct {
    uint64_t origin_ns; /* latency is measured from here: start (closed) or intended time (open) */
    uint32_t stage;     /* the stage the request is accounted to */
    uint32_t route;     /* its scenario route (kb_request_t.route) */
    bool head;          /* HEAD request: its response has no body */
} inflight_t;

typedef struct {
    int fd;          /* -1 when not connected */
    uint8_t op;      /* the operation the kernel holds, OP_NONE if none */
    bool busy;       /* a batch is in flight (or being cancelled) */
    bool cancelling; /* timed out or stopped: waiting for op's completion to close */
    bool reused;     /* fd already carried a complete response (a keep-alive connection) */
    bool retried;    /* this batch was already retried on a fresh connection */
    bool must_close; /* a response said the connection ends after it */
    bool in_free;    /* on the free list */
    uint32_t nbatch, ndone;
    inflight_t inflight[KB_MAX_PIPELINE];
    uint64_t deadline_ns;
    uint64_t batch_rx; /* bytes received since the batch was sent; 0 makes a retry safe */
    char *req;         /* rendered request bytes of the batch */
    size_t req_len, req_cap, req_sent;
    char *rbuf; /* RECV_CAP bytes; [0, rlen) received and not yet consumed by the parser */
    size_t rlen;
    kb_resp_t resp;
    int32_t next_free;
} conn_t;

typedef struct {
    kb_shared_t *sh;
    const kb_config_t *cfg;
    unsigned index;
    struct io_uring ring;
    conn_t *conns;
    uint32_t nconns;
    kb_stats_t *stats;
    kb_route_stats_t *routes; /* scenario->nroutes entries: the whole run, by route */
    kb_series_t *series;      /* per-second results for --html; NULL when not kept */
    kb_progress_t *prog;
    uint64_t rng;
    int fatal;
    uint64_t ends[KB_MAX_STAGES]; /* absolute end of each stage */
    uint32_t cur;                 /* current stage */
    uint64_t stage_start, stage_end;
    bool stage_open;              /* cur was entered and not yet left */
    uint32_t target;              /* closed: this thread's users in the stage; open: pool size */
    bool stopping;                /* no new requests */
    bool bound_hit;               /* stopping because --requests was reached */
    uint32_t busy;                /* connections with a batch in flight */
    int32_t free_head;            /* idle connections ready for work */
    double interval_ns, phase_ns; /* open model schedule of this thread */
    uint64_t next_k;              /* open model: index of the next scheduled request */
    uint64_t last_scan;
    uint64_t n_resp, n_fail;
} worker_t;

uint64_t kb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t share(uint64_t total, unsigned i, unsigned n) {
    return (uint32_t)(total / n + (i < total % n ? 1 : 0));
}

/* Claims up to want requests from the run-wide --requests budget. */
static uint32_t reserve(worker_t *w, uint32_t want) {
    uint64_t max = w->cfg->max_requests;
    if (!max) return want;
    uint64_t cur = atomic_load_explicit(&w->sh->started, memory_order_relaxed);
    for (;;) {
        if (cur >= max) return 0;
        uint64_t take = max - cur < want ? max - cur : want;
        if (atomic_compare_exchange_weak_explicit(&w->sh->started, &cur, cur + take, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (uint32_t)take;
    }
}

static void touch_end(worker_t *w, uint32_t stage, uint64_t now) {
    uint64_t e = now < w->ends[stage] ? now : w->ends[stage];
    if (e > w->stats[stage].end_ns) w->stats[stage].end_ns = e;
}

static void push_free(worker_t *w, conn_t *c) {
    if (c->in_free) return;
    c->in_free = true;
    c->next_free = w->free_head;
    w->free_head = (int32_t)(c - w->conns);
}

static conn_t *pop_free(worker_t *w) {
    if (w->free_head < 0) return NULL;
    conn_t *c = &w->conns[w->free_head];
    w->free_head = c->next_free;
    c->in_free = false;
    return c;
}

static void close_fd(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->reused = false;
    c->rlen = 0;
}

static struct io_uring_sqe *get_sqe(worker_t *w) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    if (!sqe) {
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    if (!sqe && !w->fatal) w->fatal = -EBUSY;
    return sqe;
}

/* Hands c's next operation to the kernel; from here the kernel owns the buffer named. */
static void submit_op(worker_t *w, conn_t *c, uint8_t op) {
    struct io_uring_sqe *sqe = get_sqe(w);
    if (!sqe) return;
    switch (op) {
    case OP_CONNECT: /* cfg->addr outlives the run, so it stays valid until the completion */
        io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&w->cfg->addr, w->cfg->addrlen);
        break;
    case OP_SEND: io_uring_prep_send(sqe, c->fd, c->req + c->req_sent, c->req_len - c->req_sent, MSG_NOSIGNAL); break;
    case OP_RECV: io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, RECV_CAP - c->rlen, 0); break;
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)(c - w->conns) << 8 | op);
    c->op = op;
}

static void start_cancel(worker_t *w, conn_t *c) {
    c->cancelling = true;
    struct io_uring_sqe *sqe = get_sqe(w);
    if (!sqe) return;
    io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(c - w->conns) << 8 | OP_CANCEL);
}

/* The batch is over (every request answered or failed): the connection is free again. */
static void finish_batch(worker_t *w, conn_t *c) {
    c->busy = false;
    w->busy--;
    if (c->must_close) close_fd(c);
    else if (c->fd >= 0) c->reused = true;
    if (w->stopping) return;
    if (!w->cfg->open_model && (uint32_t)(c - w->conns) >= w->target) {
        close_fd(c); /* the stage has fewer users now */
        return;
    }
    push_free(w, c);
}

/* Every request of the batch not yet answered failed with kind; the connection is closed. */
static void fail_rest(worker_t *w, conn_t *c, kb_err_kind_t kind, uint64_t now) {
    for (uint32_t k = c->ndone; k < c->nbatch; k++) {
        w->stats[c->inflight[k].stage].errors[kind]++;
        w->routes[c->inflight[k].route].errors[kind]++;
        touch_end(w, c->inflight[k].stage, now);
        if (w->series) kb_series_error(w->series, now - w->sh->t0_ns, kind);
        w->n_fail++;
    }
    c->ndone = c->nbatch;
    c->must_close = true;
}

static void complete_one(worker_t *w, conn_t *c, uint64_t now) {
    inflight_t *f = &c->inflight[c->ndone++];
    kb_stats_t *s = &w->stats[f->stage];
    int status = c->resp.status;
    uint64_t took = now > f->origin_ns ? now - f->origin_ns : 0;
    kb_hist_record(&s->hist, took);
    if (status < 400) kb_hist_record(&s->hist_ok, took);
    kb_route_response(&w->routes[f->route], status, took);
    if (w->series) kb_series_response(w->series, now - w->sh->t0_ns, status, took);
    s->responses++;
    if (status >= 100 && status < 600) s->status[status]++;
    if (status >= 400) w->n_fail++;
    w->n_resp++;
    touch_end(w, f->stage, now);
    if (c->resp.close) c->must_close = true;
}

static void begin_connect(worker_t *w, conn_t *c, uint64_t now) {
    int fd = socket(w->cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_rest(w, c, KB_ERR_CONNECT, now);
        finish_batch(w, c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->reused = false;
    c->rlen = 0;
    submit_op(w, c, OP_CONNECT);
}

/* A keep-alive connection the server had already closed fails before any response byte:
 * that is not the server's answer to this request, so send it once more on a new connection. */
static bool retry_on_fresh(worker_t *w, conn_t *c, uint64_t now) {
    if (!c->reused || c->batch_rx || c->retried || c->ndone) return false;
    close_fd(c);
    c->retried = true;
    c->req_sent = 0;
    kb_resp_init(&c->resp, c->inflight[0].head);
    begin_connect(w, c, now);
    return true;
}

/* Renders n requests into c->req and starts them; origin is the latency origin. */
static void start_batch(worker_t *w, conn_t *c, uint64_t now, uint64_t origin, uint32_t n) {
    const kb_config_t *cfg = w->cfg;
    kb_stats_t *s = &w->stats[w->cur];
    c->req_len = 0;
    for (uint32_t k = 0; k < n; k++) {
        const kb_request_t *rq = kb_scenario_pick(cfg->scenario, &w->rng);
        for (;;) {
            uint64_t saved = w->rng;
            size_t len = kb_scenario_render(cfg->scenario, rq, cfg->host, &w->rng, c->req ? c->req + c->req_len : NULL,
                                            c->req ? c->req_cap - c->req_len : 0);
            if (c->req && len <= c->req_cap - c->req_len) {
                c->req_len += len;
                break;
            }
            size_t ncap = (c->req_len + len) * 2 + 256;
            char *nb = realloc(c->req, ncap);
            if (!nb) { /* no memory for the request: the request cannot be sent */
                fprintf(stderr, "keel-bench: out of memory rendering a request\n");
                exit(3);
            }
            c->req = nb;
            c->req_cap = ncap;
            w->rng = saved; /* render the same request again */
        }
        c->inflight[k] = (inflight_t){.origin_ns = origin, .stage = w->cur, .route = rq->route, .head = rq->is_head};
        w->routes[rq->route].sent++;
    }
    s->sent += n;
    c->nbatch = n;
    c->ndone = 0;
    c->req_sent = 0;
    c->batch_rx = 0;
    c->retried = false;
    c->must_close = false;
    c->cancelling = false;
    c->busy = true;
    w->busy++;
    c->deadline_ns = now + cfg->timeout_ns;
    kb_resp_init(&c->resp, c->inflight[0].head);
    if (!c->rbuf && !(c->rbuf = malloc(RECV_CAP))) {
        fprintf(stderr, "keel-bench: out of memory for a receive buffer\n");
        exit(3);
    }
    if (c->fd < 0) begin_connect(w, c, now);
    else submit_op(w, c, OP_SEND);
}

static void on_recv(worker_t *w, conn_t *c, int res, uint64_t now) {
    if (res <= 0) {
        if (res == 0 && kb_resp_complete_at_eof(&c->resp) && c->ndone < c->nbatch) {
            complete_one(w, c, now); /* a body delimited by the close */
        } else if (retry_on_fresh(w, c, now)) {
            return;
        }
        if (c->ndone < c->nbatch) fail_rest(w, c, KB_ERR_READ, now);
        close_fd(c);
        finish_batch(w, c);
        return;
    }
    c->rlen += (size_t)res;
    c->batch_rx += (uint64_t)res;
    w->stats[c->inflight[c->ndone].stage].bytes_rx += (uint64_t)res;
    size_t off = 0;
    while (c->ndone < c->nbatch) {
        bool done;
        ssize_t n = kb_resp_feed(&c->resp, c->rbuf + off, c->rlen - off, &done);
        if (n < 0) {
            fail_rest(w, c, KB_ERR_PROTOCOL, now);
            close_fd(c);
            finish_batch(w, c);
            return;
        }
        off += (size_t)n;
        if (!done) break;
        complete_one(w, c, now);
        if (c->ndone < c->nbatch) kb_resp_init(&c->resp, c->inflight[c->ndone].head);
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    if (c->ndone == c->nbatch) {
        if (c->rlen) c->must_close = true; /* bytes nobody asked for: the stream cannot be trusted */
        finish_batch(w, c);
        return;
    }
    submit_op(w, c, OP_RECV);
}

static void on_cqe(worker_t *w, uint64_t ud, int res, uint64_t now) {
    uint8_t op = (uint8_t)(ud & 0xff);
    conn_t *c = &w->conns[ud >> 8];
    if (op == OP_CANCEL) {
        /* the cancelled operation reports on its own; a kernel without cancel-by-fd (< 5.19)
         * refuses, and shutting the socket down ends the operation instead */
        if (res == -EINVAL && c->cancelling && c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
        return;
    }
    if (c->op != op) return;
    c->op = OP_NONE; /* the kernel is done with the buffer this operation used */
    if (c->cancelling) {
        c->cancelling = false;
        close_fd(c);
        c->must_close = true;
        finish_batch(w, c);
        return;
    }
    switch (op) {
    case OP_CONNECT:
        if (res < 0) {
            fail_rest(w, c, KB_ERR_CONNECT, now);
            close_fd(c);
            finish_batch(w, c);
            return;
        }
        submit_op(w, c, OP_SEND);
        return;
    case OP_SEND:
        if (res <= 0) {
            if (retry_on_fresh(w, c, now)) return;
            fail_rest(w, c, KB_ERR_WRITE, now);
            close_fd(c);
            finish_batch(w, c);
            return;
        }
        w->stats[c->inflight[0].stage].bytes_tx += (uint64_t)res;
        c->req_sent += (size_t)res;
        submit_op(w, c, c->req_sent < c->req_len ? OP_SEND : OP_RECV); /* short send: send the rest */
        return;
    case OP_RECV: on_recv(w, c, res, now); return;
    }
}

static uint64_t intended(const worker_t *w, uint64_t k) {
    return w->stage_start + (uint64_t)(w->phase_ns + (double)k * w->interval_ns);
}

static void enter_stage(worker_t *w, uint32_t s) {
    const kb_config_t *cfg = w->cfg;
    w->cur = s;
    w->stage_start = s ? w->ends[s - 1] : w->sh->t0_ns;
    w->stage_end = w->ends[s];
    w->stage_open = true;
    w->stats[s].start_ns = w->stage_start;
    if (cfg->open_model) {
        double rate = cfg->stages[s].rate / cfg->threads;
        w->interval_ns = 1e9 / rate;
        w->phase_ns = w->interval_ns * w->index / cfg->threads; /* threads interleave their sends */
        w->next_k = 0;
        return;
    }
    w->target = share(cfg->stages[s].vus, w->index, cfg->threads);
    w->free_head = -1;
    for (uint32_t i = w->nconns; i-- > 0;) {
        conn_t *c = &w->conns[i];
        c->in_free = false;
        if (c->busy) continue;
        if (i < w->target) push_free(w, c);
        else close_fd(c);
    }
}

/* Closes the books on the current stage at time cut. */
static void leave_stage(worker_t *w, uint64_t cut) {
    if (!w->stage_open) return;
    w->stage_open = false;
    if (!w->cfg->open_model) return;
    kb_stats_t *s = &w->stats[w->cur];
    uint64_t due = w->next_k;
    uint64_t lim = cut < w->stage_end ? cut : w->stage_end;
    double first = (double)w->stage_start + w->phase_ns;
    if (!w->bound_hit && (double)lim > first) {
        /* requests whose time came but that never got a connection: count them, do not walk */
        uint64_t k = (uint64_t)ceil(((double)lim - first) / w->interval_ns);
        while (k > 0 && intended(w, k - 1) >= lim) k--;
        while (intended(w, k) < lim) k++;
        if (k > due) due = k;
    }
    s->scheduled += due;
    s->dropped += due - w->next_k;
}

static void dispatch(worker_t *w, uint64_t now) {
    if (w->cfg->open_model) {
        while (!w->stopping && w->free_head >= 0) {
            uint64_t t = intended(w, w->next_k);
            if (t > now || t >= w->stage_end) break;
            if (!reserve(w, 1)) {
                w->bound_hit = w->stopping = true;
                break;
            }
            kb_stats_t *s = &w->stats[w->cur];
            uint64_t lag = now - t;
            if (lag >= LATE_NS) s->late++;
            if (lag > s->max_lag_ns) s->max_lag_ns = lag;
            w->next_k++;
            start_batch(w, pop_free(w), now, t, 1);
        }
        return;
    }
    /* closed model: detach the list first, so a connection that fails at once (no fd left)
     * is retried on the next loop turn, not spun on here */
    int32_t list = w->free_head;
    w->free_head = -1;
    while (list >= 0) {
        conn_t *c = &w->conns[list];
        list = c->next_free;
        c->in_free = false;
        if (w->stopping) continue;
        if ((uint32_t)(c - w->conns) >= w->target) {
            close_fd(c);
            continue;
        }
        uint32_t n = reserve(w, w->cfg->pipeline);
        if (!n) {
            w->bound_hit = w->stopping = true;
            continue;
        }
        start_batch(w, c, now, now, n);
    }
}

static void scan_timeouts(worker_t *w, uint64_t now) {
    for (uint32_t i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (!c->busy || c->cancelling || c->deadline_ns > now) continue;
        fail_rest(w, c, KB_ERR_TIMEOUT, now);
        if (c->op == OP_NONE) {
            close_fd(c);
            finish_batch(w, c);
        } else {
            start_cancel(w, c);
        }
    }
}

/* SIGINT: stop at once; what is in flight is cancelled and not counted. */
static void stop_now(worker_t *w) {
    for (uint32_t i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (!c->busy || c->cancelling) continue;
        c->ndone = c->nbatch;
        if (c->op == OP_NONE) {
            close_fd(c);
            finish_batch(w, c);
        } else {
            start_cancel(w, c);
        }
    }
}

static int ring_init(worker_t *w, unsigned entries, char *err, size_t errcap) {
    /* SINGLE_ISSUER + DEFER_TASKRUN (6.1+): completions run in this thread when it waits;
     * fall back to COOP_TASKRUN (5.19+) and then to no flags on older kernels */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 2; /* <= 2 completions per connection (op + cancel) never overflow */
        rc = io_uring_queue_init_params(entries, &w->ring, &p);
        if (rc == 0) return 0;
        if (rc != -EINVAL) break;
    }
    snprintf(err, errcap, "io_uring_queue_init: %s", strerror(-rc));
    return rc;
}

int kb_worker_run(kb_shared_t *sh, unsigned index, kb_stats_t *stats, kb_route_stats_t *routes, kb_series_t *series,
                  kb_progress_t *prog, char *err, size_t errcap) {
    const kb_config_t *cfg = sh->cfg;
    worker_t w0 = {.sh = sh, .cfg = cfg, .index = index, .stats = stats, .routes = routes, .series = series, .prog = prog,
                   .free_head = -1};
    worker_t *w = &w0;
    int rc;
    uint64_t acc = sh->t0_ns;
    for (size_t s = 0; s < cfg->nstages; s++) {
        acc += cfg->stages[s].duration_ns;
        w->ends[s] = acc;
    }
    if (cfg->open_model) {
        w->nconns = share(cfg->connections, index, cfg->threads);
    } else {
        for (size_t s = 0; s < cfg->nstages; s++) {
            uint32_t v = share(cfg->stages[s].vus, index, cfg->threads);
            if (v > w->nconns) w->nconns = v;
        }
    }
    w->rng = (cfg->seed + 1) * 0x9E3779B97F4A7C15ull + index * 0xBF58476D1CE4E5B9ull;
    if (!w->rng) w->rng = 1;
    unsigned entries = 64;
    while (entries < 2 * w->nconns + 16 && entries < 32768) entries *= 2;
    if ((rc = ring_init(w, entries, err, errcap)) < 0) goto out;
    w->conns = calloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
    if (!w->conns) {
        rc = -ENOMEM;
        snprintf(err, errcap, "out of memory for %u connections", w->nconns);
        goto out_ring;
    }
    for (uint32_t i = 0; i < w->nconns; i++) w->conns[i].fd = -1;
    if (cfg->open_model)
        for (uint32_t i = w->nconns; i-- > 0;) push_free(w, &w->conns[i]);

    enter_stage(w, 0);
    w->last_scan = kb_now_ns();
    bool hard = false, abandoned = false;
    uint64_t drain_deadline = 0;
    for (;;) {
        uint64_t now = kb_now_ns();
        if (w->stopping && !drain_deadline) drain_deadline = now + cfg->timeout_ns + 5000000000ull;
        if (drain_deadline && now > drain_deadline && w->busy) {
            /* every request has had its timeout and its cancel: the kernel is not giving the
             * operations back, so stop waiting for them */
            abandoned = true;
            break;
        }
        if (!hard && atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
            hard = w->stopping = true;
            leave_stage(w, now);
            stop_now(w);
        }
        while (!w->stopping && now >= w->stage_end) {
            leave_stage(w, w->stage_end);
            if (w->cur + 1 == cfg->nstages) {
                w->stopping = true;
                break;
            }
            enter_stage(w, w->cur + 1);
            atomic_store_explicit(&prog->stage, w->cur, memory_order_relaxed);
        }
        if (w->busy && now - w->last_scan >= TICK_NS) {
            scan_timeouts(w, now);
            w->last_scan = now;
        }
        if (!w->stopping) dispatch(w, now);
        if (w->stopping) leave_stage(w, now); /* the --requests bound ended the stage early */
        if (w->fatal) {
            rc = w->fatal;
            snprintf(err, errcap, "io_uring submission queue full");
            break;
        }
        if (w->stopping && !w->busy) break;

        uint64_t wake = now + MAX_WAIT_NS;
        if (!w->stopping && w->stage_end < wake) wake = w->stage_end;
        if (w->busy && w->last_scan + TICK_NS < wake) wake = w->last_scan + TICK_NS;
        if (!w->stopping && w->free_head >= 0) {
            if (!cfg->open_model) wake = now;
            else if (intended(w, w->next_k) < wake) wake = intended(w, w->next_k);
        }
        uint64_t dt = wake > now ? wake - now : 0;
        struct __kernel_timespec ts = {.tv_sec = (long long)(dt / 1000000000ull), .tv_nsec = (long long)(dt % 1000000000ull)};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL); /* -ETIME / -EINTR: just loop */

        struct io_uring_cqe *batch[CQE_BATCH];
        unsigned n;
        while ((n = io_uring_peek_batch_cqe(&w->ring, batch, CQE_BATCH)) > 0) {
            uint64_t uds[CQE_BATCH];
            int res[CQE_BATCH];
            for (unsigned i = 0; i < n; i++) {
                uds[i] = batch[i]->user_data;
                res[i] = batch[i]->res;
            }
            io_uring_cq_advance(&w->ring, n); /* copied out: the slots go back to the kernel */
            uint64_t t = kb_now_ns();
            for (unsigned i = 0; i < n; i++) on_cqe(w, uds[i], res[i], t);
            if (n < CQE_BATCH) break;
        }
        atomic_store_explicit(&prog->responses, w->n_resp, memory_order_relaxed);
        atomic_store_explicit(&prog->failures, w->n_fail, memory_order_relaxed);
    }
    leave_stage(w, kb_now_ns());
    atomic_store_explicit(&prog->responses, w->n_resp, memory_order_relaxed);
    atomic_store_explicit(&prog->failures, w->n_fail, memory_order_relaxed);
    if (abandoned) {
        fprintf(stderr, "keel-bench: worker %u: %u connections did not finish draining\n", index, w->busy);
        goto out_ring; /* the kernel may still write into their buffers: leave them be */
    }
    for (uint32_t i = 0; i < w->nconns; i++) {
        /* every operation has completed (busy == 0), so the kernel holds none of these */
        close_fd(&w->conns[i]);
        free(w->conns[i].req);
        free(w->conns[i].rbuf);
    }
    free(w->conns);
out_ring:
    io_uring_queue_exit(&w->ring);
out:
    return rc;
}
