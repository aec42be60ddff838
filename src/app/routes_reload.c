#include "app/routes_reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/metrics.h"
#include "app/replica.h"
#include "app/routes_load.h"
#include "app/sql_cache.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/shard_post.h"

/* How long kl_routes_reload waits for every shard to install the new table. */
#define INSTALL_WAIT_MS 5000

/* What one reload posts to every shard. */
struct kl_routes_post {
    kl_route_table_t *t;
    bool clear_cache;
    _Atomic unsigned installed;
};

struct kl_routes_live {
    pthread_mutex_t mu; /* one reload at a time; guards everything below */
    const kl_config_t *cfg;
    const kl_auth_t *auth;
    bool have_rate;
    kl_app_shard_t *apps;
    unsigned n;
    const kl_route_table_t *cur; /* what the shards serve */
    const kl_route_table_t *startup; /* the table keel started with: names the metrics slots */
    /* Every statement any table has used, by index; never shrinks, never renumbered. */
    kl_db_stmt_t *reg;
    size_t nreg, capreg;
    char **owned; /* the strings of reg entries added by reloads (the startup table owns its own) */
    size_t nowned, capowned;
};

/* On the shard, between requests: the MSG_RING completion of kl_routes_reload's post. */
static void on_post(kl_shard_t *sh, kl_io_t *io, const struct io_uring_cqe *cqe) {
    (void)io;
    (void)cqe;
    kl_app_shard_t *as = sh->app;
    struct kl_routes_post *p = atomic_exchange_explicit(&as->reload_post, NULL, memory_order_acquire);
    if (!p) return;
    const kl_route_table_t *old = as->routes;
    /* the pool first: from here on a query may name a new statement */
    if (as->db) kl_db_set_stmts(as->db, p->t->stmts, (int)p->t->nstmts);
    kl_replica_set_stmts(as->replica, p->t->stmts, (int)p->t->nstmts);
    as->routes = p->t;
    if (p->clear_cache) kl_sql_cache_invalidate(as, (kl_str_t){NULL, 0}, true);
    kl_routes_retire(as, old);
    atomic_fetch_add_explicit(&p->installed, 1, memory_order_release);
}

