#include "app/db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "proto/json.h"
#include "proto/sqlstate.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_DEADLINE_MS 5000
#define RESPONSE_SLACK_MS 3000 /* beyond statement_timeout before a silent server is given up
                                  (db.h states it) */
#define MAX_RETRIES 3          /* serialization failures / deadlocks */
#define MAX_RESENDS 1          /* sent again after a neighbour's failure aborted it: alone,
                                  nothing else can abort it, so once is enough */
#define COST_INIT_US 1000      /* a statement's cost before its first answer */
#define COST_MAX_US 60000000u  /* samples are clamped here: a stall is not a cost model */
#define BATCH_PAUSE_MS 1000   /* a statement runs unbatched this long after a batch of it was refused */
#define SHED_INTERVAL_MS 100   /* how long waits must stand above the target before shedding (CoDel's interval) */
#define DB_DROP_LIMIT 1         /* kl_db_query_t._dropped: its rows passed max_answer */
#define DB_DROP_NOMEM 2         /* libpq could not grow its result: 503 */
#define TIMEOUT_STMT "keel_set_timeout"
#define NOTIFY_STMT "keel_notify"

typedef enum { C_DOWN, C_CONNECTING, C_PREPARING, C_READY } cstate_t;

/* One poll SQE in the kernel. Heap-allocated so that a completion arriving after its
 * connection was reset (different generation) is recognised and dropped. */
typedef struct {
    kl_io_t io;
    kl_db_conn_t *c;
    unsigned gen;
    short mask;
    kl_list_t link;
} db_poll_t;

struct kl_db_conn {
    kl_db_t *db;
    int idx;
    PGconn *pg;
    int fd;
    cstate_t state;
    unsigned gen;            /* bumped on every reset: older polls are stale */
    db_poll_t *rpoll, *wpoll;
    kl_list_t flush_link;
    kl_list_t inflight;      /* sent queries, answered in this order */
    int depth;
    int seg_open;            /* groupable queries sent since the last Sync (the open segment) */
    bool head_open;          /* the oldest query is in the open segment: re-arm when it closes */
    kl_db_query_t *read_last; /* last query whose results are all read, its Sync not yet; NULL:
                                 the oldest query's results come next */
    uint64_t cost_us;        /* summed statement costs of the queries in flight */
    uint64_t head_ms, head_ns; /* when the oldest segment became the oldest */
    int prep_syncs;          /* syncs still expected while preparing */
    int prep_idx;            /* statement whose prepare result comes next */
    int nprep;               /* the config's statements [0, nprep) are prepared here */
    bool catching_up;        /* preparing what a reload appended (kl_db_set_stmts) while live */
    kl_timer_t timer;        /* reconnect backoff, or connect deadline */
    int backoff_ms;
    bool logged_down;
};

struct kl_db {
    kl_shard_t *sh;
    kl_db_config_t cfg;
    kl_db_conn_t *conns;
    kl_list_t waitq;
    int waiting;
    kl_list_t batchq;        /* batchable queries submitted this tick: kl_db_flush runs them */
    uint64_t *batch_off;     /* per batch form: not used until this shard time (ms); UINT64_MAX
                                once it failed to prepare, a while after a batch was refused */
    kl_list_t flush_list;
    kl_list_t polls;         /* every db_poll_t in the kernel */
    _Atomic int live;
    _Atomic int broken;      /* a route's statement failed to prepare */
    kl_db_stats_t stats;
    uint32_t *cost_us;       /* per statement: moving average of time in service per query */
    void *ctx;               /* for the config's callbacks */
    uint64_t above_until;    /* shedding starts if waits stay above the target until then; 0: they are not */
    bool shedding;           /* waits stood above the target for a whole interval */
    bool stopping;
};

static void drive(kl_db_conn_t *c);
static void reset(kl_db_conn_t *c, const char *why);
static void pump(kl_db_t *db);

static void poll_cb(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    (void)sh;
    (void)cqe;
    db_poll_t *p = kl_container_of(io, db_poll_t, io);
    kl_db_conn_t *c = p->c;
    kl_list_remove(&p->link);
    bool current = p->gen == c->gen;
    if (current) {
        if (p->mask & POLLIN) c->rpoll = NULL;
        else c->wpoll = NULL;
    }
    kl_free(p);
    if (current) drive(c);
}

static db_poll_t *arm(kl_db_conn_t *c, short mask) {
    db_poll_t *p = kl_malloc(sizeof(*p));
    p->io.cb = poll_cb;
    p->c = c;
    p->gen = c->gen;
    p->mask = mask;
    kl_list_push(&c->db->polls, &p->link);
    struct io_uring_sqe *sqe = kl_shard_sqe(c->db->sh);
    io_uring_prep_poll_add(sqe, c->fd, (unsigned)mask);
    io_uring_sqe_set_data(sqe, &p->io);
    return p;
}

static void want_read(kl_db_conn_t *c) {
    if (!c->rpoll) c->rpoll = arm(c, POLLIN);
}

static void want_write(kl_db_conn_t *c) {
    if (!c->wpoll) c->wpoll = arm(c, POLLOUT);
}

static void cancel_polls(kl_db_conn_t *c) {
    db_poll_t *ps[2] = {c->rpoll, c->wpoll};
    for (int i = 0; i < 2; i++) {
        if (!ps[i]) continue;
        struct io_uring_sqe *sqe = kl_shard_sqe(c->db->sh);
        io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&ps[i]->io);
        io_uring_sqe_set_data(sqe, NULL);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }
    c->rpoll = c->wpoll = NULL;
    c->gen++;
}

static void mark_flush(kl_db_conn_t *c) {
    if (!kl_list_linked(&c->flush_link)) kl_list_push(&c->db->flush_list, &c->flush_link);
}

/* ---- finishing queries ---------------------------------------------------------- */

static void batch_done(kl_db_query_t *q);

/* A batch execution is not a query of its own in the metrics: its queries are (batch_done). */
static void ended(kl_db_t *db, const kl_db_query_t *q, bool answered) {
    if (db->cfg.on_end && q->done != batch_done) db->cfg.on_end(db->ctx, q, answered);
}

static void fail(kl_db_query_t *q, int status, const char *msg) {
    kl_db_t *db = q->_db;
    kl_wheel_del(&db->sh->wheel, &q->_timer);
    if (q->res) PQclear(q->res);
    q->res = NULL;
    q->status = status;
    q->message = msg;
    q->_conn = NULL;
    q->_alone = false;
    q->_resent = 0;
    q->rows = 0;
    db->stats.errors++;
    ended(db, q, false);
    q->done(q);
}

static void send_query(kl_db_conn_t *c, kl_db_query_t *q);

