/* http_conn.c - libFuzzer driver: keel's real HTTP connection (src/app/http_conn.c, with
 * respond.c and request.c) over a stand-in transport and a stand-in for the handlers, so a
 * whole connection runs with nothing but a byte buffer: no socket, no io_uring, no database.
 *
 * The transport implements stream.h's contract the way stream.c does (zero-copy delivery,
 * leftovers buffered, reading paused and resumed, deadlines, graceful finish, abort) and
 * plays the kernel: bytes sent while reading is paused wait in its "socket queue". The
 * handlers answer at once (/s, /b with a body, /a after checking Authorization in their
 * precheck) or later, like a database query (/d: deferred, answered on a later turn, or
 * after the client is gone).
 *
 * Input: byte 0 picks the piece sizes (1..byte0 % 64 + 1) and byte 1 the schedule of
 * events between pieces (answer the deferred request, let the peer read our output, let a
 * deadline pass); the rest is what the client sent, followed by its FIN.
 *
 * Checks (abort on violation): no response starts after one that said Connection: close;
 * at most one request is being answered later at a time; buffered input never passes one
 * head plus two pieces while a request is busy or reading is paused (issue 9 item 1); and the sanitizers' own
 * (memory errors, leaks: the connection is freed at the end through on_closed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/admin.h"
#include "app/dispatch.h"
#include "app/http_conn.h"
#include "app/respond.h"
#include "core/alloc.h"
#include "core/stream.h"

/* ---- the stand-in transport ------------------------------------------------------------ */

static struct {
    kl_stream_t *s;
    char sockq[1 << 16]; /* the kernel's: sent by the client, not yet received by keel */
    size_t sockq_len;
    uint64_t deadline;   /* 0: none armed */
    bool resume;         /* kl_stream_resume was called */
    bool closed_after_close; /* a response head followed one that said Connection: close */
    bool saw_close;
    bool closed;         /* on_closed ran: the stream (inside the connection) may be freed */
    size_t max_in;       /* the bound checked on s->in while reading is paused */
    uint64_t now;
} T;

static void buf_add(kl_stream_buf_t *b, const void *p, size_t n) {
    if (b->cap - b->len < n) {
        b->cap = (b->len + n) * 2;
        b->base = realloc(b->base, b->cap);
        if (!b->base) abort();
    }
    memcpy(b->base + b->len, p, n);
    b->len += n;
}

