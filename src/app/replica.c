/* replica.c - see replica.h. Process-wide state is atomics only (any shard reads it, shard
 * 0's probes write the per-replica part, any shard writes the fences); the primary's LSN
 * samples belong to shard 0's kl_replica_shard_t alone. */
#include "app/replica.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_shard.h"
#include "app/clients.h"
#include "app/request.h"
#include "app/tags.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rand.h"
#include "proto/hash.h"
#include "proto/json.h"

#define MASK (KL_REPLICA_FENCE_SLOTS - 1)

typedef struct {
    char *conninfo;
    _Atomic bool in_rotation;
    _Atomic int64_t lag_ms;       /* -1 until measured */
    _Atomic uint64_t caught_up_ns; /* kl_clock_ns() of the newest primary sample it replayed; 0: none */
    _Atomic uint64_t reads;
} replica_t;

struct kl_replicas {
    int n;
    int64_t max_lag_ms;
    replica_t r[KL_REPLICA_MAX];
    uint64_t seed;
    _Atomic uint64_t fence_all;                    /* every tag was evicted then */
    _Atomic uint64_t ryw[KL_REPLICA_FENCE_SLOTS];  /* subject hash -> its last write's answer */
    _Atomic uint64_t tagf[KL_REPLICA_FENCE_SLOTS]; /* tag hash -> its last eviction */
};

typedef struct {
    uint64_t ns;     /* when the primary was asked */
    uint64_t insert; /* pg_current_wal_insert_lsn(): past every record inserted before ns,
                        commits included, even asynchronous ones not yet flushed */
    uint64_t flush;  /* pg_current_wal_flush_lsn(): what a replica can have by now */
} sample_t;

typedef struct {
    kl_db_query_t q;
    kl_replica_shard_t *s;
    int idx;      /* replica index; -1: the primary */
    bool busy;
    uint64_t asked_ns; /* kl_clock_ns() at submit: before the server read its LSN */
} probe_t;

struct kl_replica_shard {
    kl_app_shard_t *as;
    kl_replicas_t *rs;
    kl_db_config_t cfg;  /* the primary's, with a replica's conninfo and no callbacks */
    kl_db_t *pools[KL_REPLICA_MAX];
    unsigned rr;         /* round-robin cursor */
    int probe_stmt;
    /* shard 0 only */
    uint64_t next_probe_ms;
    probe_t primary_probe, probes[KL_REPLICA_MAX];
    sample_t *ring;      /* oldest at head, nring of cap */
    size_t cap, head, nring;
    bool logged_out[KL_REPLICA_MAX];
};

/* Both probes prepare on every pool (a standby prepares the first and refuses to run it;
 * the primary answers NULL to the second): one statement list for all pools. The LSNs come
 * back as decimal byte offsets. */
static const char probe_primary_sql[] = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint, "
                                        "(pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint";
static const char probe_replica_sql[] = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";

kl_replicas_t *kl_replicas_new(const char *urls, int64_t max_lag_ms, char *err, size_t errlen) {
    err[0] = '\0';
    if (!urls || !*urls) return NULL;
    kl_replicas_t *rs = kl_calloc(sizeof(*rs));
    rs->max_lag_ms = max_lag_ms;
    rs->seed = kl_rand_seed(rs);
    for (const char *p = urls; *p;) {
        size_t n = strcspn(p, ",");
        const char *b = p, *e = p + n;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e == b) {
            snprintf(err, errlen, "--replica-urls: an empty entry");
            goto bad;
        }
        if (rs->n == KL_REPLICA_MAX) {
            snprintf(err, errlen, "--replica-urls: at most %d replicas", KL_REPLICA_MAX);
            goto bad;
        }
        replica_t *r = &rs->r[rs->n++];
        r->conninfo = kl_malloc((size_t)(e - b) + 1);
        memcpy(r->conninfo, b, (size_t)(e - b));
        r->conninfo[e - b] = '\0';
        atomic_init(&r->lag_ms, -1);
        p += n + (p[n] == ',');
    }
    return rs;