/* Answers come in order, a segment's all at its Sync, and PostgreSQL starts a statement's
 * timeout only when it starts executing it: only the oldest unanswered segment of a
 * connection has a response deadline (on its first query's timer), the sum of its
 * statements' timeouts plus slack, counted from when it became the oldest (its send, or the
 * answer to the segment ahead). A query queued behind a slow neighbour therefore never times
 * out for waiting, while a silent server is still noticed when the head's deadline passes.
 * While the oldest segment is still open, it is armed again when it closes. */
static void arm_head(kl_db_conn_t *c) {
    if (kl_list_empty(&c->inflight)) return;
    kl_db_t *db = c->db;
    kl_db_query_t *h = kl_container_of(c->inflight.next, kl_db_query_t, _link);
    uint64_t budget = RESPONSE_SLACK_MS;
    bool closed = false;
    for (kl_list_t *n = c->inflight.next; n != &c->inflight && !closed; n = n->next) {
        kl_db_query_t *q = kl_container_of(n, kl_db_query_t, _link);
        budget += (uint64_t)(q->timeout_ms > 0 ? q->timeout_ms : db->cfg.statement_timeout_ms);
        closed = q->_seg_end;
    }
    c->head_open = !closed;
    kl_wheel_add(&db->sh->wheel, &h->_timer, c->head_ms + budget);
}

/* Reads q's results row by row from here on when they are the ones libpq parses next: q's
 * own statement (nothing in front of it left to read) and none of its rows read yet. libpq
 * refuses (0) when its next results are another's (a Sync, an aborted query), which is then
 * harmless; the caller calls this only where libpq's next command is q's (db.h, "Answers
 * held"). */
static void arm_rows(kl_db_conn_t *c, kl_db_query_t *q) {
    if (q && q->capped && c->pg && c->db->cfg.max_answer && (q->rows_max == 0 || q->rows_max > KL_DB_WHOLE_ROWS) &&
        q->_skip == 0 && !q->res && !q->_aborted && !q->_dropped)
        PQsetSingleRowMode(c->pg);
}

/* One row of q's results, read row by row: kept (the first as q's result, the others appended
 * to a copy of it, unless q answers with its first row only) while q's rows stay within
 * max_answer and memory allows, else dropped, with what was held. */
static void take_row(kl_db_t *db, kl_db_query_t *q, PGresult *r) {
    if (q->first_row && q->res) { /* its answer has it (sql_answer.h): the rest never counts */
        PQclear(r);
        return;
    }
    int cols = PQnfields(r);
    size_t bytes = 16 * (size_t)cols;
    for (int i = 0; i < cols; i++) bytes += (size_t)PQgetlength(r, 0, i);
    q->_held += bytes;
    if (!q->_dropped && q->_held > db->cfg.max_answer) q->_dropped = DB_DROP_LIMIT;
    if (!q->_dropped && q->res && PQresultStatus(q->res) == PGRES_SINGLE_TUPLE) {
        /* The rows go into a copy of the first, made without the connection's notice hooks:
         * PQsetvalue reports its own out of memory as a notice, which would read as the
         * database's. A request keel runs out of memory for is a 503, as elsewhere. */
        PGresult *acc = PQcopyResult(q->res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
        if (!acc) q->_dropped = DB_DROP_NOMEM;
        PQclear(q->res);
        q->res = acc;
    }
    int row = q->res ? PQntuples(q->res) : 0;
    for (int i = 0; i < cols && q->res && !q->_dropped; i++) {
        bool null = PQgetisnull(r, 0, i);
        /* PQsetvalue copies the value into q->res; 0 is libpq out of memory */
        if (!PQsetvalue(q->res, row, i, null ? NULL : PQgetvalue(r, 0, i), null ? -1 : PQgetlength(r, 0, i)))
            q->_dropped = DB_DROP_NOMEM;
    }
    if (q->_dropped && q->res) {
        PQclear(q->res);
        q->res = NULL;
    }
    if (!q->_dropped && !q->res) {
        q->res = r; /* the first row: its result holds the rest */
        return;
    }
    PQclear(r);
}

/* Takes the oldest query off its connection and answers it (or sends it again: a retryable
 * SQLSTATE, or aborted by a neighbour's failure). The caller re-arms the head. */
static void complete(kl_db_conn_t *c, kl_db_query_t *q, uint64_t now_ns) {
    kl_db_t *db = c->db;
    kl_list_remove(&q->_link);
    c->depth--;
    c->cost_us -= q->_cost_us;
    kl_wheel_del(&db->sh->wheel, &q->_timer);
    q->_conn = NULL;
    q->duration_us = (now_ns - q->_sent_ns) / 1000;
    if (q->_aborted) { /* a neighbour failed ahead of it in its segment: never its fault */
        q->_aborted = false;
        if (q->res) PQclear(q->res);
        q->res = NULL;
        if (q->_resent < MAX_RESENDS) {
            q->_resent++;
            q->_alone = true;
            db->stats.resent++;
            kl_db_submit(db, q);
            return;
        }
        fail(q, 503, "the query was aborted by PostgreSQL; try again");
        return;
    }
    PGresult *r = q->res;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    q->sqlstate[0] = '\0';
    q->row0 = q->rows = q->cols = 0;
    if (q->_dropped && (!r || st != PGRES_FATAL_ERROR)) { /* PostgreSQL's own error still wins */
        if (r) PQclear(r);
        q->res = r = NULL;
        bool limit = q->_dropped == DB_DROP_LIMIT; /* else out of memory: 503, as keel's own (sql_answer.h) */
        if (limit) snprintf(q->sqlstate, sizeof(q->sqlstate), "54000");
        q->status = limit ? 500 : 503;
        q->message = limit ? "the answer is larger than KEEL_MAX_ANSWER" : "the server is low on memory";
        db->stats.errors++;
    } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_SINGLE_TUPLE) {
        q->status = 0;
        q->rows = PQntuples(r);
        q->cols = PQnfields(r);
    } else {
        const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (ss) snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", ss);
        int http = kl_sqlstate_http(q->sqlstate);
        if (http == KL_SQLSTATE_RETRY && q->_retries < MAX_RETRIES) {
            q->_retries++;
            if (r) PQclear(r);
            q->res = NULL;
            kl_db_submit(db, q);
            return;
        }
        q->status = http == KL_SQLSTATE_RETRY ? 503 : http;
        const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        q->message = m ? m : "database error";
        db->stats.errors++;
    }
    db->stats.queries++;
    ended(db, q, true);
    if (db->cfg.slow_ms > 0 && q->duration_us >= (uint64_t)db->cfg.slow_ms * 1000) {
        char label[256];
        const char *l = q->stmt >= 0 ? db->cfg.stmts[q->stmt].label : "keel: notify";
        kl_json_escape(label, sizeof(label), l, strlen(l));
        db->stats.slow++;
        kl_log(KL_LOG_WARN, "slow query", "\"route\":\"%s\",\"durationMs\":%.1f,\"sqlstate\":\"%s\",\"shard\":%d", label,
               (double)q->duration_us / 1000.0, q->sqlstate, db->sh->id);
    }
    q->_alone = false;
    q->_resent = 0;
    q->done(q);
    if (r) PQclear(r);
}