static void buf_drop(kl_stream_buf_t *b) {
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

static void finalize(kl_stream_t *s) {
    if (!s->_closing || s->_refs || s->_closed) return;
    s->_closed = true;
    T.closed = true;
    buf_drop(&s->in);
    buf_drop(&s->out);
    kl_shard_conn_closed(s->shard);
    s->cbs->on_closed(s);
}

static void close_now(kl_stream_t *s) {
    if (s->_closing) return;
    s->_closing = true;
    T.deadline = 0;
    T.resume = false;
}

void kl_stream_init(kl_stream_t *s, kl_shard_t *sh, int fd, const kl_stream_cbs_t *cbs) {
    memset(s, 0, sizeof(*s));
    s->shard = sh;
    s->fd = fd;
    s->cbs = cbs;
    s->_reading = true;
    T.s = s;
}

void kl_stream_write(kl_stream_t *s, const void *data, size_t len) {
    if (s->_closing || s->_finish || len == 0) return;
    /* respond.c writes each response's status line + fields in one call */
    if (len >= 9 && !memcmp(data, "HTTP/1.1 ", 9)) {
        if (T.saw_close) T.closed_after_close = true;
        if (memmem(data, len, "\r\nConnection: close\r\n", 21)) T.saw_close = true;
    }
    buf_add(&s->out, data, len);
}

void kl_stream_set_reading(kl_stream_t *s, bool on) {
    if (s->_closing || s->_reading == on) return;
    s->_reading = on;
    if (on && s->in.len) T.resume = true;
}

void kl_stream_resume(kl_stream_t *s) {
    if (!s->_closing) T.resume = true;
}

void kl_stream_set_deadline(kl_stream_t *s, uint64_t ms) {
    if (s->_closing || s->_finish) return;
    T.deadline = ms ? T.now + ms : 0;
}

void kl_stream_finish(kl_stream_t *s) {
    if (s->_closing || s->_finish) return;
    s->_finish = true;
    T.deadline = 0;
    T.resume = false;
}

void kl_stream_abort(kl_stream_t *s) {
    close_now(s);
    finalize(s);
}

void kl_shard_conn_closed(kl_shard_t *sh) { sh->conns--; }

/* stream.c's offer/deliver: on_data sees every unconsumed byte; what it leaves is kept */
static void offer(kl_stream_t *s) {
    s->_refs++;
    size_t used = s->cbs->on_data(s, s->in.base, s->in.len);
    s->_refs--;
    if (s->_closing) {
        finalize(s);
        return;
    }
    if (used >= s->in.len) buf_drop(&s->in);
    else {
        memmove(s->in.base, s->in.base + used, s->in.len - used);
        s->in.len -= used;
    }
}

/* One receive of n bytes from the socket queue (the kernel only hands them over while
 * keel reads). */
static void receive(kl_stream_t *s, size_t n) {
    if (T.closed || s->_closing || !s->_reading || T.sockq_len == 0) return;
    if (n > T.sockq_len) n = T.sockq_len;
    char *p = malloc(n); /* a provided buffer: owned by keel only during the call */
    if (!p) abort();
    memcpy(p, T.sockq, n);
    memmove(T.sockq, T.sockq + n, T.sockq_len - n);
    T.sockq_len -= n;
    if (s->_finish) { /* closing gracefully: input is discarded */
        free(p);
        return;
    }
    if (s->in.len == 0) {
        s->_refs++;
        size_t used = s->cbs->on_data(s, p, n);
        s->_refs--;
        if (!s->_closing && !s->_finish && used < n) buf_add(&s->in, p + used, n - used);
    } else {
        buf_add(&s->in, p, n);
        offer(s);
    }
    free(p);
    finalize(s);
}

static void peer_reads(kl_stream_t *s) {
    if (T.closed || s->_closing || s->out.len == 0) return;
    buf_drop(&s->out);
    s->_refs++;
    if (s->_finish) close_now(s); /* everything sent: the graceful close completes */
    else if (s->cbs->on_drain) s->cbs->on_drain(s);
    s->_refs--;
    finalize(s);
}

static void time_passes(kl_stream_t *s) {
    if (T.closed || !T.deadline || s->_closing) return;
    T.now = T.deadline;
    T.deadline = 0;
    s->_refs++;
    s->cbs->on_timeout(s);
    s->_refs--;
    finalize(s);
}

/* ---- the stand-in handlers -------------------------------------------------------------- */

static kl_request_t *deferred; /* answered on a later turn, as a database reply would be */

static void answer(kl_request_t *r) {
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"len\":%zu}", r->body.len);
    kl_respond(r, 200, "application/json", NULL, body, (size_t)n);
}

static void h_sync(kl_request_t *r, void *ctx) {
    (void)ctx;
    answer(r);
}

static void h_defer(kl_request_t *r, void *ctx) {
    (void)ctx;
    if (deferred) abort(); /* a connection answers strictly in order: one at a time */
    kl_request_defer(r);
    deferred = r;
}

static bool pre_auth(kl_request_t *r, void *ctx) {
    (void)ctx;
    if (kl_request_header(r, "authorization").len) return true;
    kl_respond_error(r, 401, "authentication required", "WWW-Authenticate: Bearer\r\n");
    return false;
}

int kl_dispatch_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow) {
    (void)as;
    if (r->path.len != 2 || r->path.base[0] != '/') return 404;
    if (!kl_str_eq(r->method, "GET") && !kl_str_eq(r->method, "POST") && !kl_str_eq(r->method, "HEAD")) {
        *allow = "GET, HEAD, POST";
        return 405;
    }
    switch (r->path.base[1]) {
    case 's': *h = (kl_handler_t){.fn = h_sync}; return 0;
    case 'd': *h = (kl_handler_t){.fn = h_defer, .takes_body = true, .max_body = 300}; return 0;
    case 'b': *h = (kl_handler_t){.fn = h_sync, .takes_body = true, .max_body = 100}; return 0;
    case 'a': *h = (kl_handler_t){.fn = h_sync, .precheck = pre_auth, .takes_body = true}; return 0;
    default: return 404;
    }
}

