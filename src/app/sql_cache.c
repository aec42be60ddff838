/* sql_cache.c - see sql_cache.h. Fills live on the heap, not in any request's arena,
 * because their query may outlive every request that waits on it. */
#include "app/sql_cache.h"

#include <errno.h>
#include <string.h>

#include "app/cache_key.h"
#include "app/replica.h"
#include "app/represent.h"
#include "app/respond.h"
#include "app/routes_gen.h"
#include "app/sql_answer.h"
#include "app/tags.h"
#include "core/alloc.h"
#include "core/rand.h"
#include "core/sbuf.h"
#include "proto/hash.h"

typedef struct kl_fetch kl_fetch_t;

typedef struct {
    kl_list_t link;
    kl_request_t *r;
} waiter_t;

struct kl_fetch {
    kl_db_query_t q;
    kl_app_shard_t *as;
    const kl_route_t *route;
    const kl_route_table_t *table; /* route's, held while the fill runs */
    char *key;
    size_t keylen;
    uint64_t hash;
    const char **values; /* one heap block: the pointers, then the strings */
    char *tags;          /* expanded @tags, '\n'-separated ("" when none) */
    char *auth_mem;      /* copies of the claims JSON and role its query runs with */
    kl_db_call_t pre[2]; /* their set_config calls (auth.h) */
    const char *auth_values[2];
    bool superseded;     /* a write evicted one of its tags while it ran: do not store */
    kl_list_t waiters;
    kl_fetch_t *next;    /* hash chain */
};

/* Buckets of a shard's fill table (a power of two). */
#define FILL_BUCKETS 1024

struct kl_sql_fills {
    uint64_t seed;                   /* random, so clients cannot aim keys at one bucket */
    kl_fetch_t *buckets[FILL_BUCKETS];
};

static kl_fetch_t *find(kl_app_shard_t *as, const char *key, size_t len, uint64_t h) {
    for (kl_fetch_t *f = as->fills->buckets[h & (FILL_BUCKETS - 1)]; f; f = f->next)
        if (f->hash == h && f->keylen == len && memcmp(f->key, key, len) == 0) return f;
    return NULL;
}

static void unlink_fetch(kl_app_shard_t *as, kl_fetch_t *f) {
    kl_fetch_t **pp = &as->fills->buckets[f->hash & (FILL_BUCKETS - 1)];
    while (*pp && *pp != f) pp = &(*pp)->next;
    if (*pp) *pp = f->next;
}

static void serve_entry(kl_request_t *r, kl_app_shard_t *as, kl_cache_entry_t *e) {
    uint64_t now = as->shard->now_ms;
    kl_rep_t rep = {
        .status = e->status,
        .body = {kl_cache_entry_body(e), e->body_len},
        .gzip = {e->gzip, e->gzip_len},
        .etag_hash = e->etag_hash,
        .etag_known = true,
        .age_s = (int64_t)kl_cache_age_s(e, now),
    };
    char cc[64];
    kl_sbuf_t b = kl_sbuf(cc, sizeof(cc) - 1);
    kl_sbuf_str(&b, e->is_private ? "private, max-age=" : "public, max-age=");
    kl_sbuf_u64(&b, kl_cache_max_age_s(e, now));
    cc[kl_sbuf_len(&b)] = '\0';
    rep.cache_control = cc;
    kl_rep_prepare(r, &rep, as->gzip);
    /* The gzip variant is computed once per entry, on the first client that accepts it. */
    if (rep.use_gzip && !e->gzip) kl_cache_set_gzip(as->cache, e, rep.gzip.base, rep.gzip.len);
    kl_rep_send(r, &rep);
}

static void serve_body(kl_request_t *r, kl_app_shard_t *as, const kl_route_def_t *d, kl_str_t body) {
    kl_rep_t rep = {.status = d->status, .body = body, .age_s = -1, .cache_control = d->cache_private ? "private" : NULL};
    kl_rep_prepare(r, &rep, as->gzip);
    kl_rep_send(r, &rep);
}

static waiter_t *next_waiter(kl_fetch_t *f) {
    kl_list_t *n = kl_list_shift(&f->waiters);
    waiter_t *w = n ? kl_container_of(n, waiter_t, link) : NULL;
    if (w) w->r->db_us += f->q.duration_us; /* the query each waiter waited for (access log) */
    return w;
}