/* The Sync of the oldest segment arrived: answers its queries in order, and learns their
 * statements' cost, the segment's time as the oldest shared among its queries. */
static void finish_segment(kl_db_conn_t *c) {
    kl_db_t *db = c->db;
    uint64_t now = kl_clock_ns();
    c->read_last = NULL;
    uint64_t n = 0;
    for (kl_list_t *l = c->inflight.next; l != &c->inflight; l = l->next) {
        n++;
        if (kl_container_of(l, kl_db_query_t, _link)->_seg_end) break;
    }
    uint64_t per = n ? (now - c->head_ns) / 1000 / n : 0;
    if (per > COST_MAX_US) per = COST_MAX_US;
    bool end = false;
    while (!end && c->pg && !kl_list_empty(&c->inflight)) {
        kl_db_query_t *q = kl_container_of(c->inflight.next, kl_db_query_t, _link);
        end = q->_seg_end;
        if (q->stmt >= 0) { /* moving average, 1/8 per sample; a bare NOTIFY has no statement */
            uint32_t *cost = &db->cost_us[q->stmt];
            *cost = (uint32_t)(((uint64_t)*cost * 7 + per) / 8);
        }
        complete(c, q, now);
    }
    if (!c->pg || kl_list_empty(&c->inflight)) return;
    c->head_ms = db->sh->now_ms; /* the next segment's turn starts now */
    c->head_ns = now;
    arm_head(c);
}

static void timer_cb(kl_timer_t *t) {
    kl_db_query_t *q = kl_container_of(t, kl_db_query_t, _timer);
    kl_db_t *db = q->_db;
    if (!q->_conn) { /* still waiting for a connection */
        kl_list_remove(&q->_link);
        db->waiting--;
        db->stats.timeouts_acquire++;
        if (db->cfg.on_wait) db->cfg.on_wait(db->ctx, (uint64_t)db->cfg.acquire_ms);
        fail(q, 503, "no database connection became available in time");
        return;
    }
    /* The oldest query of its connection, unanswered well past its statement_timeout: the
     * server or the network is gone. Drop the connection; everything on it fails with 503. */
    reset(q->_conn, "no response from the database");
}

/* ---- connection lifecycle ------------------------------------------------------- */

static void conn_start(kl_db_conn_t *c);

static void retry_cb(kl_timer_t *t) {
    kl_db_conn_t *c = kl_container_of(t, kl_db_conn_t, timer);
    if (c->state == C_CONNECTING) reset(c, "connect timed out");
    else if (c->state == C_DOWN && !c->db->stopping) conn_start(c);
}

static void close_pg(kl_db_conn_t *c) {
    cancel_polls(c);
    /* Submit the poll removals before libpq closes the fd, so no queued SQE can name a
     * number the kernel might hand to another socket. */
    io_uring_submit(&c->db->sh->ring);
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    c->fd = -1;
    kl_list_remove(&c->flush_link);
}

