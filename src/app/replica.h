/* replica.h - read replicas (KEEL_REPLICA_URLS): which pool a read runs on.
 *
 * Every shard has one pool per replica next to its primary pool (db.h; same settings,
 * another conninfo, no LISTEN: a standby refuses it, and the primary's NOTIFYs reach every
 * shard anyway). GET routes without @primary read from a replica in rotation, round-robin;
 * writes, @primary routes, keel's own statements and every read that no replica can serve
 * correctly run on the primary. With no replica in rotation, everything runs there.
 *
 * Lag, measured in WAL positions, not replay timestamps (on an idle primary
 * now() - pg_last_xact_replay_timestamp() grows without any lag): shard 0 asks the primary
 * for pg_current_wal_insert_lsn() and pg_current_wal_flush_lsn() every KL_REPLICA_PROBE_MS,
 * keeping (when it asked, insert LSN, flush LSN) samples, and asks each replica for
 * pg_last_wal_replay_lsn(). A replica's lag is the age of the oldest sample whose flush LSN
 * it has not replayed (0 when it has replayed them all); above KEEL_REPLICA_MAX_LAG, or when
 * its probe fails, it leaves rotation until a probe finds it within the bound again. It is
 * "caught up to" the time the newest sample whose insert LSN it has replayed was asked for:
 * everything that committed before that moment is visible on it.
 *
 * Fences (process-wide, shared by the shards, lock-free): a read may go to a replica only if
 * that replica is caught up to every fence the read must respect:
 * - read-your-writes: when a write answers, its subject (the JWT `sub`, else the client's
 *   address as KEEL_TRUSTED_PROXIES resolves it) is fenced at that moment; the subject's
 *   reads go to the primary until a replica has replayed a sample asked for after it, i.e.
 *   past the write's commit. Within one instance; behind a load balancer that spreads a
 *   client over instances, only sticky routing carries it across (docs/SCALING.md).
 * - cache fills: when a tag is evicted (a local write or a NOTIFY), the tag is fenced, so a
 *   fill carrying it never stores rows from a replica that has not replayed the write that
 *   evicted it (else the stale rows would be cached for the whole TTL).
 * Fences live in two fixed tables of KL_REPLICA_FENCE_SLOTS atomic slots indexed by a keyed
 * hash: bounded memory, nothing to evict; two subjects (or tags) sharing a slot only send one
 * of them to the primary a little longer. */
#ifndef KL_REPLICA_H
#define KL_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "app/db.h"
#include "core/str.h"

#define KL_REPLICA_PROBE_MS 100     /**< how often shard 0 measures lag */
#define KL_REPLICA_FENCE_SLOTS 4096 /**< slots of each fence table (a power of two) */
#define KL_REPLICA_MAX 8            /**< replicas KEEL_REPLICA_URLS may name */

typedef struct kl_replicas kl_replicas_t;
typedef struct kl_replica_shard kl_replica_shard_t;
struct kl_app_shard;
struct kl_request;

/** Parses the comma-separated URL list and the lag bound. Returns NULL (no replicas) for an
 * empty list; on a bad one returns NULL with the reason in err. */
kl_replicas_t *kl_replicas_new(const char *urls, int64_t max_lag_ms, char *err, size_t errlen);
/** Frees what kl_replicas_new made (after every shard stopped); NULL is fine. */
void kl_replicas_free(kl_replicas_t *rs);
/** The statement list every pool prepares: base's statements plus the two lag probes,
 * allocated (the caller frees *out); *first is the index of the first probe. */
void kl_replicas_stmts(const kl_db_config_t *base, kl_db_stmt_t **out, int *n, int *first);

/** Starts the shard's replica pools (on shard start; dbcfg is the primary's, with the probe
 * statements from kl_replicas_stmts at probe_stmt). Returns NULL when rs is NULL. */
kl_replica_shard_t *kl_replica_shard_start(struct kl_app_shard *as, kl_replicas_t *rs, const kl_db_config_t *dbcfg,
                                           int probe_stmt);
/** A route reload appended statements (kl_db_set_stmts on every replica pool; s may be
 * NULL). */
void kl_replica_set_stmts(kl_replica_shard_t *s, const kl_db_stmt_t *stmts, int nstmts);
/** Shard 0 measures lag here, every KL_REPLICA_PROBE_MS (call once per tick). */
void kl_replica_tick(kl_replica_shard_t *s);
/** Sends what this loop iteration queued on the replica pools (call once per tick). */
void kl_replica_flush(kl_replica_shard_t *s);
/** True while a read sent to a replica pool awaits its answer (s may be NULL). */
bool kl_replica_awaiting(const kl_replica_shard_t *s);
/** Fails what is pending on the replica pools and closes them (before the primary pool
 * stops: reads on them belong to requests). */
void kl_replica_shard_stop(kl_replica_shard_t *s);
/** Frees the shard's replica state, after the primary pool stopped (its lag probe rides
 * that pool and points here until it is failed). */
void kl_replica_shard_free(kl_replica_shard_t *s);

/** The pool a read of a GET route runs on: a replica in rotation caught up to the subject's
 * fence and to the fence of every tag in tags ('\n'-separated expanded @tags; NULL = none),
 * else primary. subject_hash is kl_replica_subject's (0: no subject). */
kl_db_t *kl_replica_pick(kl_replica_shard_t *s, kl_db_t *primary, bool route_primary, uint64_t subject_hash,
                         const char *tags);
/** A keyed hash of who a request is: its token's subject, else its client address (through
 * trusted proxies). */
uint64_t kl_replica_subject(const struct kl_app_shard *as, struct kl_request *r, const char *sub);
/** A write of subject_hash answered: fence it (read-your-writes). */
void kl_replica_wrote(kl_replicas_t *rs, uint64_t subject_hash);
/** A tag was evicted (all: every tag): fence it for cache fills. */
void kl_replica_evicted(kl_replicas_t *rs, kl_str_t tag, bool all);

/** What /metrics-style readers and tests may look at: replica i's state. */
typedef struct {
    bool in_rotation;   /**< last probe answered and lag within the bound */
    int64_t lag_ms;     /**< last measured lag; -1 before the first measurement */
    uint64_t reads;     /**< reads sent to it by every shard */
} kl_replica_state_t;
/** Replica i's state (any thread). Returns false when there is no replica i. */
bool kl_replica_state(const kl_replicas_t *rs, int i, kl_replica_state_t *out);

#endif
