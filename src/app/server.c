#include "app/server.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/access_log.h"
#include "app/admin.h"
#include "app/app_shard.h"
#include "app/clients.h"
#include "app/crash.h"
#include "app/http_conn.h"
#include "app/rate_check.h"
#include "app/replica.h"
#include "app/respond.h"
#include "app/routes_reload.h"
#include "app/restart.h"
#include "app/sd_notify.h"
#include "app/sql_cache.h"
#include "app/tags.h"
#include "app/listener.h"
#include "app/watchdog.h"
#include "core/acceptor.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "proto/json.h"

/* What one armed receive may deliver before it is re-armed: 4 receive buffers' worth by
 * default. A connection that stops reading (its request busy, its output unread) then holds
 * at most this much it did not ask for. */
#define RECV_BURST (16u * 1024)
/* Unsent output the kernel may hold per connection (TCP_NOTSENT_LOWAT): with our own
 * --max-pending-output, what a client that never reads can make us hold. */
#define NOTSENT_LOWAT (64 * 1024)
/* Memory held back for the first allocation that fails, so that it and the shedding after it
 * complete instead of aborting (alloc.h). */
#define RESERVE_BYTES (8u << 20)
/* Ready (systemd's READY=1, a restart's hand-over) waits this long at most for every shard
 * to have a database connection: a restarted keel that took over before would answer
 * 503s; one whose database is down still serves /health and says so on /ready. */
#define READY_DB_WAIT_MS 10000
/* Each shard's access-log ring: about 16k lines, a few hundred ms of a busy shard's output
 * should the writer (the disk, the pipe) stall; beyond it lines are dropped and counted. */
#define ACCESS_LOG_RING (4u << 20)
/* how long the exit waits for stdout to take the access log's last lines */
#define ACCESS_LOG_FLUSH_MS 2000
/* how long an exit past the shutdown deadline waits for stderr to take its last lines */
#define SHARD_STUCK_FLUSH_MS 500

static int on_start(kl_shard_t *sh) {
    kl_app_shard_t *as = sh->app;
    as->shard = sh;
    kl_crash_thread_init(sh->id);
    kl_list_init(&as->conns);
    as->hdrs = kl_malloc(sizeof(kl_http1_header_t) * (size_t)as->cfg->max_headers);
    as->limits = (kl_http1_limits_t){
        .max_request_line = (size_t)as->cfg->max_request_line,
        .max_head = (size_t)as->cfg->max_head,
        .max_body = (uint64_t)as->cfg->max_body,
    };
    snprintf(as->id_prefix, sizeof(as->id_prefix), "%lx-%x-%d-", (unsigned long)time(NULL) & 0xffffff,
             (unsigned)getpid(), sh->id);
    kl_app_shard_tick_date(as);
    as->gzip = kl_gzip_new((int)as->cfg->gzip_level);
    if (as->cfg->cache_mb > 0)
        as->cache = kl_cache_new((size_t)as->cfg->cache_mb * 1024 * 1024 / as->npeers);
    kl_sql_cache_init(as);
    if (as->auth_process) as->auth = kl_auth_shard_new(as->auth_process, (unsigned)sh->id);
    if (as->dbcfg && !(as->db = kl_db_start(sh, as->dbcfg, as))) return -EINVAL;
    if (as->dbcfg) as->replica = kl_replica_shard_start(as, as->replicas, as->dbcfg, as->replica_probe_stmt);
    return 0;
}

/* Metrics of the pool (db.h's on_end / on_wait): per route query time, errors by SQLSTATE,
 * time spent waiting for a connection. */
static void on_db_end(void *ctx, const kl_db_query_t *q, bool answered) {
    kl_app_shard_t *as = ctx;
    kl_metrics_t *m = &as->mx;
    if (answered && q->stmt >= 0 && (unsigned)q->stmt < m->nstmts && m->stmt_slot[q->stmt] >= 0)
        kl_mx_observe(&m->routes[m->stmt_slot[q->stmt]].db, q->duration_us * 1000);
    if (q->status) kl_mx_db_error(m, answered ? q->sqlstate : "");
}

static void on_db_wait(void *ctx, uint64_t waited_ms) {
    kl_app_shard_t *as = ctx;
    kl_mx_observe(&as->mx.db_wait, waited_ms * 1000000);
}

