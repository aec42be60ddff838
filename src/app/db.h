/* db.h - a shard's PostgreSQL connections: libpq in non-blocking pipeline mode, their
 * sockets polled through the shard's io_uring, so no thread ever blocks on the database.
 *
 * Every statement is prepared once per connection. Queries are sent with
 * PQsendQueryPrepared in pipeline segments, each closed by one PQpipelineSync (one implicit
 * transaction). A query marked groupable (a read-only GET route: no pre-statements, no
 * NOTIFY, no per-request timeout) shares its segment with the other groupable queries
 * sent to the same connection in the same loop iteration, at most KL_DB_SEGMENT_MAX of them,
 * so that PostgreSQL ends one transaction and flushes once for all of them; every other
 * query, and any statement whose measured cost is above KL_DB_SLOW_US, has a segment of its
 * own. One failing query never fails its neighbours: PostgreSQL aborts the rest of its
 * segment, keel answers the failed one with its error and sends each aborted one again, alone
 * (once: alone, nothing but itself can abort it). The queries ahead of the failure are
 * answered with their results (GET routes are read-only: nothing of theirs is lost when the
 * segment rolls back).
 *
 * Batches. Grouping saves PostgreSQL a flush and a transaction per query, but it still
 * binds, starts, runs and ends one portal per query, which for a by-id lookup is most of its
 * cost. So a groupable
 * query whose statement has a batch form (kl_db_stmt_t.batch, built by sql_batch.h) is held
 * until kl_db_flush, and the tick's queries of one statement, at most batch_max of them, run
 * as one execution of that form; each query is then answered with its rows of the shared
 * result (q->row0, q->rows, q->cols). Measured on the bounties by-id route (README, "Batched
 * lookups"): PostgreSQL's CPU per lookup fell by a third at 11-20 lookups per execution. A
 * batch PostgreSQL refuses (one query's own error fails the whole statement) runs again one
 * query at a time, so that each gets its own answer, and its statement runs unbatched for
 * the next second; a batch that keel fails (503, shutdown) or that hits the statement
 * timeout answers all of its queries so. A query alone in its tick is sent as itself.
 *
 * Every wait is bounded: a query that cannot get onto a connection (all down, or every
 * pipeline at its depth) waits in a bounded queue for at most the acquire deadline, then
 * fails with 503. Overload is shed by time spent queued, as CoDel does: once the queries
 * leaving the queue have waited longer than the target for 100 ms, those that waited longer
 * are failed with 503 instead of sent, and new ones fail at once, until one leaves below the
 * target or the queue empties. Answers arrive in order, a segment's all at its Sync, so only
 * the oldest unanswered segment of a connection has a response deadline: the sum of its
 * queries' statement_timeouts (the route's or the connection's; one for a query alone) plus
 * 3 s of slack, counted from when it became the oldest (its send, or the answer to the segment
 * ahead of it), as PostgreSQL starts a statement's timeout only when it starts executing it.
 * A query queued behind a slow one never fails for waiting; when the head's deadline passes
 * the server is taken as gone (vanished, or stopped answering): the connection is dropped
 * and everything in flight on it fails with 503.
 *
 * A slow query never holds fast ones: each statement's cost (time in service per query,
 * a moving average) is measured, and a query goes to the connection with the least
 * expected wait: the summed cost of what is in flight on it plus how long its oldest
 * segment has been running (so one stuck past its estimate is avoided too). A cold search
 * of 100 ms thus leaves its connection to itself while by-id lookups take the others.
 * Chosen by measurement over pick-the-shallowest-pipeline (the parent commit), same test
 * (test_db_segments.py, 16 by-id clients beside three 300 ms queries, 2 connections): the
 * slowest by-id lookup took 393 ms before, 70 ms with this choice; a 2-core box shared with
 * other loads (bench/bench_db_segments.sh, README) gave medians of 204 -> 264 ms by-id p99
 * beside 20 searches/s, too noisy to rank, with by-id req/s 9,353 -> 18,428 and PostgreSQL
 * CPU per by-id request 47.7 -> 25.5 us.
 *
 * Answers held. libpq holds a statement's whole result until its last row, so a route
 * without a LIMIT could grow keel by the size of its table in one request. A capped query's
 * own statement (not the statements in front of it) is therefore read row by row
 * (PQsetSingleRowMode, armed when its results come next and before libpq parses any of
 * them), its rows appended to a copy of its first row's result as they come and counted.
 * Past max_answer the rows held are freed and the rest are read and dropped; the query fails
 * with 500 and SQLSTATE 54000 (program_limit_exceeded) unless PostgreSQL's own error ends it
 * (503 when libpq runs out of memory for them, as for any request keel does). A first_row
 * query (`@returns one`) holds its first row only: the others are dropped uncounted. A
 * batch that passes it runs again query by query, each held to max_answer on its own. Row by
 * row costs keel CPU for every row (libpq makes a result of each: README, "Answers held"),
 * so a query whose statement's own LIMIT allows at most KL_DB_WHOLE_ROWS rows (rows_max; a
 * batch: its queries' summed) is read whole, as libpq returns it.
 *
 * Lost connections reconnect with PQconnectStart/PQconnectPoll and exponential backoff.
 *
 * NOTIFY loss. PostgreSQL delivers a NOTIFY to every session LISTENing when it commits, and
 * every connection of a pool LISTENs: a shard (whose cache hears only its own connections)
 * misses a notification only if, when it committed, none of its connections' sessions was
 * alive. Such a gap always ends with a connection becoming ready again, since a new session
 * is the only way back to listening. But the pool cannot tell from its side when a gap began:
 * a connection that still counts as live may have died unnoticed (no FIN yet, a partition),
 * so "the shard went from zero live connections to one" misses gaps in which the deaths were
 * noticed at different times. Hence on_connect runs every time any connection becomes ready,
 * and keel (server.c) then evicts the shard's whole cache: what it cannot prove fresh. The
 * cost is one refill per reconnect, and reconnects are rare. The same holds for every shard of
 * an instance, each for its own connections and cache. Until the reconnect, entries are still
 * served (availability while PostgreSQL is down): at most the writes committed during the gap
 * are missed, for at most the time until a connection is back (TCP keepalives bound how long
 * a silent death goes unnoticed) or the entry's TTL. */