static void reset(kl_db_conn_t *c, const char *why) {
    kl_db_t *db = c->db;
    if (c->state == C_READY || c->catching_up) atomic_fetch_sub_explicit(&db->live, 1, memory_order_relaxed);
    c->catching_up = false;
    char err[512] = "";
    if (c->pg) kl_json_escape(err, sizeof(err), PQerrorMessage(c->pg), strcspn(PQerrorMessage(c->pg), "\n"));
    if (!c->logged_down) {
        kl_log(KL_LOG_ERROR, "database connection down", "\"shard\":%d,\"conn\":%d,\"reason\":\"%s\",\"error\":\"%s\"",
               db->sh->id, c->idx, why, err);
        c->logged_down = true;
    }
    close_pg(c);
    c->state = C_DOWN;
    kl_list_t *n;
    while ((n = kl_list_shift(&c->inflight)) != NULL) {
        kl_db_query_t *q = kl_container_of(n, kl_db_query_t, _link);
        c->depth--;
        fail(q, 503, "database connection lost");
    }
    c->depth = 0;
    c->seg_open = 0;
    c->head_open = false;
    c->read_last = NULL;
    c->cost_us = 0;
    if (db->stopping) return;
    db->stats.reconnects++;
    kl_wheel_add(&db->sh->wheel, &c->timer, db->sh->now_ms + (uint64_t)c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* The query whose results the server sends next, NULL when none is in flight: the one after
 * the last one read. In a segment of several, that runs ahead of the oldest, which is
 * answered only at the Sync. */
static kl_db_query_t *next_to_read(const kl_db_conn_t *c) {
    const kl_list_t *at = c->read_last ? c->read_last->_link.next : c->inflight.next;
    return at == &c->inflight ? NULL : kl_container_of(at, kl_db_query_t, _link);
}

/* A NOTICE or WARNING from the server (a RAISE in a route's function, say) becomes a log line
 * of keel's own. libpq's default receiver would fprintf it to stderr: not JSON, and a
 * blocking write from the shard's thread, which a stderr nobody reads stalls (log.h). c is
 * NULL on a startup or reload check's connection; on a shard's, the query whose results
 * come next is the one that was running when the server sent it. */
static void on_notice(void *arg, const PGresult *r) {
    const kl_db_conn_t *c = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const kl_db_query_t *q = c && c->state == C_READY ? next_to_read(c) : NULL;
    const char *label = q && q->stmt >= 0 ? c->db->cfg.stmts[q->stmt].label : NULL;
    char m[1024], s[32], l[256] = "", w[32] = "";
    kl_json_escape(m, sizeof(m), msg ? msg : "", msg ? strlen(msg) : 0);
    kl_json_escape(s, sizeof(s), sev ? sev : "NOTICE", strlen(sev ? sev : "NOTICE"));
    if (label) kl_json_escape(l, sizeof(l), label, strlen(label));
    if (c) snprintf(w, sizeof(w), "%d", c->db->sh->id);
    kl_log(sev && !strcmp(sev, "WARNING") ? KL_LOG_WARN : KL_LOG_INFO, "database notice",
           "\"severity\":\"%s\",\"message\":\"%s\",\"sqlstate\":\"%.5s\",\"route\":%s%s%s,\"shard\":%s", s, m,
           code ? code : "", label ? "\"" : "", label ? l : "null", label ? "\"" : "", c ? w : "null");
}

static void conn_start(kl_db_conn_t *c) {
    kl_db_t *db = c->db;
    /* Nothing after "dbname" may name a setting the conninfo can hold: libpq's last value
     * wins, and DATABASE_URL's own (options, application_name ...) must reach the pool as
     * they reached the startup check. statement_timeout is set once connected instead. */
    /* TCP keepalives first, so that DATABASE_URL may override them: a server that vanished
     * without a FIN (a partition, a dead host) is noticed within about 25 s even on an idle
     * connection, which then reconnects and evicts (NOTIFY loss, db.h). */
    /* client_encoding comes after it on purpose: every answer is sent as UTF-8 JSON, so text
     * must reach keel in UTF-8 whatever the database's encoding or the URL says (PostgreSQL
     * converts; a SQL_ASCII database's bytes pass as they are stored). */
    const char *kw[] = {"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname",
                        "fallback_application_name", "client_encoding", NULL};
    const char *val[] = {"10", "5", "3", db->cfg.conninfo, "keel", "UTF8", NULL};
    /* Non-blocking from here on, except that a host *name* is resolved synchronously by
     * libpq: use an address or a unix socket directory in DATABASE_URL. */
    c->pg = PQconnectStartParams(kw, val, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        reset(c, "cannot start connecting");
        return;
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->fd = PQsocket(c->pg);
    c->state = C_CONNECTING;
    kl_wheel_add(&db->sh->wheel, &c->timer, db->sh->now_ms + CONNECT_DEADLINE_MS);
    want_write(c); /* libpq: before the first PQconnectPoll, act as if it said WRITING */
}

/* PostgreSQL plans a prepared statement afresh at each of its first five executions, then
 * keeps its generic plan only while that is estimated cheaper than those custom plans were on
 * average. A batch form's generic plan assumes 10 elements (unnest of a parameter) and its
 * custom plans count the real ones, so a connection whose first batches were small (light
 * traffic: 2 or 3 lookups) re-plans every batch for good: 62 us of planning per batch, and
 * by-id at 50 connections after 8 s of such traffic ran at 0.77x (bench_db_segments.sh,
 * light_first). Planning it five times for PRIME_ELEMS elements, with EXPLAIN EXECUTE (which
 * plans and does not run), settles it on the generic plan at the sixth execution. Little is
 * lost by that: the elements reach the statement as a column of unnest, never as constants,
 * so a custom plan differs from the generic one only in the element count it assumes (the
 * batch's 2 to 64 against 10). */
#define PRIME_PLANS 5               /* PostgreSQL's count of custom plans before it compares */
#define PRIME_ELEMS KL_DB_BATCH_MAX /* any count well above the generic plan's 10 would do */

static void prime_batch_plan(kl_db_conn_t *c, const kl_db_stmt_t *s) {
    char arg[48];
    int alen = snprintf(arg, sizeof(arg), "array_fill(NULL::text, ARRAY[%d])", PRIME_ELEMS);
    size_t len = sizeof("EXPLAIN EXECUTE ()") + strlen(s->name) + (size_t)s->nparams * ((size_t)alen + 1);
    char *sql = kl_trymalloc(len);
    if (!sql) return; /* only the plan cache's choice is at stake */
    size_t n = (size_t)snprintf(sql, len, "EXPLAIN EXECUTE %s(", s->name);
    for (int k = 0; k < s->nparams; k++) n += (size_t)snprintf(sql + n, len - n, "%s%s", k ? "," : "", arg);
    snprintf(sql + n, len - n, ")");
    for (int i = 0; i < PRIME_PLANS; i++) PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0);
    kl_free(sql);
}

/* Statement i's Prepare (and a batch form's priming, whose failure counts as the batch form's),
 * closed by its own Sync: a statement that fails to prepare aborts nothing else. */
static void send_prepare(kl_db_conn_t *c, int i) {
    const kl_db_stmt_t *s = &c->db->cfg.stmts[i];
    PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL);
    if (s->optional && s->nparams > 0 && c->db->cfg.batch_max > 1) prime_batch_plan(c, s);
    PQpipelineSync(c->pg);
}

static void on_connected(kl_db_conn_t *c) {
    kl_db_t *db = c->db;
    kl_wheel_del(&db->sh->wheel, &c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        reset(c, "cannot enter pipeline mode");
        return;
    }
    /* The connection's statement_timeout, as a session setting on top of whatever the
     * conninfo's options or PGOPTIONS set (keel's wins); first, so that it bounds the
     * prepares too. */
    char ms[24];
    snprintf(ms, sizeof(ms), "%d", db->cfg.statement_timeout_ms);
    const char *v[1] = {ms};
    PQsendQueryParams(c->pg, "SELECT set_config('statement_timeout', $1, false)", 1, NULL, v, NULL, NULL, 0);
    PQpipelineSync(c->pg);
    for (int i = 0; i < db->cfg.nstmts; i++) send_prepare(c, i);
    PQsendPrepare(c->pg, TIMEOUT_STMT, "SELECT set_config('statement_timeout', $1, true)", 1, NULL);
    PQpipelineSync(c->pg);
    PQsendPrepare(c->pg, NOTIFY_STMT, "SELECT pg_notify('" KL_DB_CHANNEL "', $1)", 1, NULL);
    PQpipelineSync(c->pg);
    PQsendQueryParams(c->pg, "LISTEN " KL_DB_CHANNEL, 0, NULL, NULL, NULL, NULL, 0);
    PQpipelineSync(c->pg);
    c->prep_syncs = db->cfg.nstmts + 4;
    c->prep_idx = -1; /* the set_config's sync comes first */
    c->nprep = db->cfg.nstmts;
    c->state = C_PREPARING;
    mark_flush(c);
    want_read(c);
}

static void connect_step(kl_db_conn_t *c) {
    int fd = PQsocket(c->pg);
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    if (PQsocket(c->pg) != fd) cancel_polls(c); /* libpq moved to another socket */
    c->fd = PQsocket(c->pg);
    switch (st) {
    case PGRES_POLLING_READING: want_read(c); break;
    case PGRES_POLLING_WRITING: want_write(c); break;
    case PGRES_POLLING_OK: on_connected(c); break;
    default: reset(c, "connect failed");
    }
}

static void read_prepare_results(kl_db_conn_t *c) {
    kl_db_t *db = c->db;
    int nulls = 0;
    while (c->prep_syncs > 0 && !PQisBusy(c->pg) && nulls < 2) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            nulls++;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            c->prep_syncs--;
            c->prep_idx++;
        } else if (st == PGRES_FATAL_ERROR && c->prep_idx >= 0 && c->prep_idx < db->cfg.nstmts) {
            char msg[512], label[256];
            const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            kl_json_escape(msg, sizeof(msg), m ? m : "?", m ? strlen(m) : 1);
            const char *l = db->cfg.stmts[c->prep_idx].label;
            kl_json_escape(label, sizeof(label), l, strlen(l));
            if (db->cfg.stmts[c->prep_idx].optional) { /* its route still runs, query by query */
                if (db->batch_off[c->prep_idx] != UINT64_MAX)
                    kl_log(KL_LOG_WARN, "batch form failed to prepare: queries run one by one",
                           "\"route\":\"%s\",\"error\":\"%s\"", label, msg);
                db->batch_off[c->prep_idx] = UINT64_MAX;
            } else {
                kl_log(KL_LOG_ERROR, "statement failed to prepare", "\"route\":\"%s\",\"error\":\"%s\"", label, msg);
                /* SQL that does not prepare is a broken deploy: never report ready. */
                atomic_store_explicit(&db->broken, 1, memory_order_relaxed);
            }
        }
        PQclear(r);
    }
    if (c->prep_syncs == 0 && c->catching_up) { /* still counted live: only caught up */
        c->catching_up = false;
        c->state = C_READY;
        pump(db);
    } else if (c->prep_syncs == 0) {
        c->state = C_READY;
        c->backoff_ms = BACKOFF_MIN_MS;
        if (c->logged_down)
            kl_log(KL_LOG_INFO, "database connection up", "\"shard\":%d,\"conn\":%d", db->sh->id, c->idx);
        c->logged_down = false;
        atomic_fetch_add_explicit(&db->live, 1, memory_order_relaxed);
        /* Every connection that starts listening, not only the first live one: a sibling
         * that still counts as live may have died unnoticed (db.h, "NOTIFY loss"). */
        if (db->cfg.on_connect) db->cfg.on_connect(db->ctx);
        pump(db);
    }
}