/* A write somewhere committed: evict what carries its tags ('\n'-separated). "*" clears
 * everything; no expanded tag can be "*" (tags.h), so only an operator's NOTIFY sends it. */
static void on_notify(void *ctx, const char *payload) {
    kl_app_shard_t *as = ctx;
    if (!strcmp(payload, KL_DB_NOTIFY_ALL)) {
        kl_sql_cache_invalidate(as, (kl_str_t){NULL, 0}, true);
        kl_mx_add(&as->mx.invalidations[1], 1);
        return;
    }
    kl_str_t tag;
    for (const char *t = payload; kl_tags_next(&t, &tag);) {
        kl_sql_cache_invalidate(as, tag, false);
        kl_mx_add(&as->mx.invalidations[1], 1);
    }
}

/* A connection (re)connected: notifications may have been lost before it (db.h, "NOTIFY
 * loss"), so nothing cached before can be trusted. */
static void on_connect(void *ctx) {
    kl_sql_cache_invalidate(ctx, (kl_str_t){NULL, 0}, true);
}

static void on_accept(kl_shard_t *sh, int fd) { kl_http_conn_accept(sh->app, fd); }

static void on_accept_admin(kl_shard_t *sh, int fd) { kl_http_conn_accept_admin(sh->app, fd); }

static void purged(kl_db_query_t *q) {
    kl_app_shard_t *as = q->ctx;
    as->purging = false; /* an error (database down) is simply tried again next time */
}

/* Shard 0 deletes expired idempotency keys, a batch a minute, through its pool like any
 * query: never on a request's path, never blocking the shard. */
static void purge_idempotency_keys(kl_app_shard_t *as) {
    if (as->shard->id != 0 || !as->db || !as->routes || as->routes->stmt_idem_purge < 0 || as->purging ||
        as->date_sec - as->purged_at < 60)
        return;
    as->purging = true;
    as->purged_at = as->date_sec;
    as->purge = (kl_db_query_t){.stmt = as->routes->stmt_idem_purge, .done = purged, .ctx = as};
    kl_db_submit(as->db, &as->purge);
}