static void fetch_done(kl_db_query_t *q) {
    kl_fetch_t *f = q->ctx;
    kl_app_shard_t *as = f->as;
    const kl_route_def_t *d = &f->route->def;
    waiter_t *w;
    unlink_fetch(as, f);
    kl_arena_t tmp;
    kl_arena_init(&tmp, &as->shard->recycler);
    kl_str_t body;
    int rc = q->status ? 0 : kl_sql_answer_body(&tmp, d, q, &body);
    /* A waiter's request (and the waiter itself, in its arena) is gone once answered, so
     * each is unlinked before it is served. */
    if (q->status) {
        while ((w = next_waiter(f)) != NULL) kl_sql_answer_error(w->r, f->route, q);
        kl_cache_end_refresh(as->cache, f->key, f->keylen); /* the stale entry may try again */
    } else if (rc == -ENOMEM) {
        while ((w = next_waiter(f)) != NULL) kl_sql_answer_no_body(w->r, rc);
        kl_cache_end_refresh(as->cache, f->key, f->keylen);
    } else if (rc < 0) {
        kl_cache_remove(as->cache, f->key, f->keylen); /* the row is gone */
        while ((w = next_waiter(f)) != NULL) kl_sql_answer_no_body(w->r, rc);
    } else if (f->superseded) {
        /* The rows may predate a write that committed meanwhile: answer those who asked
         * before it, keep nothing. */
        while ((w = next_waiter(f)) != NULL) serve_body(w->r, as, d, body);
    } else {
        kl_str_t tags[KL_ROUTE_MAX_TAGS];
        size_t nt = 0;
        for (const char *t = f->tags; nt < KL_ROUTE_MAX_TAGS && kl_tags_next(&t, &tags[nt]);) nt++;
        kl_cache_put_t in = {
            .status = d->status, .content_type = "application/json", .body = body.base, .body_len = body.len,
            .ttl_ms = d->cache_ms, .swr_ms = d->swr_ms, .is_private = d->cache_private, .tags = tags, .ntags = nt,
        };
        kl_cache_entry_t *e = NULL;
        if (kl_cache_put(as->cache, f->key, f->keylen, &in, as->shard->now_ms, &e) == 0) {
            kl_cache_hold(e); /* serving may gzip into the cache, which can evict others */
            while ((w = next_waiter(f)) != NULL) serve_entry(w->r, as, e);
            kl_cache_release(as->cache, e);
        } else { /* larger than the cache takes: answer without keeping it */
            while ((w = next_waiter(f)) != NULL) serve_body(w->r, as, d, body);
        }
    }
    kl_arena_reset(&tmp);
    kl_free(f->tags);
    kl_free(f->auth_mem);
    kl_free(f->values);
    kl_free(f->key);
    kl_routes_release(as, f->table);
    kl_free(f);
}

/* Starts the one query that fills key; r (NULL for a background refresh) waits on it. */
static void start_fetch(kl_app_shard_t *as, const kl_route_t *rt, const char *key, size_t klen, uint64_t h,
                        const char **values, const kl_auth_id_t *id, kl_request_t *r, kl_arena_t *a,
                        const kl_route_table_t *table) {
    kl_fetch_t *f = kl_calloc(sizeof(*f));
    f->table = table;
    kl_routes_hold(as, table); /* a background refresh outlives its request */
    kl_tags_src_t src = {.def = &rt->def, .values = values, .claims = id ? id->claims : NULL};
    f->tags = kl_strdup(kl_tags_join(a, &src, rt->def.tags, rt->def.n_tags));
    f->as = as;
    f->route = rt;
    f->key = kl_malloc(klen);
    memcpy(f->key, key, klen);
    f->keylen = klen;
    f->hash = h;
    size_t n = rt->def.n_params, bytes = sizeof(char *) * (n + 1);
    for (size_t i = 0; i < n; i++) bytes += values[i] ? strlen(values[i]) + 1 : 0;
    f->values = kl_malloc(bytes);
    char *p = (char *)(f->values + n + 1);
    for (size_t i = 0; i < n; i++) {
        if (!values[i]) {
            f->values[i] = NULL;
            continue;
        }
        size_t l = strlen(values[i]) + 1;
        memcpy(p, values[i], l);
        f->values[i] = p;
        p += l;
    }
    kl_list_init(&f->waiters);
    if (r) {
        waiter_t *w = kl_arena_alloc(r->arena, sizeof(*w));
        w->r = r;
        kl_list_push(&f->waiters, &w->link);
    }
    kl_fetch_t **b = &as->fills->buckets[h & (FILL_BUCKETS - 1)];
    f->next = *b;
    *b = f;
    int npre = 0;
    if (id) { /* the fill may outlive the request: its own copies */
        size_t jl = id->claims_json ? strlen(id->claims_json) + 1 : 0, rl = id->role ? strlen(id->role) + 1 : 0;
        f->auth_mem = kl_malloc(jl + rl + 1);
        char *json = jl ? memcpy(f->auth_mem, id->claims_json, jl) : NULL;
        char *role = rl ? memcpy(f->auth_mem + jl, id->role, rl) : NULL;
        npre = kl_auth_calls(table->stmt_auth_claims, table->stmt_auth_role, json, role, f->pre,
                             f->auth_values);
    }
    f->q = (kl_db_query_t){
        .stmt = rt->stmt, .nparams = (int)n, .values = f->values, .timeout_ms = (int)rt->def.timeout_ms,
        .capped = rt->def.method == KL_ROUTE_GET, .rows_max = rt->def.rows_max,
        .first_row = rt->def.returns == KL_ROUTE_RETURNS_ONE,
        .pre = npre ? f->pre : NULL, .npre = npre, .done = fetch_done, .ctx = f,
        .groupable = rt->def.method == KL_ROUTE_GET && !npre && !rt->def.timeout_ms, /* db.h */
    };
    /* A replica only when it has replayed the writes that evicted these tags, and the asking
     * subject's own last write (replica.h). */
    const char *sub = id && id->claims ? kl_jwt_subject(id->claims) : NULL;
    uint64_t who = r ? kl_replica_subject(as, r, sub) : 0;
    kl_db_t *db = kl_replica_pick(as->replica, as->db, rt->def.primary, who, f->tags);
    kl_db_submit(db, &f->q); /* may answer at once (queue full): f is gone then */
}