static void read_query_results(kl_db_conn_t *c) {
    int nulls = 0;
    while (!kl_list_empty(&c->inflight) && c->pg && !PQisBusy(c->pg) && nulls < 2) {
        kl_db_query_t *q = next_to_read(c);
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            nulls++; /* end of one statement's results */
            /* a grouped query has one statement: its results are all read. A segment's last
             * query (its Sync follows) stays the one read, as do those of several statements */
            if (q && !q->_seg_end && q->_skip == 0 && (q->res || q->_aborted)) c->read_last = q;
            arm_rows(c, next_to_read(c)); /* libpq has moved on to the next command */
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            finish_segment(c);
            arm_rows(c, next_to_read(c));
            continue;
        }
        if (!q) { /* a result for no query sent: the protocol state is lost */
            PQclear(r);
            reset(c, "unexpected result");
            return;
        }
        if (q->_skip > 0) { /* a statement in front of the query's own (set_config, pre) */
            if (st == PGRES_SINGLE_TUPLE) { /* never armed for one (arm_rows); its end counts */
                PQclear(r);
                continue;
            }
            q->_skip--;
            if (st != PGRES_FATAL_ERROR) {
                PQclear(r);
                continue;
            }
            q->_skip = 0; /* its error answers; what follows was aborted */
        }
        if (st == PGRES_PIPELINE_ABORTED && !q->res) { /* a neighbour's error, earlier in the segment */
            q->_aborted = true;
            PQclear(r);
            continue;
        }
        if (st == PGRES_SINGLE_TUPLE) {
            take_row(c->db, q, r);
            continue;
        }
        /* Keep the statement's result, but an error later in the same transaction (the
         * NOTIFY, or the commit itself) rolled everything back: it wins. */
        bool later_error = st == PGRES_FATAL_ERROR && q->res && PQresultStatus(q->res) != PGRES_FATAL_ERROR;
        if (later_error) {
            PQclear(q->res);
            q->res = r;
        } else if (st == PGRES_PIPELINE_ABORTED || q->res) {
            PQclear(r);
        } else {
            q->res = r;
        }
    }
    pump(c->db); /* answered queries freed pipeline slots: waiting queries take them, in order */
}

/* Closes the open segment with one Sync (its last query becomes its end). Returns false when
 * libpq could not queue the Sync. */
static bool close_segment(kl_db_conn_t *c) {
    if (!c->seg_open) return true;
    c->seg_open = 0;
    kl_container_of(c->inflight.prev, kl_db_query_t, _link)->_seg_end = true;
    c->db->stats.syncs++;
    if (c->head_open) arm_head(c); /* the oldest segment's size is known now: its deadline grows with it */
    return PQpipelineSync(c->pg) == 1;
}

static void flush(kl_db_conn_t *c) {
    if (!close_segment(c)) { /* nothing leaves without its Sync: a segment ends with the tick */
        reset(c, "send failed");
        return;
    }
    int r = PQflush(c->pg);
    if (r < 0) reset(c, "write failed");
    else if (r > 0) want_write(c);
}

static bool db_notify(const kl_db_t *db) { return db->cfg.on_notify != NULL; }

static void drive(kl_db_conn_t *c) {
    if (!c->pg) return;
    if (c->state == C_CONNECTING) {
        connect_step(c);
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        reset(c, "connection lost");
        return;
    }
    PGnotify *nt;
    while ((nt = PQnotifies(c->pg)) != NULL) {
        if (db_notify(c->db) && !strcmp(nt->relname, KL_DB_CHANNEL)) c->db->cfg.on_notify(c->db->ctx, nt->extra);
        PQfreemem(nt);
    }
    if (c->state == C_PREPARING) read_prepare_results(c);
    if (c->state == C_READY) read_query_results(c);
    if (!c->pg) return;
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        reset(c, "connection lost");
        return;
    }
    flush(c);
    if (c->pg) want_read(c); /* always: that is how a server-side close is noticed */
}

/* ---- queries ---------------------------------------------------------------------- */

/* The connection with room whose queue is expected to clear first: the summed cost of what
 * is in flight on it, plus how long its oldest segment has been running (a query stuck past
 * its estimate keeps its connection to itself). Ties go to the shallower pipeline. */
static kl_db_conn_t *pick(kl_db_t *db) {
    kl_db_conn_t *best = NULL;
    uint64_t best_wait = 0;
    for (int i = 0; i < db->cfg.conns; i++) {
        kl_db_conn_t *c = &db->conns[i];
        /* a connection still preparing what a reload appended takes nothing (catch_up) */
        if (c->state != C_READY || c->nprep != db->cfg.nstmts || c->depth >= db->cfg.pipeline_depth) continue;
        uint64_t wait = c->cost_us + (c->depth ? (db->sh->now_ms - c->head_ms) * 1000 : 0);
        if (!best || wait < best_wait || (wait == best_wait && c->depth < best->depth)) {
            best = c;
            best_wait = wait;
        }
    }
    return best;
}

/* The next NOTIFY payload of a '\n'-separated list at *cursor: as many whole lines as fit
 * under PostgreSQL's limit, joined by '\n', written NUL-terminated to out; empty lines are
 * dropped. Returns its length, 0 at the end. A line that cannot fit alone is skipped (and
 * kl_db_submit refuses such a payload before anything is sent). */
