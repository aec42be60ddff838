/* test_replica.c - replica.c without servers: the URL list, the probe statements, the lag and
 * caught-up arithmetic from (primary sample, replay LSN) answers built as libpq results, and
 * the fences (a subject's write and a tag's eviction keep reads off a replica until it has
 * replayed a sample asked for after them). The pools themselves are driven by
 * tests/integration/test_replica.py against a real streaming replica. */
#include "app/replica.c"

#include "kt.h"

/* A query answered with one row of the given columns (NULL: SQL NULL). */
static PGresult *row(int n, const char *const *vals) {
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc at[2];
    memset(at, 0, sizeof(at));
    for (int i = 0; i < n; i++) {
        at[i].name = (char *)"x";
        at[i].typid = 20;
        at[i].typlen = 8;
        at[i].atttypmod = -1;
    }
    PQsetResultAttrs(r, n, at);
    for (int i = 0; i < n; i++) PQsetvalue(r, 0, i, (char *)vals[i], vals[i] ? (int)strlen(vals[i]) : -1);
    return r;
}

static kl_replica_shard_t *fake_shard(kl_replicas_t *rs) {
    kl_replica_shard_t *s = kl_calloc(sizeof(*s));
    s->rs = rs;
    s->cap = (size_t)(rs->max_lag_ms / KL_REPLICA_PROBE_MS) + 16;
    s->ring = kl_calloc(sizeof(sample_t) * s->cap);
    return s;
}

/* The primary answered (insert, flush) to a probe asked at `asked`. */
static void primary_says(kl_replica_shard_t *s, uint64_t asked, uint64_t insert, uint64_t flush) {
    char a[24], b[24];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)insert);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)flush);
    const char *v[2] = {a, b};
    probe_t p = {.s = s, .idx = -1, .busy = true, .asked_ns = asked};
    p.q.ctx = &p;
    p.q.res = row(2, v);
    primary_probed(&p.q);
    KT_CHECK(!p.busy);
    PQclear(p.q.res);
}

/* Replica i answered its replay LSN (NULL: not replaying). */
static void replica_says(kl_replica_shard_t *s, int i, const char *replay) {
    const char *v[1] = {replay};
    probe_t p = {.s = s, .idx = i, .busy = true};
    p.q.ctx = &p;
    p.q.res = row(1, v);
    replica_probed(&p.q);
    PQclear(p.q.res);
}

static void test_url_list(void) {
    char err[256];
    KT_CHECK(kl_replicas_new("", 1000, err, sizeof(err)) == NULL && err[0] == '\0');
    kl_replicas_t *rs = kl_replicas_new(" postgresql://a/db , host=b dbname=c", 1000, err, sizeof(err));
    KT_CHECK(rs != NULL);
    if (!rs) return;
    KT_EQ(rs->n, 2);
    KT_CHECK(!strcmp(rs->r[0].conninfo, "postgresql://a/db"));
    KT_CHECK(!strcmp(rs->r[1].conninfo, "host=b dbname=c"));
    kl_replica_state_t st;
    KT_CHECK(kl_replica_state(rs, 1, &st) && !st.in_rotation && st.lag_ms == -1);
    KT_CHECK(!kl_replica_state(rs, 2, &st));
    kl_replicas_free(rs);
    KT_CHECK(kl_replicas_new("a,,b", 1000, err, sizeof(err)) == NULL && strstr(err, "empty entry"));
    KT_CHECK(kl_replicas_new("a,b,c,d,e,f,g,h,i", 1000, err, sizeof(err)) == NULL && strstr(err, "at most 8"));
}

static void test_stmts(void) {
    kl_db_stmt_t base[1] = {{.name = "r0", .sql = "SELECT 1", .label = "r0"}};
    kl_db_config_t cfg = {.stmts = base, .nstmts = 1};
    kl_db_stmt_t *s;
    int n, first;
    kl_replicas_stmts(&cfg, &s, &n, &first);
    KT_EQ(n, 3);
    KT_EQ(first, 1);
    KT_CHECK(!strcmp(s[0].name, "r0"));
    KT_CHECK(strstr(s[1].sql, "pg_current_wal_insert_lsn") && strstr(s[1].sql, "pg_current_wal_flush_lsn"));
    KT_CHECK(strstr(s[2].sql, "pg_last_wal_replay_lsn") != NULL);
    kl_free(s);
}