static void on_tick(kl_shard_t *sh) {
    kl_app_shard_t *as = sh->app;
    time_t sec = as->date_sec;
    kl_app_shard_tick_date(as);
    if (as->date_sec != sec) {
        kl_recycler_trim(&sh->recycler); /* once a second: back to the low watermark */
        kl_alloc_collect();
        if (as->rate) kl_rate_tick(as->rate, (unsigned)sh->id, as->npeers, &as->rate_sweep_at);
        if (kl_alloc_pressure()) kl_alloc_reserve(0); /* ends the shedding once memory is back */
        purge_idempotency_keys(as);
    }
    kl_replica_tick(as->replica);
    if (as->db) kl_db_flush(as->db);
    atomic_store_explicit(&as->db_live, kl_db_live(as->db), memory_order_relaxed);
    kl_replica_flush(as->replica);
    /* A database answer is taken as soon as it arrives: requests wait on it, and holding the
     * shard's wait open would idle PostgreSQL's side of the pipeline as well (shard.h). */
    sh->prompt_wait = kl_db_awaiting(as->db) || kl_replica_awaiting(as->replica);
    kl_admin_tick(as);
    if (as->auth) kl_auth_tick(as->auth); /* between requests: no key set held (keyring.h) */
    unsigned stall = atomic_exchange_explicit(&as->test_stall_ms, 0, memory_order_relaxed);
    if (stall) { /* KEEL_TEST_STALL_SHARD_MS, a test hook: the loop stops turning */
        kl_log(KL_LOG_WARN, "test hook: stalling this shard's loop", "\"shard\":%d,\"ms\":%u", sh->id, stall);
        struct timespec ts = {(time_t)(stall / 1000), (long)(stall % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void on_drain(kl_shard_t *sh) { kl_http_conn_drain_all(sh->app); }

static void on_stop(kl_shard_t *sh) {
    kl_app_shard_t *as = sh->app;
    kl_http_conn_abort_all(as);
    kl_shard_settle(sh, 500); /* aborted connections finalize; the pool still serves their polls */
    kl_replica_shard_stop(as->replica); /* reads on replicas fail like the primary's */
    atomic_store_explicit(&as->db_live, 0, memory_order_relaxed);
    kl_db_stop(as->db); /* fails what is still queued; deferred requests are freed */
    as->db = NULL;
    kl_replica_shard_free(as->replica); /* after: shard 0's lag probe rides the primary pool */
    as->replica = NULL;
    kl_sql_cache_shutdown(as);
    kl_cache_free(as->cache);
    as->cache = NULL;
    kl_gzip_free(as->gzip);
    as->gzip = NULL;
    kl_auth_shard_free(as->auth);
    as->auth = NULL;
    kl_crash_thread_end();
}

static const kl_shard_hooks_t hooks = {
    .on_start = on_start, .on_accept = on_accept, .on_accept_admin = on_accept_admin, .on_tick = on_tick, .on_drain = on_drain, .on_stop = on_stop,
};

/* An info line whose extra members (already JSON, or NULL) are keel's own text. Through
 * kl_log like every other line: queued, never a blocking write on the loop's thread. */
static void log_line(const char *msg, const char *extra) {
    if (extra && *extra) kl_log(KL_LOG_INFO, msg, "%s", extra);
    else kl_log(KL_LOG_INFO, msg, NULL);
}

/* SIGHUP: the JWT keys, then the routes (kl_routes_reload, which an admin endpoint may call
 * as well); the caller tells systemd RELOADING=1 before and READY=1 after. */
static void reload(kl_auth_t *auth, kl_routes_live_t *live) {
    log_line("SIGHUP: reloading the JWT keys", NULL);
    kl_auth_reload(auth);
    if (!live) return;
    char err[1024], e[1200];
    int r = kl_routes_reload(live, err, sizeof(err));
    kl_json_escape(e, sizeof(e), err, strlen(err));
    if (r < 0) kl_log(KL_LOG_ERROR, "route reload failed; the previous routes still serve", "\"error\":\"%s\"", e);
    else kl_log(KL_LOG_INFO, "routes reloaded", "\"summary\":\"%s\"", e);
}

/* systemd's one-line STATUS=: where keel serves and how many database connections are up. */
static void status_line(char *out, size_t cap, const char *addr, const kl_app_shard_t *apps, unsigned n) {
    int len = snprintf(out, cap, "serving on %s, %u shard%s", addr, n, n == 1 ? "" : "s");
    if (len < 0 || (size_t)len >= cap || !apps[0].dbcfg) return;
    int live = 0;
    for (unsigned i = 0; i < n; i++) live += atomic_load_explicit(&apps[i].db_live, memory_order_relaxed);
    snprintf(out + len, cap - (size_t)len, ", db %d/%u connections", live, n * (unsigned)apps[0].dbcfg->conns);
}

/* Every shard has a database connection up (or there is no database). */
static bool db_up(const kl_app_shard_t *apps, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (apps[i].dbcfg && atomic_load_explicit(&apps[i].db_live, memory_order_relaxed) == 0) return false;
    return true;
}

int kl_server_run(const kl_config_t *cfg, const kl_db_config_t *dbcfg_in, const kl_route_table_t *routes,
                  kl_auth_t *auth) {
    int rc = 1;
    kl_db_config_t dbc;
    const kl_db_config_t *dbcfg = NULL;
    kl_replicas_t *replicas = NULL;
    kl_db_stmt_t *stmts = NULL; /* with the replica lag probes, when there are replicas */
    int probe_stmt = -1;
    char rerr[256];
    replicas = kl_replicas_new(cfg->replica_urls, cfg->replica_max_lag_ms, rerr, sizeof(rerr));
    if (rerr[0] || (replicas && !dbcfg_in)) {
        kl_log_text("keel: %s", rerr[0] ? rerr : "--replica-urls needs a database (DATABASE_URL or --routes)");
        kl_replicas_free(replicas);
        return 1;
    }
    if (dbcfg_in) {
        dbc = *dbcfg_in;
        dbc.on_notify = on_notify;
        dbc.on_connect = on_connect;
        dbc.on_end = on_db_end;
        dbc.on_wait = on_db_wait;
        dbcfg = &dbc;
        if (replicas) {
            kl_replicas_stmts(dbcfg_in, &stmts, &dbc.nstmts, &probe_stmt);
            dbc.stmts = stmts;
        }
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP); /* reloads the JWT keys and the routes */
    sigaddset(&sigs, SIGUSR2); /* restarts without dropping a request (restart.h) */
    /* A test hook, documented in README.md: SIGUSR1 stalls shard 0's loop for this long. */
    const char *stall_env = getenv("KEEL_TEST_STALL_SHARD_MS");
    unsigned stall_ms = stall_env ? (unsigned)strtoul(stall_env, NULL, 10) : 0;
    if (stall_ms) sigaddset(&sigs, SIGUSR1);
    /* Blocked before any thread starts, so only sigwaitinfo below ever sees them. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    cpu_set_t cpus;
    int ncpu = 1;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) ncpu = CPU_COUNT(&cpus);
    else CPU_ZERO(&cpus);
    unsigned n = cfg->shards > 0 ? (unsigned)cfg->shards : (unsigned)ncpu;

    /* Made before any shard starts (fail_start frees what exists), freed after they all
     * stopped (out). @rate counts and the connection cap are process-wide. */
    kl_rate_t *rate = NULL;
    kl_clients_t *clients = NULL;
    int lfd = -1, afd = -1;
    char addr[128], err[256];
    if (kl_alloc_reserve(RESERVE_BYTES) < 0) {
        kl_log_text("keel: cannot allocate the %u MiB emergency memory reserve", RESERVE_BYTES >> 20);
        goto fail_start;
    }
    bool any_rate = false;
    for (size_t i = 0; routes && i < routes->n; i++) any_rate |= routes->routes[i].def.rate_count > 0;
    if (any_rate && !(rate = kl_rate_new(cfg))) {
        kl_log_text("keel: cannot make the @rate table of %lld slots", (long long)cfg->rate_limit_slots);
        goto fail_start;
    }
    if (any_rate || cfg->max_conns_per_ip > 0 || replicas) { /* replicas: read-your-writes by address */
        if (!(clients = kl_clients_new(cfg, (uint64_t)n * (uint64_t)cfg->max_conns, err, sizeof(err)))) {
            kl_log_text("keel: %s", err);
            goto fail_start;
        }
    }
    kl_restart_t restart;
    kl_restart_init(&restart);
    kl_listener_origin_t origin;
    lfd = kl_listener_open(cfg, &origin, addr, sizeof(addr), err, sizeof(err));
    if (lfd < 0) {
        kl_log_text("keel: %s", err);
        goto fail_start;
    }
    afd = kl_listener_open_admin(cfg, err, sizeof(err));
    if (afd < 0 && afd != -ENOENT) {
        kl_log_text("keel: %s", err);
        goto fail_start;
    }
    if (auth && (rc = kl_auth_start(auth, n)) != 0) { /* reader slots before any shard reads */
        kl_log_text("keel: cannot start the JWT key refresher: %s", strerror(-rc));
        goto fail_start;
    }
    rc = 1;
    kl_shard_t *shards = kl_calloc(sizeof(kl_shard_t) * n);
    kl_app_shard_t *apps = kl_calloc(sizeof(kl_app_shard_t) * n);
    kl_shard_config_t scfg = {
        .entries = 4096,
        .buf_count = (unsigned)cfg->recv_buffers,
        .buf_size = (unsigned)cfg->recv_buffer_size,
        .max_wait_ms = 100,
        .send_timeout_ms = (unsigned)cfg->send_timeout_ms,
        .recv_burst = RECV_BURST,
        .gather_us = (unsigned)cfg->gather_us,
    };
    /* Which route slot (metrics.h) each statement's time counts under: shared, read-only. */
    size_t nstmts = routes ? routes->nstmts : 0, nslots = KL_MX_SLOT_ROUTES + (routes ? routes->n : 0);
    int *stmt_slot = kl_calloc(sizeof(int) * (nstmts ? nstmts : 1));
    for (size_t i = 0; i < nstmts; i++) stmt_slot[i] = -1;
    for (size_t i = 0; routes && i < routes->n; i++) {
        stmt_slot[routes->routes[i].stmt] = KL_MX_SLOT_ROUTES + (int)i;
        if (routes->routes[i].stmt_idem >= 0) stmt_slot[routes->routes[i].stmt_idem] = KL_MX_SLOT_ROUTES + (int)i;
    }
    kl_alog_t *alog = cfg->access_log ? kl_alog_start(n, ACCESS_LOG_RING, STDOUT_FILENO) : NULL;
    if (cfg->access_log && !alog) kl_log_text("keel: cannot start the access-log writer; logging off");
    kl_acceptor_t admin_acc;
    bool admin_on = false;
    int served_admin_fd = -1;
    unsigned started = 0;
    int cpu = -1;
    for (unsigned i = 0; i < n; i++) { /* before kl_routes_live_new, which reads both */
        apps[i].routes = apps[i].mx_routes = routes;
        apps[i].dbcfg = dbcfg;
    }
    /* Written once, before any shard reads the table: the startup routes own their slots. */
    for (size_t i = 0; routes && i < routes->n; i++)
        ((kl_route_t *)&routes->routes[i])->mx_slot = KL_MX_SLOT_ROUTES + (int)i;
    kl_routes_live_t *live = routes ? kl_routes_live_new(cfg, routes, apps, n, auth, rate != NULL) : NULL;
    for (unsigned i = 0; i < n; i++) {
        /* The i-th CPU we may run on, round-robin when there are more shards than CPUs. */
        int want = (int)(i % (unsigned)ncpu), seen = 0;
        cpu = -1;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &cpus) && seen++ == want) {
                cpu = c;
                break;
            }
        apps[i].cfg = cfg;
        apps[i].dbcfg = dbcfg;
        apps[i].auth_process = auth;
        apps[i].peers = apps;
        apps[i].npeers = n;
        apps[i].rate = rate;
        apps[i].clients = clients;
        apps[i].replicas = replicas;
        apps[i].replica_probe_stmt = probe_stmt;
        apps[i].alog = alog;
        kl_mx_init(&apps[i].mx, (unsigned)nslots, stmt_slot, (unsigned)nstmts);
        int r = kl_shard_start(&shards[i], (int)i, cfg->pin ? cpu : -1, &scfg, &hooks, &apps[i], (uint64_t)cfg->shutdown_ms);
        if (r < 0) {
            if (r == -ENOSYS || r == -EPERM)
                kl_log_text("keel: io_uring is not available on this kernel or is disabled "
                            "(kernel.io_uring_disabled?): %s", strerror(-r));
            else if (r == -EINVAL)
                kl_log_text("keel: this kernel's io_uring lacks features keel needs "
                            "(provided buffer rings, multishot recv: Linux >= 6.0): %s", strerror(-r));
            else
                kl_log_text("keel: shard %u failed to start: %s", i, strerror(-r));
            goto out;
        }
        started++;
    }
    kl_acceptor_t acc;
    kl_acceptor_admit_t admit = {.admit = kl_clients_admit, .unadmit = kl_clients_unadmit, .ctx = clients};
    int r = kl_acceptor_start(&acc, lfd, shards, n, (unsigned)cfg->max_conns, NOTSENT_LOWAT, cfg->accept_by_load, clients ? &admit : NULL);
    if (r < 0) {
        kl_log_text("keel: acceptor failed to start: %s", strerror(-r));
        goto out;
    }
    int served_fd = lfd; /* the acceptor owns it now; a restart hands the same socket on */
    lfd = -1;
    if (afd >= 0) {
        if ((r = kl_acceptor_start_admin(&admin_acc, afd, shards, n)) < 0) {
            kl_log_text("keel: admin acceptor failed to start: %s", strerror(-r));
            kl_acceptor_stop(&acc);
            goto out;
        }
        served_admin_fd = afd; /* the admin acceptor owns it; a restart hands it on too */
        afd = -1;
        admin_on = true;
    }
    static const char *const origins[] = {"bound", "systemd", "inherited"};
    char extra[512], status[256];
    snprintf(extra, sizeof(extra), "\"address\":\"%s\",\"socket\":\"%s\",\"admin\":\"%s\",\"shards\":%u,\"ring_flags\":%u",
             addr, origins[origin], admin_on ? cfg->admin_listen : "off", n, shards[0].ring_flags);
    log_line("keel listening", extra);
    kl_watchdog_t wd;
    kl_watchdog_init(&wd, shards, n);

    int sig;
    bool handed_over = false;
    uint64_t status_at = kl_clock_ms(), ready_by = status_at + READY_DB_WAIT_MS;
    bool ready = false;
    for (;;) {
        if (!ready && (db_up(apps, n) || kl_clock_ms() >= ready_by)) {
            ready = true;
            status_line(status, sizeof(status), addr, apps, n);
            kl_restart_report_ready(status);
            snprintf(extra, sizeof(extra), "\"database\":%s,\"wait_ms\":%llu", db_up(apps, n) ? "true" : "false",
                     (unsigned long long)(kl_clock_ms() + READY_DB_WAIT_MS - ready_by));
            log_line("keel ready", extra);
        }
        /* Signals, the restart under way and the watchdog, at least every 100 ms. */
        uint64_t now = kl_clock_ms(), wait = kl_watchdog_tick(&wd, now);
        if (wait > 100) wait = 100;
        struct timespec ts = {0, (long)wait * 1000000};
        sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) break;
        if (sig == SIGHUP) {
            kl_sd_reloading();
            reload(auth, live);
            status_line(status, sizeof(status), addr, apps, n);
            kl_sd_reloaded(status);
        }
        if (sig == SIGUSR2 && kl_restart_begin(&restart, served_fd, served_admin_fd) == 0) kl_sd_reloading();
        if (sig == SIGUSR1) atomic_store_explicit(&apps[0].test_stall_ms, stall_ms, memory_order_relaxed);
        int rs = kl_restart_poll(&restart);
        if (rs > 0) { /* the new keel told systemd it is the main process now */
            handed_over = true;
            sig = SIGUSR2;
            break;
        }
        if (rs < 0) {
            status_line(status, sizeof(status), addr, apps, n);
            kl_sd_reloaded(status);
        }
        if (kl_clock_ms() - status_at >= 5000) { /* the database count moves */
            status_at = kl_clock_ms();
            char msg[300], prev[256];
            memcpy(prev, status, sizeof(prev));
            status_line(status, sizeof(status), addr, apps, n);
            if (strcmp(prev, status)) snprintf(msg, sizeof(msg), "STATUS=%s", status), kl_sd_notify(msg);
        }
    }
    kl_watchdog_free(&wd);
    kl_restart_abandon(&restart);
    /* After a hand-over the new keel is the service: STOPPING=1 would stop it. */
    if (!handed_over) kl_sd_notify("STOPPING=1\nSTATUS=draining");
    snprintf(extra, sizeof(extra), "\"signal\":%d,\"deadline_ms\":%lld,\"handed_over\":%s", sig,
             (long long)cfg->shutdown_ms, handed_over ? "true" : "false");
    log_line("draining", extra);
    kl_acceptor_stop(&acc); /* no new connections from here on */
    if (admin_on) kl_acceptor_stop(&admin_acc);
    admin_on = false;
    rc = 0;
out:
    if (admin_on) kl_acceptor_stop(&admin_acc);
    if (lfd >= 0) close(lfd);
    if (afd >= 0) close(afd);
    for (unsigned i = 0; i < started; i++) kl_shard_request_drain(&shards[i]);
    uint64_t deadline = kl_clock_ms() + (uint64_t)cfg->shutdown_ms + 1000;
    for (unsigned i = 0; i < started; i++) {
        if (kl_shard_join(&shards[i], deadline) < 0) {
            kl_log(KL_LOG_ERROR, "a shard did not stop in time; exiting without it", "\"shard\":%u", i);
            (void)kl_log_stop(SHARD_STUCK_FLUSH_MS); /* what is queued, this line included */
            _exit(rc); /* the deadline is the contract; a stuck shard must not hold the process */
        }
    }
    kl_alog_stop(alog, ACCESS_LOG_FLUSH_MS); /* every shard stopped: what they logged is written out */
    for (unsigned i = 0; i < n; i++) kl_free(apps[i].hdrs), kl_mx_free(&apps[i].mx);
    kl_free(stmt_slot);
    kl_routes_live_free(live); /* the table every shard served last, when a reload made it */
    kl_free(shards);
    kl_free(apps);
    kl_rate_free(rate);
    kl_clients_free(clients);
    kl_replicas_free(replicas);
    kl_free(stmts);
    if (rc == 0) log_line("stopped", NULL);
    return rc;

fail_start: /* no thread started yet */
    if (afd >= 0) close(afd);
    if (lfd >= 0) close(lfd);
    kl_rate_free(rate);
    kl_clients_free(clients);
    kl_replicas_free(replicas);
    kl_free(stmts);
    return 1;
}