bad:
    kl_replicas_free(rs);
    return NULL;
}

void kl_replicas_free(kl_replicas_t *rs) {
    if (!rs) return;
    for (int i = 0; i < rs->n; i++) kl_free(rs->r[i].conninfo);
    kl_free(rs);
}

void kl_replicas_stmts(const kl_db_config_t *base, kl_db_stmt_t **out, int *n, int *first) {
    kl_db_stmt_t *s = kl_calloc(sizeof(*s) * (size_t)(base->nstmts + 2));
    if (base->nstmts) memcpy(s, base->stmts, sizeof(*s) * (size_t)base->nstmts);
    s[base->nstmts] = (kl_db_stmt_t){.name = "keel_lsn_primary", .sql = probe_primary_sql, .label = "keel: replica lag (primary LSN)"};
    s[base->nstmts + 1] = (kl_db_stmt_t){.name = "keel_lsn_replica", .sql = probe_replica_sql, .label = "keel: replica lag (replay LSN)"};
    *out = s;
    *n = base->nstmts + 2;
    *first = base->nstmts;
}

kl_replica_shard_t *kl_replica_shard_start(kl_app_shard_t *as, kl_replicas_t *rs, const kl_db_config_t *dbcfg,
                                           int probe_stmt) {
    if (!rs) return NULL;
    kl_replica_shard_t *s = kl_calloc(sizeof(*s));
    s->as = as;
    s->rs = rs;
    s->probe_stmt = probe_stmt;
    s->cfg = *dbcfg;
    s->cfg.on_notify = NULL; /* a standby refuses LISTEN; the primary pool hears every NOTIFY */
    s->cfg.on_connect = NULL;
    for (int i = 0; i < rs->n; i++) {
        s->cfg.conninfo = rs->r[i].conninfo; /* owned by rs, which outlives every shard */
        s->pools[i] = kl_db_start(as->shard, &s->cfg, as);
    }
    if (as->shard->id == 0) {
        /* enough samples to see a lag of max_lag, plus slack for probes answered late */
        s->cap = (size_t)(rs->max_lag_ms / KL_REPLICA_PROBE_MS) + 16;
        s->ring = kl_calloc(sizeof(sample_t) * s->cap);
    }
    return s;
}

static uint64_t atomic_max(_Atomic uint64_t *p, uint64_t v) {
    uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
    while (cur < v && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed, memory_order_relaxed))
        ;
    return cur;
}

static bool lsn_of(const kl_db_query_t *q, int col, uint64_t *lsn) {
    if (q->status || !q->res || PQntuples(q->res) != 1 || PQnfields(q->res) <= col || PQgetisnull(q->res, 0, col))
        return false;
    *lsn = strtoull(PQgetvalue(q->res, 0, col), NULL, 10);
    return true;
}

static void set_rotation(kl_replica_shard_t *s, int i, bool in, int64_t lag_ms, const char *why) {
    replica_t *r = &s->rs->r[i];
    bool was = atomic_exchange_explicit(&r->in_rotation, in, memory_order_relaxed);
    atomic_store_explicit(&r->lag_ms, lag_ms, memory_order_relaxed);
    if (was != in || (!in && !s->logged_out[i])) {
        kl_log(in ? KL_LOG_INFO : KL_LOG_WARN, in ? "replica in rotation" : "replica out of rotation",
               "\"replica\":%d,\"lagMs\":%lld,\"reason\":\"%s\"", i, (long long)lag_ms, why);
        s->logged_out[i] = !in;
    }
}

static void primary_probed(kl_db_query_t *q) {
    probe_t *p = q->ctx;
    kl_replica_shard_t *s = p->s;
    p->busy = false;
    uint64_t insert, flush;
    if (!lsn_of(q, 0, &insert) || !lsn_of(q, 1, &flush)) return; /* the primary is down: keep the last verdicts */
    if (s->nring == s->cap) { /* drop the oldest */
        s->head = (s->head + 1) % s->cap;
        s->nring--;
    }
    s->ring[(s->head + s->nring++) % s->cap] = (sample_t){.ns = p->asked_ns, .insert = insert, .flush = flush};
}