static size_t notify_next(const char **cursor, char out[KL_DB_NOTIFY_MAX]) {
    size_t len = 0;
    const char *p = *cursor;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 0 && n < KL_DB_NOTIFY_MAX) {
            if (len > 0 && len + 1 + n >= KL_DB_NOTIFY_MAX) break; /* the next payload starts here */
            if (len > 0) out[len++] = '\n';
            memcpy(out + len, p, n);
            len += n;
        }
        p += n + (p[n] == '\n');
    }
    *cursor = p;
    out[len] = '\0';
    return len;
}

/* Length of the longest '\n'-separated line of s. */
static size_t longest_line(const char *s) {
    size_t best = 0;
    for (;;) {
        size_t n = strcspn(s, "\n");
        if (n > best) best = n;
        if (!s[n]) return best;
        s += n + 1;
    }
}

/* Only a read-only query with nothing in front of or behind it in its transaction, and not
 * known to be slow, shares a segment (or a batch): anything else would change what it means
 * (a timeout or a role leaking to neighbours), or hold them behind it. */
static bool shares_transaction(const kl_db_t *db, const kl_db_query_t *q) {
    return q->stmt >= 0 && q->groupable && !q->_alone && q->timeout_ms <= 0 && q->npre == 0 && !q->notify &&
           db->cost_us[q->stmt] < KL_DB_SLOW_US;
}

static void send_query(kl_db_conn_t *c, kl_db_query_t *q) {
    kl_db_t *db = c->db;
    const kl_db_stmt_t *s = q->stmt >= 0 ? &db->cfg.stmts[q->stmt] : NULL;
    bool group = shares_transaction(db, q);
    if ((!group || c->seg_open >= KL_DB_SEGMENT_MAX) && !close_segment(c)) {
        reset(c, "send failed");
        fail(q, 503, "database connection lost");
        return;
    }
    q->_conn = c;
    q->_sent_ns = kl_clock_ns();
    q->_skip = 0;
    q->_seg_end = false;
    q->_aborted = false;
    q->res = NULL;
    q->_held = 0;
    q->_dropped = 0;
    q->_cost_us = s ? db->cost_us[q->stmt] : COST_INIT_US;
    c->cost_us += q->_cost_us;
    bool head = kl_list_empty(&c->inflight);
    if (head) {
        c->head_ms = db->sh->now_ms;
        c->head_ns = q->_sent_ns;
    }
    kl_list_push(&c->inflight, &q->_link);
    c->depth++;
    int ok = 1;
    if (q->timeout_ms > 0) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%d", q->timeout_ms);
        const char *v[1] = {ms};
        ok = PQsendQueryPrepared(c->pg, TIMEOUT_STMT, 1, v, NULL, NULL, 0);
        q->_skip++;
    }
    for (int i = 0; i < q->npre; i++) {
        const kl_db_call_t *p = &q->pre[i];
        ok = ok && PQsendQueryPrepared(c->pg, db->cfg.stmts[p->stmt].name, p->nparams, p->values, NULL, NULL, 0);
        q->_skip++;
    }
    if (s) ok = ok && PQsendQueryPrepared(c->pg, s->name, q->nparams, q->values, NULL, NULL, 0);
    if (s && ok && head) arm_rows(c, q); /* alone in libpq's queue: its results come next */
    /* Same implicit transaction as the statement, as many NOTIFYs as the payload needs
     * (PostgreSQL takes under KL_DB_NOTIFY_MAX bytes each): delivered at its commit, and
     * skipped (pipeline aborted) when the statement fails. Their results are dropped unless
     * one is an error, which then wins over the statement's (read_query_results). libpq
     * copies each value into its buffer at once, so one chunk buffer serves them all. */
    char chunk[KL_DB_NOTIFY_MAX];
    const char *v[1] = {chunk};
    for (const char *p = q->notify; ok && p && notify_next(&p, chunk) > 0;)
        ok = PQsendQueryPrepared(c->pg, NOTIFY_STMT, 1, v, NULL, NULL, 0);
    if (group) {
        c->seg_open++; /* the Sync comes with the segment's last query (close_segment) */
    } else {
        ok = ok && PQpipelineSync(c->pg);
        q->_seg_end = true;
        db->stats.syncs++;
    }
    if (head) arm_head(c); /* else its deadline starts when the segment ahead is answered */
    if (!ok) {
        reset(c, "send failed");
        return;
    }
    mark_flush(c);
}

/* CoDel's rule on the wait queue: a query leaving it after waiting under the target ends
 * any shedding; waits above it that persist for a whole interval start shedding. Returns
 * whether q, which waited `waited` ms, is shed. */
static bool shed(kl_db_t *db, uint64_t waited) {
    uint64_t target = (uint64_t)db->cfg.queue_target_ms, now = db->sh->now_ms;
    if (!target || waited < target) {
        db->above_until = 0;
        db->shedding = false;
        return false;
    }
    if (!db->above_until) db->above_until = now + SHED_INTERVAL_MS;
    else if (now >= db->above_until) db->shedding = true;
    return db->shedding;
}

/* A reload appended statements (kl_db_set_stmts): a live connection takes no new query
 * (pick) until it prepared them, which it does once its pipeline is empty, one Sync per
 * statement as at connect. */
static void catch_up(kl_db_conn_t *c) {
    kl_db_t *db = c->db;
    if (c->state != C_READY || c->nprep >= db->cfg.nstmts || !kl_list_empty(&c->inflight)) return;
    for (int i = c->nprep; i < db->cfg.nstmts; i++) send_prepare(c, i);
    c->prep_syncs = db->cfg.nstmts - c->nprep;
    c->prep_idx = c->nprep;
    c->nprep = db->cfg.nstmts;
    c->catching_up = true;
    c->state = C_PREPARING;
    mark_flush(c);
    want_read(c);
}

static void pump(kl_db_t *db) {
    kl_db_conn_t *c;
    for (int i = 0; i < db->cfg.conns; i++) catch_up(&db->conns[i]);
    while (!kl_list_empty(&db->waitq) && (c = pick(db)) != NULL) {
        kl_db_query_t *q = kl_container_of(kl_list_shift(&db->waitq), kl_db_query_t, _link);
        db->waiting--;
        kl_wheel_del(&db->sh->wheel, &q->_timer);
        if (db->cfg.on_wait) db->cfg.on_wait(db->ctx, db->sh->now_ms - q->_queued_ms);
        if (!q->urgent && shed(db, db->sh->now_ms - q->_queued_ms)) {
            db->stats.shed++;
            fail(q, 503, "the database is overloaded; try again shortly");
            continue;
        }
        send_query(c, q);
    }
    if (kl_list_empty(&db->waitq)) { /* no standing queue any more */
        db->above_until = 0;
        db->shedding = false;
    }
}

