#include "app/http_conn.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/admin.h"
#include "app/clients.h"
#include "app/dispatch.h"
#include "app/respond.h"
#include "app/routes_gen.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stream.h"

typedef enum {
    ST_IDLE, /* between requests: keep-alive deadline (head deadline before the first) */
    ST_HEAD, /* part of a head received: head deadline (slowloris) */
    ST_BODY, /* head accepted, body arriving: body-idle deadline */
    ST_BUSY, /* a handler owns the request; later input waits, in order */
} conn_state_t;

struct kl_conn {
    kl_stream_t s;
    kl_app_shard_t *as;
    kl_list_t link;
    conn_state_t state;
    size_t last_len;        /* head bytes already scanned (incremental parse) */
    kl_arena_t arena;       /* everything of the current request */
    kl_request_t req;
    kl_handler_t handler;
    kl_http1_body_t body_kind;
    uint64_t body_left;     /* Content-Length bytes still to come */
    kl_http1_chunked_t chunked;
    char *body;             /* request body bytes (heap, grown as they arrive) */
    size_t body_len, body_cap;
    bool keep_alive;        /* this request allows another after it */
    bool body_unread;       /* the request has a body not read (yet): answering now closes */
    bool served_one;        /* a head was accepted: later heads get their own deadline */
    bool eof;               /* the peer half-closed: serve what arrived, then close */
    bool out_blocked;       /* stopped reading until the peer takes our output */
    bool in_blocked;        /* stopped reading while busy: enough input is waiting */
    kl_client_t client;     /* the peer, as the acceptor found it (clients.h) */
    bool admin;             /* accepted on the admin listener */
};

static size_t on_data(kl_stream_t *s, char *data, size_t len);
static void on_eof(kl_stream_t *s);
static void on_timeout(kl_stream_t *s);
static void on_drain(kl_stream_t *s);
/* How long a connection with no request yet is kept when a drain begins. */
#define DRAIN_FIRST_REQUEST_MS 1000
static void on_closed(kl_stream_t *s);

static const kl_stream_cbs_t cbs = {
    .on_data = on_data, .on_eof = on_eof, .on_timeout = on_timeout, .on_drain = on_drain, .on_closed = on_closed,
};

static void req_write(kl_request_t *r, const void *data, size_t len);
static void req_done(kl_request_t *r);
static bool req_keep_alive(const kl_request_t *r);

static const kl_request_ops_t req_ops = {.write = req_write, .done = req_done, .keep_alive = req_keep_alive};

static kl_conn_t *conn_of(kl_stream_t *s) { return kl_container_of(s, kl_conn_t, s); }

static void refuse_conn(kl_conn_t *c);