#ifndef KL_DB_H
#define KL_DB_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/list.h"
#include "core/shard.h"
#include "core/timer.h"

typedef struct kl_db kl_db_t;
typedef struct kl_db_conn kl_db_conn_t;
typedef struct kl_db_query kl_db_query_t;

/** Most groupable queries under one Sync. */
#define KL_DB_SEGMENT_MAX 16
/** Most queries one batch execution answers (kl_db_config_t.batch_max is at most this). */
#define KL_DB_BATCH_MAX 64
/** A query whose statement returns at most this many rows by its own LIMIT
 * (kl_db_query_t.rows_max) is read whole: its LIMIT is its bound (below, "Answers held"). */
#define KL_DB_WHOLE_ROWS 1000
/** Statements measured slower than this (microseconds per query) run in their own segment. */
#define KL_DB_SLOW_US 20000

typedef struct {
    const char *name;  /**< prepared statement name, unique */
    const char *sql;   /**< text with $1..$n placeholders */
    int nparams;       /**< n */
    const char *label; /**< for logs, e.g. "GET /api/bounties/{id}" or "file.sql" */
    int batch;         /**< 1 + the index in the same stmts of this statement's batch form, 0 for
                            none: it takes each of the n parameters as a text[] (element i for
                            query i), runs this statement once per element in one execution, and
                            returns this statement's columns plus the element's 1-based ordinal
                            as the last, ordered by it (sql_batch.h) */
    bool optional;     /**< failing to prepare is logged and disables it (a batch form), instead
                            of marking the pool broken */
} kl_db_stmt_t;