static void test_lag_and_fences(void) {
    char err[256];
    kl_replicas_t *rs = kl_replicas_new("a,b", 1000, err, sizeof(err));
    kl_replica_shard_t *s = fake_shard(rs);
    uint64_t now = kl_clock_ns(), ms = 1000000;
    replica_says(s, 0, "100"); /* no primary sample yet: nothing to judge by */
    KT_CHECK(!serves(rs, 0, 0));
    primary_says(s, now - 3000 * ms, 1000, 1000);
    primary_says(s, now - 2000 * ms, 2000, 1900);
    primary_says(s, now - 500 * ms, 3000, 3000);
    /* replayed the second sample: behind since the third, 0.5 s ago, within 1 s */
    replica_says(s, 0, "2000");
    kl_replica_state_t st;
    KT_CHECK(kl_replica_state(rs, 0, &st) && st.in_rotation);
    KT_CHECK(st.lag_ms >= 500 && st.lag_ms < 1000);
    KT_EQ(atomic_load(&rs->r[0].caught_up_ns), now - 2000 * ms);
    KT_CHECK(serves(rs, 0, fence_of(rs, 0, NULL)));
    /* behind since the second sample's flush (1900 > 1000), 2 s ago: out */
    replica_says(s, 1, "1000");
    KT_CHECK(kl_replica_state(rs, 1, &st) && !st.in_rotation && st.lag_ms >= 2000);
    KT_CHECK(!serves(rs, 1, 0));
    /* a write by one subject: its reads stay off replica 0, another subject's do not */
    uint64_t writer = 0x1234567 | 1, other = 0x7654321 | 1;
    kl_replica_wrote(rs, writer);
    KT_CHECK(!serves(rs, 0, fence_of(rs, writer, NULL)));
    if (((writer ^ other) & MASK) != 0) KT_CHECK(serves(rs, 0, fence_of(rs, other, NULL)));
    /* an evicted tag: fills carrying it stay off the replica, others do not */
    kl_replica_evicted(rs, (kl_str_t){"kv:1", 4}, false);
    KT_CHECK(!serves(rs, 0, fence_of(rs, 0, "a\nkv:1")));
    if (((kl_hash64("kv:1", 4, rs->seed) ^ kl_hash64("kv:2", 4, rs->seed)) & MASK) != 0)
        KT_CHECK(serves(rs, 0, fence_of(rs, 0, "kv:2")));
    /* a sample asked after both fences, then replayed: the fences are passed */
    primary_says(s, kl_clock_ns(), 4000, 4000);
    replica_says(s, 0, "4000");
    KT_CHECK(kl_replica_state(rs, 0, &st) && st.in_rotation && st.lag_ms == 0);
    KT_CHECK(serves(rs, 0, fence_of(rs, writer, "kv:1")));
    /* an idle primary holding a partial page unflushed (insert past flush): no lag, but the
     * caught-up time does not move past what the replica cannot have */
    uint64_t before = atomic_load(&rs->r[0].caught_up_ns);
    primary_says(s, kl_clock_ns(), 5000, 4000);
    replica_says(s, 0, "4000");
    KT_CHECK(kl_replica_state(rs, 0, &st) && st.in_rotation && st.lag_ms == 0);
    KT_EQ(atomic_load(&rs->r[0].caught_up_ns), before);
    /* evict-everything fences every read */
    kl_replica_evicted(rs, (kl_str_t){NULL, 0}, true);
    KT_CHECK(!serves(rs, 0, fence_of(rs, 0, NULL)));
    /* a replica that answers NULL (not a standby) leaves rotation */
    replica_says(s, 0, NULL);
    KT_CHECK(kl_replica_state(rs, 0, &st) && !st.in_rotation);
    kl_replica_shard_free(s);
    kl_replicas_free(rs);
}

int main(void) {
    KT_RUN(test_url_list);
    KT_RUN(test_stmts);
    KT_RUN(test_lag_and_fences);
    return KT_DONE();
}