static void replica_probed(kl_db_query_t *q) {
    probe_t *p = q->ctx;
    kl_replica_shard_t *s = p->s;
    replica_t *r = &s->rs->r[p->idx];
    p->busy = false;
    uint64_t replay;
    if (!lsn_of(q, 0, &replay)) {
        set_rotation(s, p->idx, false, atomic_load_explicit(&r->lag_ms, memory_order_relaxed),
                     q->status ? "probe failed" : "not replaying (not a standby?)");
        return;
    }
    if (s->nring == 0) return; /* nothing to compare with yet */
    /* Samples are in time order and their LSNs never decrease. Lag counts from the oldest
     * sample whose flushed WAL the replica has not replayed (the flush LSN, not the insert
     * one: an idle primary may hold a partial page of non-commit records unflushed for a
     * while, which no replica can have). Caught-up needs the insert LSN: an asynchronous
     * commit may still be unflushed when its write is answered. */
    uint64_t caught = 0, behind_since = 0;
    for (size_t k = 0; k < s->nring; k++) {
        const sample_t *sm = &s->ring[(s->head + k) % s->cap];
        if (sm->insert <= replay) caught = sm->ns;
        if (sm->flush > replay && !behind_since) behind_since = sm->ns;
    }
    if (caught) atomic_max(&r->caught_up_ns, caught);
    uint64_t now = kl_clock_ns();
    int64_t lag_ms = behind_since && now > behind_since ? (int64_t)((now - behind_since) / 1000000) : 0;
    if (lag_ms > s->rs->max_lag_ms) set_rotation(s, p->idx, false, lag_ms, "lag above KEEL_REPLICA_MAX_LAG");
    else set_rotation(s, p->idx, true, lag_ms, "caught up");
}

void kl_replica_set_stmts(kl_replica_shard_t *s, const kl_db_stmt_t *stmts, int nstmts) {
    if (!s) return;
    s->cfg.stmts = stmts;
    s->cfg.nstmts = nstmts;
    for (int i = 0; i < s->rs->n; i++)
        if (s->pools[i]) kl_db_set_stmts(s->pools[i], stmts, nstmts);
}

void kl_replica_tick(kl_replica_shard_t *s) {
    if (!s || !s->ring || s->as->shard->now_ms < s->next_probe_ms) return;
    s->next_probe_ms = s->as->shard->now_ms + KL_REPLICA_PROBE_MS;
    if (!s->primary_probe.busy && s->as->db) {
        s->primary_probe = (probe_t){.s = s, .idx = -1, .busy = true, .asked_ns = kl_clock_ns()};
        s->primary_probe.q = (kl_db_query_t){.stmt = s->probe_stmt, .urgent = true, .done = primary_probed,
                                             .ctx = &s->primary_probe};
        kl_db_submit(s->as->db, &s->primary_probe.q);
    }
    for (int i = 0; i < s->rs->n; i++) {
        probe_t *p = &s->probes[i];
        if (p->busy || !s->pools[i]) continue;
        *p = (probe_t){.s = s, .idx = i, .busy = true};
        p->q = (kl_db_query_t){.stmt = s->probe_stmt + 1, .urgent = true, .done = replica_probed, .ctx = p};
        kl_db_submit(s->pools[i], &p->q);
    }
}

void kl_replica_flush(kl_replica_shard_t *s) {
    if (!s) return;
    for (int i = 0; i < s->rs->n; i++)
        if (s->pools[i]) kl_db_flush(s->pools[i]);
}

bool kl_replica_awaiting(const kl_replica_shard_t *s) {
    for (int i = 0; s && i < s->rs->n; i++)
        if (kl_db_awaiting(s->pools[i])) return true;
    return false;
}

void kl_replica_shard_stop(kl_replica_shard_t *s) {
    if (!s) return;
    for (int i = 0; i < s->rs->n; i++) {
        kl_db_stop(s->pools[i]); /* fails in-flight reads and probes (done clears busy) */
        s->pools[i] = NULL;
    }
}