typedef struct {
    const char *conninfo;       /**< libpq connection string or URL ("" = PG* variables) */
    int conns;                  /**< connections per shard */
    int pipeline_depth;         /**< queries in flight per connection */
    int queue_max;              /**< queries waiting for a connection, per shard */
    int acquire_ms;             /**< longest wait in that queue */
    int queue_target_ms;        /**< shed (503) once waits stay above this for 100 ms; 0 = never */
    int statement_timeout_ms;   /**< per connection; routes may lower or raise it per query */
    int slow_ms;                /**< queries slower than this are logged */
    int batch_max;              /**< most queries of one statement run as one batch execution
                                     (below); 0 or 1: never batched */
    size_t max_answer;          /**< most bytes of one execution's rows held (each value's bytes
                                     plus 16, libpq's own record of it); beyond, the query fails
                                     with 500, SQLSTATE 54000 (below, "Answers held"); 0 = no limit */
    const kl_db_stmt_t *stmts;  /**< prepared on every connection, in order */
    int nstmts;
    /** Called with each payload NOTIFYed on KL_DB_CHANNEL (every connection LISTENs). */
    void (*on_notify)(void *ctx, const char *payload);
    /** Called each time a connection becomes ready (LISTENing), first connect or reconnect:
     * notifications may have been missed before it (below, "NOTIFY loss"). */
    void (*on_connect)(void *ctx);
    /** Optional (metrics): called as each query ends, before its done; answered: the server
     * answered it (q->duration_us, q->sqlstate valid), else keel failed it (no connection in
     * time, connection lost, overload, shutdown). */
    void (*on_end)(void *ctx, const kl_db_query_t *q, bool answered);
    /** Optional (metrics): a query got a connection after waiting waited_ms in the queue (0:
     * one was free), or gave up waiting (acquire deadline). */
    void (*on_wait)(void *ctx, uint64_t waited_ms);
} kl_db_config_t;

/** The channel keel's write routes NOTIFY and every connection LISTENs on. */
#define KL_DB_CHANNEL "keel_invalidate"
/** PostgreSQL refuses a NOTIFY payload of this many bytes or more: a longer query notify
 * is sent as several NOTIFYs, split between lines. */
#define KL_DB_NOTIFY_MAX 8000
/** The payload that means "evict everything" (server.c). keel never sends it, and never
 * derives it from a request (tags.h); an operator may, by hand, to purge every instance. */
#define KL_DB_NOTIFY_ALL "*"

/** kl_db_query_t.stmt for a query that runs no statement of its own, only its notify
 * (e.g. an operator's cache purge reaching every shard and instance). */
#define KL_DB_STMT_NONE (-1)

/** A statement run in front of a query, in its transaction (e.g. claiming an idempotency
 * key, setting per-request settings). */
typedef struct {
    int stmt;                   /**< index into the config's stmts */
    int nparams;
    const char *const *values;  /**< text parameters; must live until the query is done */
} kl_db_call_t;

struct kl_db_query {
    /* set by the caller */
    int stmt;                   /**< index into the config's stmts, or KL_DB_STMT_NONE */
    int nparams;
    const char *const *values;  /**< text parameters (NULL = SQL NULL); must live until done */
    int timeout_ms;             /**< statement_timeout for this query; 0 = the connection's */
    const kl_db_call_t *pre;    /**< run first, in the same transaction; their results are
                                     dropped, but the first error among them answers for the
                                     query (which PostgreSQL then skips); NULL = none */
    int npre;
    bool groupable;             /**< read-only (a GET route's): may share a pipeline segment, and
                                     so its implicit transaction, with other groupable queries;
                                     ignored when timeout_ms, pre or notify is set */
    const char *notify;         /**< '\n'-separated lines to NOTIFY on KL_DB_CHANNEL in the same
                                     transaction, delivered only if it commits: as many NOTIFYs
                                     as needed, each of whole lines under KL_DB_NOTIFY_MAX bytes;
                                     a line of KL_DB_NOTIFY_MAX bytes or more fails the query
                                     with 500 before it is sent; NULL = none */
    bool capped;                /**< a read (a GET route's): its rows are held to max_answer
                                     (below, "Answers held"). A write's are not: its answer
                                     comes before its commit, and a 500 after the commit would
                                     tell the client that a write which happened did not */
    uint32_t rows_max;          /**< the most rows its statement returns, when its own SQL says
                                     so (kl_route_def_t.rows_max); 0: not known */
    bool first_row;             /**< only its first row is answered (`@returns one`): a capped
                                     query's other rows are read and dropped, never held */
    bool urgent;                /**< keel's own small periodic query (a replica lag probe): waits
                                     at the head of the queue and is never shed nor refused
                                     for a full queue, so keel's own overload does not read
                                     as the server's failure; the acquire deadline still holds */
    void (*done)(kl_db_query_t *q); /**< called exactly once; may be called inside kl_db_submit */
    void *ctx;                  /**< the caller's */
    /* results, valid inside done (res is freed after done returns) */
    PGresult *res;              /**< the statement's result when status == 0; read only rows
                                     [row0, row0 + rows) and columns [0, cols) of it: a batch's
                                     queries share one result */
    int row0, rows, cols;
    int status;                 /**< 0 ok, else the HTTP status to answer (400, 404, 409, 503, 504...) */
    char sqlstate[6];           /**< SQLSTATE of an error ("" when none) */
    const char *message;        /**< error message for the client (valid inside done) */
    uint64_t duration_us;       /**< send to result */
    /* private */
    kl_list_t _link;
    kl_timer_t _timer;
    kl_db_t *_db;
    uint64_t _queued_ms;        /* when it entered the wait queue (shard clock) */
    kl_db_conn_t *_conn;
    uint64_t _sent_ns;
    int _retries;
    int _resent;                /* times sent again because a neighbour's failure aborted it */
    bool _alone;                /* aborted once: its next segment holds nothing else */
    bool _seg_end;              /* the last query of its segment: the Sync follows it */
    bool _aborted;              /* PostgreSQL skipped it (a neighbour failed before it) */
    uint32_t _cost_us;          /* its statement's cost when sent, counted in its connection's */
    int _skip;                  /* results of the statements in front of it still to drop */
    size_t _held;               /* bytes of its rows read so far (kl_db_config_t.max_answer) */
    uint8_t _dropped;           /* its rows are read and dropped: DB_DROP_LIMIT (past max_answer)
                                   or DB_DROP_NOMEM (db.c) */
};