/* Onto a connection now, or into the wait queue. */
static void enqueue(kl_db_t *db, kl_db_query_t *q) {
    kl_db_conn_t *c = kl_list_empty(&db->waitq) ? pick(db) : NULL;
    if (c) {
        if (db->cfg.on_wait) db->cfg.on_wait(db->ctx, 0);
        send_query(c, q);
        return;
    }
    if (db->shedding && !q->urgent) { /* it would wait longer than the target: fail it fast */
        db->stats.shed++;
        fail(q, 503, "the database is overloaded; try again shortly");
        return;
    }
    if (db->waiting >= db->cfg.queue_max && !q->urgent) {
        db->stats.rejected_queue_full++;
        fail(q, 503, "too many requests are waiting for the database");
        return;
    }
    if (q->urgent) kl_list_unshift(&db->waitq, &q->_link);
    else kl_list_push(&db->waitq, &q->_link);
    q->_queued_ms = db->sh->now_ms;
    db->waiting++;
    kl_wheel_add(&db->sh->wheel, &q->_timer, db->sh->now_ms + (uint64_t)db->cfg.acquire_ms);
}

/* ---- batches ---------------------------------------------------------------------- */

/* Queries of one statement submitted in the same tick run as one execution of its batch
 * form (kl_db_stmt_t.batch): PostgreSQL binds, starts, runs and ends one portal for all of
 * them instead of one each, which is most of what a by-id lookup costs it. */
typedef struct {
    kl_db_query_t q;                   /* the batch form's execution */
    int n;
    kl_db_query_t *m[KL_DB_BATCH_MAX]; /* its queries: m[i]'s rows carry ordinal i + 1 */
} db_batch_t;

/* A query that may share a segment (a batch of slow queries would hold all of them as long
 * as the sum), whose statement has a batch form that prepared and is not paused. Its cost is
 * measured when it runs alone: whenever it is alone in its tick, or batching paused. */
static bool batchable(const kl_db_t *db, const kl_db_query_t *q) {
    if (db->cfg.batch_max < 2 || q->urgent || !shares_transaction(db, q)) return false;
    int b = db->cfg.stmts[q->stmt].batch - 1;
    return b >= 0 && b < db->cfg.nstmts && db->sh->now_ms >= db->batch_off[b];
}

/* Writes PostgreSQL's array literal of parameter k of the n queries ({"a","b\"c",NULL}) at p,
 * NUL-terminated; returns the byte after it. */