/* The admin listener (admin.c) would pull the database and the runtime into this driver:
 * its connections never come here, and the access log's route label is not under test. */
int kl_admin_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow) {
    return kl_dispatch_resolve(as, r, h, allow);
}

const char *kl_admin_slot_name(const kl_app_shard_t *as, int slot) {
    (void)as;
    (void)slot;
    return "fuzz";
}

/* ---- one connection --------------------------------------------------------------------- */

static kl_config_t cfg;
static kl_shard_t shard;
static kl_app_shard_t as;
static kl_http1_header_t hdrs[16];

static void setup(void) {
    cfg.header_timeout_ms = 1000;
    cfg.body_timeout_ms = 1000;
    cfg.keepalive_ms = 5000;
    cfg.max_headers = 16;
    cfg.max_head = 600;
    cfg.max_pending_out = 256;
    kl_recycler_init(&shard.recycler, 8192, 4);
    as.shard = &shard;
    as.cfg = &cfg;
    as.hdrs = hdrs;
    as.limits = (kl_http1_limits_t){.max_request_line = 200, .max_head = 600, .max_body = 1000};
    as.date_len = (size_t)snprintf(as.date, sizeof(as.date), "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n");
    snprintf(as.id_prefix, sizeof(as.id_prefix), "f-");
    kl_list_init(&as.conns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 2 || size - 2 > sizeof(T.sockq)) return 0;
    unsigned piece_max = data[0] % 64 + 1;
    uint32_t rng = (uint32_t)data[0] * 2654435761u + 1, events = data[1];
    memset(&T, 0, sizeof(T));
    T.now = 1000;
    T.max_in = as.limits.max_head + 2 * piece_max;
    memcpy(T.sockq, data + 2, size - 2);
    T.sockq_len = size - 2;
    shard.conns = 1;
    shard.now_ms = T.now;

    kl_http_conn_accept(&as, -1);
    kl_stream_t *s = T.s;
    for (unsigned turn = 0; turn < 4096 && !T.closed; turn++) {
        rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
        receive(s, rng % piece_max + 1);
        if (T.closed) break;
        /* while a request is busy (or reading is paused) input waits: it must stay bounded */
        if ((deferred || !s->_reading) && s->in.len > T.max_in) abort();
        unsigned ev = (events >> (turn % 8)) & 1 ? rng >> 8 : 0;
        if (ev % 3 == 1 && deferred) {
            kl_request_t *r = deferred;
            deferred = NULL;
            answer(r);
        }
        if (!T.closed && (ev % 5 == 2 || T.sockq_len == 0)) peer_reads(s);
        if (!T.closed && T.resume) {
            T.resume = false;
            if (s->_reading && s->in.len) offer(s);
        }
        if (!T.closed && ev % 7 == 3) time_passes(s);
        if (T.closed || (T.sockq_len == 0 && !deferred && !T.resume && s->out.len == 0)) break;
    }
    /* the client's FIN, then whatever is still pending is answered or times out */
    if (!T.closed && !s->_closing) {
        s->_refs++;
        if (!s->_finish) s->cbs->on_eof(s);
        s->_refs--;
        finalize(s);
    }
    if (deferred) {
        kl_request_t *r = deferred;
        deferred = NULL;
        answer(r); /* may be a request whose client is gone: only its memory is freed */
    }
    for (int i = 0; i < 64 && !T.closed; i++) {
        peer_reads(s);
        if (T.resume && !T.closed) {
            T.resume = false;
            if (s->_reading && s->in.len) offer(s);
        }
        if (deferred && !T.closed) {
            kl_request_t *r = deferred;
            deferred = NULL;
            answer(r);
        }
        if (!T.closed) time_passes(s);
    }
    if (!T.closed) kl_stream_abort(s);
    if (deferred) {
        kl_request_t *r = deferred;
        deferred = NULL;
        answer(r);
    }
    if (T.closed_after_close) abort(); /* a response after Connection: close */
    return 0;
}