/** Connects to conninfo for keel's startup checks, blocking at most timeout_s seconds.
 * Returns the connection (the caller PQfinish()es it), or NULL with libpq's reason in err
 * on one line. */
PGconn *kl_db_connect_blocking(const char *conninfo, int timeout_s, char *err, size_t errlen);
/** Creates the shard's pool and starts connecting (never blocks); ctx is passed to the
 * config's callbacks. Returns NULL only when cfg is unusable. */
kl_db_t *kl_db_start(kl_shard_t *sh, const kl_db_config_t *cfg, void *ctx);
/** Queues q; its done callback reports the outcome (possibly before this returns). */
void kl_db_submit(kl_db_t *db, kl_db_query_t *q);
/** Sends what this loop iteration queued, in one write per connection. Call once per tick. */
void kl_db_flush(kl_db_t *db);
/** Fails everything pending with 503 and closes every connection. */
void kl_db_stop(kl_db_t *db);
/** A route reload: stmts[0, db's current count) must equal the statements the pool has now
 * (indices in queries keep their meaning), and the rest are new. Each live connection
 * prepares them once its pipeline is empty and takes no query meanwhile; a connection that
 * (re)connects prepares all. stmts must live until replaced or kl_db_stop. */
void kl_db_set_stmts(kl_db_t *db, const kl_db_stmt_t *stmts, int nstmts);
/** Connections that are up and prepared (readable from any thread); 0 once any route's
 * statement failed to prepare, so that a broken deploy never reports ready. */
int kl_db_live(const kl_db_t *db);
/** The pool's connections by state (busy: ready with queries in flight; idle: ready without;
 * connecting: connecting or preparing) and the queries waiting for one. Shard thread only. */
void kl_db_pool_counts(const kl_db_t *db, int *busy, int *idle, int *connecting, int *queued);
/** True while a query is sent and its answer not yet in (db may be NULL). Shard thread only. */
bool kl_db_awaiting(const kl_db_t *db);
/** Counters for metrics, owned by the shard. */
typedef struct {
    uint64_t queries, errors, timeouts_acquire, rejected_queue_full, reconnects, slow;
    uint64_t shed; /**< failed fast with 503 because the queue stood above its target */
    uint64_t syncs;  /**< pipeline segments sent for queries (one Sync each); <= queries */
    uint64_t resent; /**< queries sent again, alone, after a neighbour's failure aborted them */
    uint64_t batches; /**< batch executions sent (each counts once in queries) */
    uint64_t batched; /**< queries answered by a batch execution */
} kl_db_stats_t;
/** The pool's counters. */
const kl_db_stats_t *kl_db_stats(const kl_db_t *db);

#endif