void kl_sql_cache_serve(kl_request_t *r, const kl_route_t *rt, const char **values, const kl_auth_id_t *id) {
    kl_app_shard_t *as = r->as;
    const kl_jwt_claims_t *claims = id ? id->claims : NULL;
    /* private: the subject joins the key, so one user's entry never serves another; and the
     * role the fill runs as (KEEL_JWT_ROLES), written first: a role name holds no ',' */
    const char *subject = rt->def.cache_private && claims ? kl_jwt_subject(claims) : NULL;
    if (subject && id->role) {
        size_t rl = strlen(id->role), sl = strlen(subject);
        char *both = kl_arena_alloc(r->arena, rl + sl + 2);
        memcpy(both, id->role, rl);
        both[rl] = ',';
        memcpy(both + rl + 1, subject, sl + 1);
        subject = both;
    }
    size_t klen;
    char *key = kl_cache_key(r->arena, rt->stmt, values, rt->def.n_params, subject, &klen);
    uint64_t h = kl_hash64(key, klen, as->fills->seed);
    kl_cache_entry_t *e;
    kl_cache_state_t st = kl_cache_lookup(as->cache, key, klen, as->shard->now_ms, &e);
    if (st != KL_CACHE_MISS) {
        r->cache = st == KL_CACHE_STALE ? KL_MX_CACHE_STALE : KL_MX_CACHE_HIT;
        kl_mx_cache(&as->mx, r->mx_slot, (kl_mx_cache_t)r->cache);
        bool refresh = st == KL_CACHE_STALE && !find(as, key, klen, h) && kl_cache_try_refresh(e);
        kl_cache_hold(e); /* the refresh may replace the entry before we serve it */
        if (refresh) start_fetch(as, rt, key, klen, h, values, id, NULL, r->arena, r->routes);
        serve_entry(r, as, e);
        kl_cache_release(as->cache, e);
        return;
    }
    kl_request_defer(r);
    kl_fetch_t *f = find(as, key, klen, h);
    r->cache = f ? KL_MX_CACHE_COALESCED : KL_MX_CACHE_MISS;
    kl_mx_cache(&as->mx, r->mx_slot, (kl_mx_cache_t)r->cache);
    if (f) { /* coalesce: wait for the query already under way */
        waiter_t *w = kl_arena_alloc(r->arena, sizeof(*w));
        w->r = r;
        kl_list_push(&f->waiters, &w->link);
        return;
    }
    start_fetch(as, rt, key, klen, h, values, id, r, r->arena, r->routes);
}

static bool has_tag(const char *tags, kl_str_t tag) {
    kl_str_t t;
    for (const char *c = tags; kl_tags_next(&c, &t);)
        if (t.len == tag.len && memcmp(t.base, tag.base, t.len) == 0) return true;
    return false;
}

void kl_sql_cache_invalidate(kl_app_shard_t *as, kl_str_t tag, bool all) {
    kl_replica_evicted(as->replicas, tag, all); /* fills of the tag wait for replicas to replay it */
    if (!as->cache) return;
    if (all) kl_cache_clear(as->cache);
    else kl_cache_invalidate_tag(as->cache, tag);
    /* Fills under way may carry rows read before the write: they must not be stored, and
     * readers from now on must not join them. A scan of every bucket: writes are rare
     * next to reads, and the table is small. */
    for (size_t i = 0; i < FILL_BUCKETS; i++) {
        for (kl_fetch_t **pp = &as->fills->buckets[i]; *pp;) {
            kl_fetch_t *f = *pp;
            if (all || has_tag(f->tags, tag)) {
                f->superseded = true;
                *pp = f->next; /* unlinked; fetch_done's unlink then finds nothing */
                f->next = NULL;
            } else {
                pp = &f->next;
            }
        }
    }
}

void kl_sql_cache_init(kl_app_shard_t *as) {
    as->fills = kl_calloc(sizeof(*as->fills));
    as->fills->seed = kl_rand_seed(as->fills);
}

void kl_sql_cache_shutdown(kl_app_shard_t *as) {
    /* kl_db_stop already failed every query, so every fill answered its waiters and was
     * freed; nothing is left to release here but the table. */
    kl_free(as->fills);
    as->fills = NULL;
}