static char *array_literal(char *p, kl_db_query_t *const *m, int n, int k) {
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ',';
        const char *v = m[i]->values[k];
        if (!v) {
            memcpy(p, "NULL", 4);
            p += 4;
            continue;
        }
        *p++ = '"';
        for (; *v; v++) {
            if (*v == '"' || *v == '\\') *p++ = '\\';
            *p++ = *v;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p++ = '\0';
    return p;
}

/* Hands each query its rows of the batch's result. A batch PostgreSQL refused runs again
 * query by query, so that each gets its own answer (one id's error fails the whole
 * statement); a failure that is not about the data (keel's 503s, a statement timeout, the
 * pool stopping) is every query's answer. */
static void batch_done(kl_db_query_t *q) {
    db_batch_t *b = kl_container_of(q, db_batch_t, q);
    kl_db_t *db = q->_db;
    bool again = q->status && q->sqlstate[0] && strncmp(q->sqlstate, "57", 2) != 0 && !db->stopping;
    /* A refused batch costs every query in it a second round trip: where refusals are common
     * (a route that raises for some ids), batching pauses instead of doubling the work. */
    if (again && db->batch_off[q->stmt] != UINT64_MAX) db->batch_off[q->stmt] = db->sh->now_ms + BATCH_PAUSE_MS;
    int row = q->row0, end = q->row0 + q->rows, ord = q->cols - 1;
    for (int i = 0; i < b->n; i++) {
        kl_db_query_t *m = b->m[i];
        if (again) {
            m->_alone = true;
            kl_db_submit(db, m);
            continue;
        }
        m->status = q->status;
        memcpy(m->sqlstate, q->sqlstate, sizeof(m->sqlstate));
        m->message = q->message;
        m->duration_us = q->duration_us;
        m->res = q->status ? NULL : q->res;
        m->row0 = row;
        while (!q->status && ord >= 0 && row < end && atol(PQgetvalue(q->res, row, ord)) == i + 1) row++;
        m->rows = row - m->row0;
        m->cols = ord > 0 ? ord : 0;
        if (!q->status) db->stats.batched++;
        if (db->cfg.on_end) db->cfg.on_end(db->ctx, m, !q->status || q->sqlstate[0]);
        m->done(m);
        m->res = NULL;
    }
    kl_free(b);
}

/* Sends m[0..n), queries of one statement: as one execution of its batch form, or one by one
 * when there is only one or no memory for the batch. */
static void send_batch(kl_db_t *db, kl_db_query_t **m, int n) {
    int np = m[0]->nparams;
    db_batch_t *b = NULL;
    if (n > 1) {
        size_t len = sizeof(*b) + sizeof(char *) * (size_t)np;
        for (int k = 0; k < np; k++) {
            len += 3;
            for (int i = 0; i < n; i++) len += 1 + (m[i]->values[k] ? 2 + 2 * strlen(m[i]->values[k]) : 4);
        }
        b = kl_trymalloc(len);
    }
    if (!b) {
        for (int i = 0; i < n; i++) enqueue(db, m[i]);
        return;
    }
    memset(b, 0, sizeof(*b));
    const char **values = (const char **)(b + 1);
    char *p = (char *)(values + np);
    for (int k = 0; k < np; k++) {
        values[k] = p;
        p = array_literal(p, m, n, k);
    }
    b->n = n;
    memcpy(b->m, m, sizeof(*m) * (size_t)n);
    uint64_t rows = 0; /* the batch returns its queries' rows: bounded when each of them is */
    for (int i = 0; i < n && rows <= KL_DB_WHOLE_ROWS; i++) rows = m[i]->rows_max ? rows + m[i]->rows_max : UINT64_MAX;
    b->q.rows_max = rows <= KL_DB_WHOLE_ROWS ? (uint32_t)rows : 0;
    b->q.stmt = db->cfg.stmts[m[0]->stmt].batch - 1;
    b->q.nparams = np;
    b->q.values = values;
    b->q.groupable = true;
    b->q.capped = true; /* a batch is of GET routes' lookups */
    b->q.done = batch_done;
    db->stats.batches++;
    kl_db_submit(db, &b->q); /* a batch form has no batch form: it goes straight to enqueue */
}

/* The tick's batchable queries, grouped by statement in the order they came. */
static void run_batches(kl_db_t *db) {
    kl_db_query_t *m[KL_DB_BATCH_MAX];
    kl_list_t *l;
    while ((l = kl_list_shift(&db->batchq)) != NULL) {
        kl_db_query_t *q = kl_container_of(l, kl_db_query_t, _link);
        int n = 0;
        m[n++] = q;
        for (kl_list_t *x = db->batchq.next, *next; x != &db->batchq && n < db->cfg.batch_max; x = next) {
            next = x->next;
            kl_db_query_t *o = kl_container_of(x, kl_db_query_t, _link);
            if (o->stmt != q->stmt) continue;
            kl_list_remove(x);
            m[n++] = o;
        }
        send_batch(db, m, n);
    }
}

void kl_db_submit(kl_db_t *db, kl_db_query_t *q) {
    q->_db = db;
    q->_conn = NULL;
    q->status = 0;
    q->message = NULL;
    q->sqlstate[0] = '\0';
    q->duration_us = 0;
    q->_timer.cb = timer_cb;
    if (db->stopping) {
        fail(q, 503, "shutting down");
        return;
    }
    if (q->notify && longest_line(q->notify) >= KL_DB_NOTIFY_MAX) {
        /* No NOTIFY can carry it, and dropping it would leave stale entries cached. */
        fail(q, 500, "an invalidation tag is longer than a NOTIFY payload can be");
        return;
    }
    if (batchable(db, q)) { /* kl_db_flush, later in this tick, runs it with its like */
        kl_list_push(&db->batchq, &q->_link);
        return;
    }
    enqueue(db, q);
}

void kl_db_flush(kl_db_t *db) {
    kl_list_t *n;
    run_batches(db);
    while ((n = kl_list_shift(&db->flush_list)) != NULL) {
        kl_db_conn_t *c = kl_container_of(n, kl_db_conn_t, flush_link);
        if (c->pg) flush(c);
    }
}

PGconn *kl_db_connect_blocking(const char *conninfo, int timeout_s, char *err, size_t errlen) {
    char to[16];
    snprintf(to, sizeof(to), "%d", timeout_s);
    const char *kw[] = {"dbname", "connect_timeout", "fallback_application_name", "client_encoding", NULL};
    const char *val[] = {conninfo, to, "keel-startup", "UTF8", NULL};
    PGconn *pg = PQconnectdbParams(kw, val, 1);
    if (PQstatus(pg) == CONNECTION_OK) {
        PQsetNoticeReceiver(pg, on_notice, NULL);
        return pg;
    }
    snprintf(err, errlen, "%s", PQerrorMessage(pg));
    err[strcspn(err, "\n")] = '\0';
    PQfinish(pg);
    return NULL;
}

kl_db_t *kl_db_start(kl_shard_t *sh, const kl_db_config_t *cfg, void *ctx) {
    if (cfg->conns < 1 || cfg->pipeline_depth < 1 || cfg->queue_max < 0) return NULL;
    kl_db_t *db = kl_calloc(sizeof(*db));
    db->sh = sh;
    db->ctx = ctx;
    db->cfg = *cfg;
    kl_list_init(&db->waitq);
    kl_list_init(&db->batchq);
    kl_list_init(&db->flush_list);
    kl_list_init(&db->polls);
    db->conns = kl_calloc(sizeof(kl_db_conn_t) * (size_t)cfg->conns);
    db->cost_us = kl_calloc(sizeof(uint32_t) * (size_t)(cfg->nstmts > 0 ? cfg->nstmts : 1));
    for (int i = 0; i < cfg->nstmts; i++) db->cost_us[i] = COST_INIT_US;
    db->batch_off = kl_calloc(sizeof(uint64_t) * (size_t)(cfg->nstmts > 0 ? cfg->nstmts : 1));
    if (db->cfg.batch_max > KL_DB_BATCH_MAX) db->cfg.batch_max = KL_DB_BATCH_MAX;
    for (int i = 0; i < cfg->conns; i++) {
        kl_db_conn_t *c = &db->conns[i];
        c->db = db;
        c->idx = i;
        c->fd = -1;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->timer.cb = retry_cb;
        kl_list_init(&c->inflight);
        conn_start(c);
    }
    return db;
}

void kl_db_stop(kl_db_t *db) {
    if (!db) return;
    db->stopping = true;
    kl_list_t *n;
    while ((n = kl_list_shift(&db->batchq)) != NULL) fail(kl_container_of(n, kl_db_query_t, _link), 503, "shutting down");
    while ((n = kl_list_shift(&db->waitq)) != NULL) {
        db->waiting--;
        fail(kl_container_of(n, kl_db_query_t, _link), 503, "shutting down");
    }
    for (int i = 0; i < db->cfg.conns; i++) {
        kl_db_conn_t *c = &db->conns[i];
        kl_wheel_del(&db->sh->wheel, &c->timer);
        c->logged_down = true; /* a planned close is not news */
        if (c->pg || c->state != C_DOWN) reset(c, "shutdown");
    }
    /* The ring is torn down after this: polls still in the kernel never complete. */
    while ((n = kl_list_shift(&db->polls)) != NULL) kl_free(kl_container_of(n, db_poll_t, link));
    kl_free(db->conns);
    kl_free(db->cost_us);
    kl_free(db->batch_off);
    kl_free(db);
}

void kl_db_set_stmts(kl_db_t *db, const kl_db_stmt_t *stmts, int nstmts) {
    if (!db || nstmts < db->cfg.nstmts) return;
    if (nstmts > db->cfg.nstmts) { /* the appended statements' costs start unmeasured */
        db->cost_us = kl_realloc(db->cost_us, sizeof(uint32_t) * (size_t)nstmts);
        for (int i = db->cfg.nstmts; i < nstmts; i++) db->cost_us[i] = COST_INIT_US;
        db->batch_off = kl_realloc(db->batch_off, sizeof(uint64_t) * (size_t)nstmts);
        memset(db->batch_off + db->cfg.nstmts, 0, sizeof(uint64_t) * (size_t)(nstmts - db->cfg.nstmts));
    }
    db->cfg.stmts = stmts;
    db->cfg.nstmts = nstmts;
    pump(db);
}

int kl_db_live(const kl_db_t *db) {
    if (!db || atomic_load_explicit(&db->broken, memory_order_relaxed)) return 0;
    return atomic_load_explicit(&db->live, memory_order_relaxed);
}

const kl_db_stats_t *kl_db_stats(const kl_db_t *db) { return &db->stats; }

bool kl_db_awaiting(const kl_db_t *db) {
    for (int i = 0; db && i < db->cfg.conns; i++)
        if (db->conns[i].depth > 0) return true;
    return false;
}

void kl_db_pool_counts(const kl_db_t *db, int *busy, int *idle, int *connecting, int *queued) {
    *busy = *idle = *connecting = 0;
    for (int i = 0; i < db->cfg.conns; i++) {
        const kl_db_conn_t *c = &db->conns[i];
        if (c->state == C_READY) ++*(c->depth > 0 ? busy : idle);
        else if (c->state == C_CONNECTING || c->state == C_PREPARING) ++*connecting;
    }
    *queued = db->waiting;
}