void kl_replica_shard_free(kl_replica_shard_t *s) {
    if (!s) return;
    kl_free(s->ring);
    kl_free(s);
}

/* The newest fence a read must respect: its subject's last write, its tags' last evictions,
 * the last evict-everything. */
static uint64_t fence_of(kl_replicas_t *rs, uint64_t subject_hash, const char *tags) {
    uint64_t need = atomic_load_explicit(&rs->fence_all, memory_order_relaxed);
    if (subject_hash) {
        uint64_t f = atomic_load_explicit(&rs->ryw[subject_hash & MASK], memory_order_relaxed);
        if (f > need) need = f;
    }
    kl_str_t tag;
    for (const char *t = tags ? tags : ""; kl_tags_next(&t, &tag);) {
        uint64_t f = atomic_load_explicit(&rs->tagf[kl_hash64(tag.base, tag.len, rs->seed) & MASK], memory_order_relaxed);
        if (f > need) need = f;
    }
    return need;
}

/* Whether replica i may serve a read with this fence: in rotation, and caught up to a sample
 * asked for after the fence (what committed before the sample is there). */
static bool serves(kl_replicas_t *rs, int i, uint64_t need) {
    replica_t *r = &rs->r[i];
    return atomic_load_explicit(&r->in_rotation, memory_order_relaxed) &&
           atomic_load_explicit(&r->caught_up_ns, memory_order_relaxed) > need;
}

kl_db_t *kl_replica_pick(kl_replica_shard_t *s, kl_db_t *primary, bool route_primary, uint64_t subject_hash,
                         const char *tags) {
    if (!s || route_primary) return primary;
    kl_replicas_t *rs = s->rs;
    uint64_t need = fence_of(rs, subject_hash, tags);
    for (int k = 0; k < rs->n; k++) {
        int i = (int)((s->rr + (unsigned)k) % (unsigned)rs->n);
        if (!s->pools[i] || kl_db_live(s->pools[i]) == 0 || !serves(rs, i, need)) continue;
        s->rr = (unsigned)i + 1;
        atomic_fetch_add_explicit(&rs->r[i].reads, 1, memory_order_relaxed);
        return s->pools[i];
    }
    return primary;
}

uint64_t kl_replica_subject(const kl_app_shard_t *as, kl_request_t *r, const char *sub) {
    if (!as->replicas) return 0;
    uint64_t h;
    if (sub) {
        h = kl_hash64(sub, strlen(sub), as->replicas->seed ^ 's');
    } else {
        kl_ip_t client = r->peer, group;
        if (as->clients && kl_clients_trusted(as->clients, &r->peer)) {
            kl_str_t fwd = kl_request_header_list(r, kl_clients_header(as->clients));
            kl_clients_resolve(as->clients, &r->peer, fwd.base, fwd.len, &client);
        }
        kl_ip_group(&client, &group);
        h = kl_hash64(group.b, sizeof(group.b), as->replicas->seed ^ 'i');
    }
    return h | 1; /* 0 means "no subject" */
}

void kl_replica_wrote(kl_replicas_t *rs, uint64_t subject_hash) {
    if (!rs || !subject_hash) return;
    atomic_max(&rs->ryw[subject_hash & MASK], kl_clock_ns());
}

void kl_replica_evicted(kl_replicas_t *rs, kl_str_t tag, bool all) {
    if (!rs) return;
    if (all) atomic_max(&rs->fence_all, kl_clock_ns());
    else atomic_max(&rs->tagf[kl_hash64(tag.base, tag.len, rs->seed) & MASK], kl_clock_ns());
}

bool kl_replica_state(const kl_replicas_t *rs, int i, kl_replica_state_t *out) {
    if (!rs || i < 0 || i >= rs->n) return false;
    out->in_rotation = atomic_load_explicit(&rs->r[i].in_rotation, memory_order_relaxed);
    out->lag_ms = atomic_load_explicit(&rs->r[i].lag_ms, memory_order_relaxed);
    out->reads = atomic_load_explicit(&rs->r[i].reads, memory_order_relaxed);
    return true;
}