static kl_conn_t *conn_new(kl_app_shard_t *as, int fd, bool admin) {
    kl_client_t client = {.slot = -1};
    if (as->clients && !admin) kl_clients_take(as->clients, fd, &client);
    else if (as->cfg->access_log) /* the log's remoteAddress: one call per connection */
        kl_clients_peer_addr(fd, &client.addr); /* a peer already gone stays all zero */
    /* Low on memory (the emergency reserve is spent): no new connections until it is back. */
    kl_conn_t *c = kl_alloc_pressure() ? NULL : kl_trymalloc(sizeof(*c));
    if (!c) {
        if (as->clients) kl_clients_release(as->clients, &client);
        close(fd);
        kl_shard_conn_closed(as->shard);
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->as = as;
    c->client = client;
    kl_arena_init(&c->arena, &as->shard->recycler);
    kl_list_push(&as->conns, &c->link);
    kl_stream_init(&c->s, as->shard, fd, &cbs);
    c->state = ST_IDLE;
    /* The first request's head must arrive within the head deadline, counted from accept
     * (nginx's client_header_timeout): a connection that sends nothing is not "idle". */
    kl_stream_set_deadline(&c->s, (uint64_t)as->cfg->header_timeout_ms);
    c->admin = admin;
    return client.refused ? c : NULL;
}

void kl_http_conn_accept(kl_app_shard_t *as, int fd) {
    kl_conn_t *refused = conn_new(as, fd, false);
    if (refused) refuse_conn(refused);
}

void kl_http_conn_accept_admin(kl_app_shard_t *as, int fd) { conn_new(as, fd, true); }

/* Reading pauses while our output waits for the peer or enough input waits for the
 * request being served; it resumes when neither holds. */
static void update_reading(kl_conn_t *c) {
    kl_stream_set_reading(&c->s, !c->out_blocked && !c->in_blocked);
}

/* After the peer's FIN no request can start or complete beyond the pending input bytes:
 * close once nothing complete is left (unless our output must drain first, which resumes
 * us). */
static void finish_if_eof(kl_conn_t *c, size_t pending) {
    if (!c->eof || c->out_blocked || kl_stream_closing(&c->s)) return;
    if (c->state == ST_HEAD || (c->state == ST_IDLE && pending == 0)) kl_stream_finish(&c->s);
}

static void release_request(kl_conn_t *c) {
    kl_routes_release(c->as, c->req.routes);
    kl_free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    kl_arena_reset(&c->arena);
    memset(&c->req, 0, sizeof(c->req));
}

static void on_closed(kl_stream_t *s) {
    kl_conn_t *c = conn_of(s);
    kl_list_remove(&c->link);
    if (c->as->clients) kl_clients_release(c->as->clients, &c->client);
    c->client.slot = -1;
    if (c->state == ST_BUSY && c->req.deferred) {
        /* A query still refers to this request: free it when the answer arrives. */
        c->req.gone = true;
        return;
    }
    release_request(c);
    kl_free(c);
}

static void begin_request(kl_conn_t *c) {
    memset(&c->req, 0, sizeof(c->req));
    c->req.ops = &req_ops;
    c->req.conn = c;
    c->req.as = c->as;
    c->req.arena = &c->arena;
    c->req.peer = c->client.addr;
    c->req.admin = c->admin;
    c->req.mx_slot = c->admin ? KL_MX_SLOT_NONE : KL_MX_SLOT_UNMATCHED;
}

/* Answers a request the parser (or a deadline) rejected, then closes: after a framing
 * error nothing later on the connection can be trusted. */
static void reject(kl_conn_t *c, int status, const char *msg) {
    if (c->state != ST_BUSY || !c->req.conn) begin_request(c);
    c->state = ST_BUSY;
    c->keep_alive = false;
    c->as->stats.parse_errors++;
    kl_respond_error(&c->req, status, msg, NULL);
}

/* Over the per-address connection cap (clients.h): a 503 at once, before any request, then
 * a graceful close (the stream's lingering close takes in what the client sends meanwhile,
 * so the answer reaches it instead of a reset). */
static void refuse_conn(kl_conn_t *c) {
    begin_request(c);
    c->state = ST_BUSY;
    c->keep_alive = false;
    c->as->stats.conns_refused++;
    kl_respond_error(&c->req, 503, "too many open connections from this address", "Retry-After: 1\r\n");
}

static void dispatch(kl_conn_t *c) {
    c->state = ST_BUSY;
    c->body_unread = false;
    kl_stream_set_deadline(&c->s, 0);
    c->req.body = (kl_str_t){c->body, c->body_len};
    c->handler.fn(&c->req, c->handler.ctx);
    /* Not answered yet: the handler detached the request and answers later. */
}

/* A head has been parsed: fill the request, pick the handler, and either run it now or
 * prepare for the body. */
static void accept_head(kl_conn_t *c, const kl_http1_request_t *h) {
    kl_app_shard_t *as = c->as;
    begin_request(c);
    kl_request_t *r = &c->req;
    r->method = h->method;
    r->target = h->target;
    r->path = h->path;
    r->query = h->query;
    r->headers = h->headers;
    r->num_headers = h->num_headers;
    r->minor_version = h->minor_version;
    r->is_head = kl_str_eq(h->method, "HEAD");
    r->start_ns = kl_clock_ns();
    kl_respond_set_request_id(as, r, kl_request_header(r, "x-request-id"));
    c->keep_alive = h->keep_alive && !as->shard->draining;
    c->state = ST_BUSY;
    c->served_one = true;
    /* Whatever answers before the body is read closes the connection: the unread body
     * would be taken for the next request. */
    c->body_unread = h->body != KL_HTTP1_BODY_NONE;

    if (kl_alloc_pressure()) {
        /* An allocation failed and the reserve paid for it: shed work until it is back. */
        c->keep_alive = false;
        kl_respond_error(r, 503, "the server is low on memory", "Retry-After: 1\r\n");
        return;
    }
    const char *allow = NULL;
    int st = r->admin ? kl_admin_resolve(as, r, &c->handler, &allow) : kl_dispatch_resolve(as, r, &c->handler, &allow);
    if (st != 0) {
        if (st == 405) {
            char extra[192], msg[96];
            snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
            snprintf(msg, sizeof(msg), "%.*s is not allowed here; allowed: %s", (int)(r->method.len > 16 ? 16 : r->method.len),
                     r->method.base, allow);
            kl_respond_error(r, 405, msg, extra);
        } else {
            kl_respond_error(r, 404, "Route not found", NULL);
        }
        return;
    }
    if (h->body != KL_HTTP1_BODY_NONE) {
        /* Refused before a byte of it is buffered: no body where none is taken, none over
         * the route's limit (chunked bodies are held to it as they arrive). */
        uint64_t limit = as->limits.max_body;
        if (c->handler.max_body && c->handler.max_body < limit) limit = c->handler.max_body;
        if (!c->handler.takes_body) {
            kl_respond_error(r, 413, "this route takes no request body", NULL);
            return;
        }
        if (h->body == KL_HTTP1_BODY_LENGTH && h->content_length > limit) {
            kl_respond_error(r, 413, "request body is larger than this route accepts", NULL);
            return;
        }
        c->body_kind = h->body;
        c->body_len = 0;
        c->body_left = h->body == KL_HTTP1_BODY_LENGTH ? h->content_length : 0;
        memset(&c->chunked, 0, sizeof(c->chunked));
        c->chunked.max_body = limit;
    }
    /* Checks that need no body (authentication) run before it is read, and before a
     * 100 Continue invites it. */
    if (c->handler.precheck && !c->handler.precheck(r, c->handler.ctx)) return;
    if (h->body == KL_HTTP1_BODY_NONE) {
        dispatch(c); /* zero-copy: the handler reads straight from the receive buffer */
        return;
    }
    if (h->expect_continue) { /* the parser ignores it on HTTP/1.0 */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        kl_stream_write(&c->s, cont, sizeof(cont) - 1);
    }
    /* Memory follows the bytes that actually arrive: a client announcing 1 MiB and sending
     * nothing costs nothing. The head's bytes are consumed before the body completes. */
    kl_request_detach(r);
    c->state = ST_BODY;
    kl_stream_set_deadline(&c->s, (uint64_t)as->cfg->body_timeout_ms);
}

/* Returns bytes consumed; 0 with state ST_HEAD means "need more". */
static size_t take_head(kl_conn_t *c, char *p, size_t n) {
    kl_app_shard_t *as = c->as;
    kl_http1_request_t h;
    memset(&h, 0, sizeof(h));
    h.headers = as->hdrs;
    h.num_headers = (size_t)as->cfg->max_headers;
    int r = kl_http1_parse_request(p, n, c->last_len, &as->limits, &h);
    if (r == KL_HTTP1_INCOMPLETE) {
        c->last_len = n;
        return 0;
    }
    c->last_len = 0;
    if (r == KL_HTTP1_ERROR) {
        reject(c, h.status, h.error);
        return n;
    }
    accept_head(c, &h);
    return (size_t)r;
}

/* Appends to the request body; capacity doubles but never past limit (the announced
 * Content-Length, or the body limit for chunked bodies). */
static bool body_append(kl_conn_t *c, const char *p, size_t n, size_t limit) {
    if (n == 0) return true;
    if (c->body_cap - c->body_len < n) {
        size_t cap = c->body_cap ? c->body_cap * 2 : 4096;
        while (cap - c->body_len < n) cap *= 2;
        if (cap > limit && limit >= c->body_len + n) cap = limit;
        char *b = kl_tryrealloc(c->body, cap);
        if (!b) return false; /* out of memory: this request fails, the process goes on */
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    return true;
}

static size_t take_body(kl_conn_t *c, char *p, size_t n) {
    kl_stream_set_deadline(&c->s, (uint64_t)c->as->cfg->body_timeout_ms);
    if (c->body_kind == KL_HTTP1_BODY_LENGTH) {
        size_t m = n < c->body_left ? n : (size_t)c->body_left;
        if (!body_append(c, p, m, c->body_len + (size_t)c->body_left)) {
            reject(c, 503, "out of memory for the request body");
            return n;
        }
        c->body_left -= m;
        if (c->body_left == 0) dispatch(c);
        return m;
    }
    size_t dl = n;
    ssize_t left = kl_http1_decode_chunked(&c->chunked, p, &dl);
    if (left == KL_HTTP1_ERROR) {
        reject(c, c->chunked.status, c->chunked.error);
        return n;
    }
    if (!body_append(c, p, dl, (size_t)c->chunked.max_body)) {
        reject(c, 503, "out of memory for the request body");
        return n;
    }
    if (left == KL_HTTP1_INCOMPLETE) return n;
    /* The decoder left the next request's bytes at p + dl; put them back at the end of the
     * input so the caller's "consumed" arithmetic stays true. */
    memmove(p + n - (size_t)left, p + dl, (size_t)left);
    dispatch(c);
    return n - (size_t)left;
}

static size_t on_data(kl_stream_t *s, char *data, size_t len) {
    kl_conn_t *c = conn_of(s);
    size_t off = 0;
    while (off < len && !kl_stream_closing(s)) {
        if (c->state == ST_BUSY) break; /* answered strictly in order */
        if (kl_stream_unsent(s) > (size_t)c->as->cfg->max_pending_out) {
            /* The peer is not reading our answers: stop taking requests until it does. */
            c->out_blocked = true;
            update_reading(c);
            break;
        }
        if (c->state == ST_IDLE) {
            c->state = ST_HEAD;
            c->last_len = 0;
            /* the first head's deadline runs from accept */
            if (c->served_one) kl_stream_set_deadline(s, (uint64_t)c->as->cfg->header_timeout_ms);
        }
        size_t used;
        if (c->state == ST_HEAD) {
            used = take_head(c, data + off, len - off);
            if (used == 0) break;
        } else {
            used = take_body(c, data + off, len - off);
        }
        off += used;
    }
    if (c->state == ST_BUSY && !c->in_blocked && len - off > c->as->limits.max_head) {
        /* Pipelined bytes pile up behind a busy request: stop reading until it is answered,
         * so a client cannot grow our input beyond about one head (plus what the kernel had
         * already received when the receive was cancelled). */
        c->in_blocked = true;
        update_reading(c);
    }
    finish_if_eof(c, len - off);
    return off;
}

/* The request's response is queued (kl_respond*). */
static void req_done(kl_request_t *r) {
    kl_conn_t *c = r->conn;
    kl_app_shard_t *as = c->as;
    bool gone = r->gone, keep = req_keep_alive(r);
    as->stats.requests++;
    release_request(c);
    if (gone) { /* the stream was closed and finalized meanwhile: only this memory is left */
        kl_free(c);
        return;
    }
    c->state = ST_IDLE;
    c->body_unread = false;
    if (!keep) {
        kl_stream_finish(&c->s);
        return;
    }
    kl_stream_set_deadline(&c->s, (uint64_t)as->cfg->keepalive_ms);
    if (c->in_blocked) {
        c->in_blocked = false;
        update_reading(c); /* also offers what is buffered */
    }
    kl_stream_resume(&c->s); /* pipelined requests already buffered */
    finish_if_eof(c, kl_stream_buffered(&c->s));
}

static void on_eof(kl_stream_t *s) {
    kl_conn_t *c = conn_of(s);
    c->eof = true;
    if (c->state == ST_BODY) {
        kl_stream_abort(s); /* the body can never complete */
        return;
    }
    /* Busy: the answer goes out, then what was pipelined behind it (req_done). */
    finish_if_eof(c, kl_stream_buffered(s));
}

static void on_timeout(kl_stream_t *s) {
    kl_conn_t *c = conn_of(s);
    c->as->stats.timeouts++;
    switch (c->state) {
    case ST_IDLE: /* between requests, or nothing sent since accept: close without a word */
        kl_stream_finish(s);
        break;
    case ST_HEAD:
        c->state = ST_BUSY;
        reject(c, 408, "request head not received in time");
        break;
    case ST_BODY:
        c->state = ST_BUSY;
        reject(c, 408, "request body stalled");
        break;
    case ST_BUSY:
        break;
    }
}

static void on_drain(kl_stream_t *s) {
    kl_conn_t *c = conn_of(s);
    if (c->out_blocked) {
        c->out_blocked = false;
        update_reading(c);
    }
}

void kl_http_conn_drain_all(kl_app_shard_t *as) {
    for (kl_list_t *n = as->conns.next, *next; n != &as->conns; n = next) {
        next = n->next;
        kl_conn_t *c = kl_container_of(n, kl_conn_t, link);
        if (c->state == ST_IDLE && c->served_one) {
            kl_stream_finish(&c->s); /* between requests: a client retries on a new connection */
        } else {
            c->keep_alive = false;
            /* Accepted, nothing read yet: its first request is likely on its way (a new
             * connection is not retried by clients the way a reused one is), so it gets a
             * moment to arrive and an answer, not a close. */
            if (c->state == ST_IDLE) kl_stream_set_deadline(&c->s, DRAIN_FIRST_REQUEST_MS);
        }
    }
}

void kl_http_conn_abort_all(kl_app_shard_t *as) {
    for (kl_list_t *n = as->conns.next, *next; n != &as->conns; n = next) {
        next = n->next;
        kl_stream_abort(&kl_container_of(n, kl_conn_t, link)->s);
    }
}

static void req_write(kl_request_t *r, const void *data, size_t len) { kl_stream_write(&r->conn->s, data, len); }

static bool req_keep_alive(const kl_request_t *r) {
    const kl_conn_t *c = r->conn;
    return c->keep_alive && !c->body_unread && !r->as->shard->draining;
}
