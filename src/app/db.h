/* db.h - a shard's PostgreSQL connections: libpq in non-blocking pipeline mode, their
 * sockets polled through the shard's io_uring, so no thread ever blocks on the database.
 *
 * Every statement is prepared once per connection. Each query is sent as
 * PQsendQueryPrepared + its own PQpipelineSync, so one failing query never aborts its
 * neighbours. Every wait is bounded: a query that cannot get onto a connection (all
 * down, or every pipeline at its depth) waits in a bounded queue for at most the acquire
 * deadline, then fails with 503. Overload is shed by time spent queued, as CoDel does: once
 * the queries leaving the queue have waited longer than the target for 100 ms, those that
 * waited longer are failed with 503 instead of sent, and new ones fail at once, until one
 * leaves below the target or the queue empties. Answers arrive in order, so only the oldest unanswered
 * query of a connection has a response deadline: its statement_timeout (the route's or the
 * connection's) plus 3 s of slack, counted from when it became the oldest (its send, or
 * the answer to the query ahead of it), as PostgreSQL starts a statement's timeout only
 * when it starts executing it. A query queued behind a slow one never fails for waiting;
 * when the head's deadline passes the server is taken as gone (vanished, or stopped
 * answering): the connection is dropped and everything in flight on it fails with 503.
 * Lost connections reconnect with PQconnectStart/PQconnectPoll and exponential backoff. */
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

typedef struct {
    const char *name;  /**< prepared statement name, unique */
    const char *sql;   /**< text with $1..$n placeholders */
    int nparams;       /**< n */
    const char *label; /**< for logs, e.g. "GET /api/bounties/{id}" or "file.sql" */
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
    const kl_db_stmt_t *stmts;  /**< prepared on every connection, in order */
    int nstmts;
    /** Called with each payload NOTIFYed on KL_DB_CHANNEL (every connection LISTENs). */
    void (*on_notify)(void *ctx, const char *payload);
    /** Called when the shard goes from no live connection to one: notifications may have
     * been missed while none was listening. */
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
    const char *notify;         /**< '\n'-separated lines to NOTIFY on KL_DB_CHANNEL in the same
                                     transaction, delivered only if it commits: as many NOTIFYs
                                     as needed, each of whole lines under KL_DB_NOTIFY_MAX bytes;
                                     a line of KL_DB_NOTIFY_MAX bytes or more fails the query
                                     with 500 before it is sent; NULL = none */
    void (*done)(kl_db_query_t *q); /**< called exactly once; may be called inside kl_db_submit */
    void *ctx;                  /**< the caller's */
    /* results, valid inside done (res is freed after done returns) */
    PGresult *res;              /**< the statement's result when status == 0 */
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
    bool _got_result;
    int _skip;                  /* results of the statements in front of it still to drop */
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
/** Connections that are up and prepared (readable from any thread); 0 once any route's
 * statement failed to prepare, so that a broken deploy never reports ready. */
int kl_db_live(const kl_db_t *db);
/** The pool's connections by state (busy: ready with queries in flight; idle: ready without;
 * connecting: connecting or preparing) and the queries waiting for one. Shard thread only. */
void kl_db_pool_counts(const kl_db_t *db, int *busy, int *idle, int *connecting, int *queued);
/** Counters for metrics, owned by the shard. */
typedef struct {
    uint64_t queries, errors, timeouts_acquire, rejected_queue_full, reconnects, slow;
    uint64_t shed; /**< failed fast with 503 because the queue stood above its target */
} kl_db_stats_t;
/** The pool's counters. */
const kl_db_stats_t *kl_db_stats(const kl_db_t *db);

#endif