kl_routes_live_t *kl_routes_live_new(const kl_config_t *cfg, const kl_route_table_t *startup, kl_app_shard_t *apps,
                                     unsigned n, const kl_auth_t *auth, bool have_rate) {
    kl_routes_live_t *l = kl_calloc(sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->cfg = cfg;
    l->auth = auth;
    l->have_rate = have_rate;
    l->apps = apps;
    l->n = n;
    l->cur = l->startup = startup;
    /* The pools' own list, which may hold more than the routes' (the replica lag probes,
     * replica.h): a reload appends after all of it, so no index the pools use moves. */
    const kl_db_stmt_t *base = apps[0].dbcfg ? apps[0].dbcfg->stmts : startup ? startup->stmts : NULL;
    size_t nbase = apps[0].dbcfg ? (size_t)apps[0].dbcfg->nstmts : startup ? startup->nstmts : 0;
    if (nbase) {
        l->capreg = l->nreg = nbase;
        l->reg = kl_malloc(sizeof(kl_db_stmt_t) * l->nreg);
        memcpy(l->reg, base, sizeof(kl_db_stmt_t) * l->nreg);
    }
    for (unsigned i = 0; i < n; i++) apps[i].reload_io.cb = on_post;
    return l;
}

void kl_routes_live_free(kl_routes_live_t *l) {
    if (!l) return;
    if (l->cur && l->cur->gen) kl_routes_gen_free((kl_route_table_t *)l->cur);
    for (size_t i = 0; i < l->nowned; i++) kl_free(l->owned[i]);
    kl_free(l->owned);
    kl_free(l->reg);
    pthread_mutex_destroy(&l->mu);
    kl_free(l);
}

static void own(kl_routes_live_t *l, const char *s) {
    if (l->nowned == l->capowned) l->owned = kl_realloc(l->owned, sizeof(char *) * (l->capowned = l->capowned * 2 + 16));
    l->owned[l->nowned++] = (char *)s;
}

/* The registry index of statement s of a freshly loaded table, taking over or freeing its
 * strings: an entry with the same label (method, path, file), SQL and parameter count is the
 * same statement; anything else is appended under a new name. */
static int intern(kl_routes_live_t *l, kl_db_stmt_t *s) {
    for (size_t i = 0; i < l->nreg; i++) {
        const kl_db_stmt_t *e = &l->reg[i];
        if (e->nparams == s->nparams && !strcmp(e->label, s->label) && !strcmp(e->sql, s->sql)) {
            kl_free((char *)s->name), kl_free((char *)s->sql), kl_free((char *)s->label);
            return (int)i;
        }
    }
    if (l->nreg == l->capreg) l->reg = kl_realloc(l->reg, sizeof(kl_db_stmt_t) * (l->capreg = l->capreg * 2 + 16));
    char name[32];
    snprintf(name, sizeof(name), "keel_s%zu", l->nreg); /* the startup table's are keel_r... / keel_idem... */
    kl_free((char *)s->name);
    kl_db_stmt_t *e = &l->reg[l->nreg];
    e->name = kl_strdup(name);
    e->sql = s->sql;
    e->nparams = s->nparams;
    e->label = s->label;
    e->optional = s->optional;
    e->batch = 0; /* adopt links it, on the registry's indices */
    own(l, e->name), own(l, e->sql), own(l, e->label);
    return (int)l->nreg++;
}

static int remap(const int *map, int i) { return i < 0 ? -1 : map[i]; }

static const kl_route_t *find_route(const kl_route_table_t *t, const kl_route_t *r) {
    for (size_t i = 0; t && i < t->n; i++) {
        const kl_route_def_t *d = &t->routes[i].def;
        if (d->method == r->def.method && !strcmp(d->path, r->def.path)) return &t->routes[i];
    }
    return NULL;
}

/* Turns a table kl_routes_load made into one on the registry's indices, with its own
 * snapshot of the registry (what the pools get) and a lifetime. */
static kl_route_table_t *adopt(kl_routes_live_t *l, kl_route_table_t *in) {
    int *map = kl_malloc(sizeof(int) * (in->nstmts + 1));
    for (size_t i = 0; i < in->nstmts; i++) map[i] = intern(l, &in->stmts[i]);
    for (size_t i = 0; i < in->nstmts; i++)
        if (in->stmts[i].batch > 0) l->reg[map[i]].batch = map[in->stmts[i].batch - 1] + 1;
    kl_route_table_t *t = kl_malloc(sizeof(*t));
    *t = *in;
    for (size_t i = 0; i < t->n; i++) {
        t->routes[i].stmt = remap(map, t->routes[i].stmt);
        t->routes[i].stmt_idem = remap(map, t->routes[i].stmt_idem);
    }
    for (size_t i = 0; i < t->n; i++) { /* the metrics slot of the same route at startup */
        const kl_route_t *s = find_route(l->startup, &t->routes[i]);
        t->routes[i].mx_slot = s ? s->mx_slot : KL_MX_SLOT_RELOADED;
    }
    t->stmt_idem_claim = remap(map, t->stmt_idem_claim);
    t->stmt_idem_lookup = remap(map, t->stmt_idem_lookup);
    t->stmt_idem_purge = remap(map, t->stmt_idem_purge);
    t->stmt_auth_claims = remap(map, t->stmt_auth_claims);
    t->stmt_auth_role = remap(map, t->stmt_auth_role);
    kl_free(map);
    kl_free(in->stmts);
    t->stmts = kl_malloc(sizeof(kl_db_stmt_t) * (l->nreg ? l->nreg : 1));
    memcpy(t->stmts, l->reg, sizeof(kl_db_stmt_t) * l->nreg);
    t->nstmts = l->nreg;
    kl_routes_gen_new(t, l->n);
    memset(in, 0, sizeof(*in));
    return t;
}


/* Checks what only a running keel knows (the loader and the database checked the rest). */
static int check_running(const kl_routes_live_t *l, const kl_route_table_t *t, char *err, size_t errlen) {
    for (size_t i = 0; i < t->n && !l->have_rate; i++) {
        const kl_route_def_t *d = &t->routes[i].def;
        if (d->rate_count) {
            snprintf(err, errlen, "%s:%d: @rate needs a restart: no route had @rate when keel started, so the "
                     "shared table it counts in was not made", d->file, d->ann_line[KL_ROUTE_ANN_RATE]);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_db(const kl_routes_live_t *l, const kl_route_table_t *t, char *err, size_t errlen) {
    char e[768];
    PGconn *pg = kl_db_connect_blocking(l->cfg->database_url, 3, e, sizeof(e));
    if (!pg) {
        snprintf(err, errlen, "cannot check the routes' SQL: database unreachable: %s", e);
        return -EHOSTUNREACH;
    }
    int r = kl_routes_check_sql(t, pg, err, errlen);
    if (r == 0 && t->stmt_auth_role >= 0) r = kl_auth_check_db(l->auth, pg, t->stmt_idem_claim >= 0, err, errlen);
    PQfinish(pg);
    return r;
}

int kl_routes_reload(kl_routes_live_t *l, char *err, size_t errlen) {
    if (!l->cfg->routes[0]) {
        snprintf(err, errlen, "no route folder configured (KEEL_ROUTES): nothing to reload");
        return -ENOENT;
    }
    pthread_mutex_lock(&l->mu);
    kl_route_table_t in;
    int r = kl_routes_load(l->cfg->routes, l->auth != NULL, &in, err, errlen);
    if (r < 0) goto out;
    if ((r = check_running(l, &in, err, errlen)) < 0 || (r = check_db(l, &in, err, errlen)) < 0) {
        kl_router_free(&in);
        goto out;
    }
    kl_route_table_t *t = adopt(l, &in);
    size_t added = 0, changed = 0, removed = 0, same = 0;
    bool clear = false;
    for (size_t i = 0; i < t->n; i++) {
        const kl_route_t *o = find_route(l->cur, &t->routes[i]);
        if (!o) added++;
        else if (o->text_hash == t->routes[i].text_hash && o->stmt == t->routes[i].stmt) same++;
        else changed++, clear |= o->def.cache_ms > 0;
    }
    for (size_t i = 0; l->cur && i < l->cur->n; i++)
        if (!find_route(t, &l->cur->routes[i])) removed++, clear |= l->cur->routes[i].def.cache_ms > 0;
    struct kl_routes_post *p = kl_calloc(sizeof(*p));
    p->t = t;
    p->clear_cache = clear;
    for (unsigned i = 0; i < l->n; i++) {
        atomic_store_explicit(&l->apps[i].reload_post, p, memory_order_release);
        int pr = kl_shard_post(l->apps[i].shard, &l->apps[i].reload_io, 0);
        if (pr < 0) { /* cannot happen short of the kernel refusing io_uring: the shard keeps polling */
            snprintf(err, errlen, "cannot wake shard %u: %s", i, strerror(-pr));
            r = pr;
        }
    }
    uint64_t deadline = kl_clock_ms() + INSTALL_WAIT_MS;
    while (atomic_load_explicit(&p->installed, memory_order_acquire) < l->n && kl_clock_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    l->cur = t;
    if (atomic_load_explicit(&p->installed, memory_order_acquire) < l->n) {
        /* a shard that never took it still may: p stays allocated */
        snprintf(err, errlen, "not every shard installed the new routes within %d ms", INSTALL_WAIT_MS);
        r = -ETIMEDOUT;
        goto out;
    }
    kl_free(p);
    if (r == 0)
        snprintf(err, errlen, "%zu routes: %zu added, %zu changed, %zu removed, %zu unchanged%s", t->n, added, changed,
                 removed, same, clear ? "; caches cleared" : "");
out:
    pthread_mutex_unlock(&l->mu);
    return r;
}
