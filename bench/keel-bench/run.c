/* run.c - starts the workers, draws the progress line, merges per-thread results. */
#include "run.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    kb_shared_t *sh;
    unsigned index;
    kb_stats_t *stats; /* nstages entries, owned by this worker until it returns */
    kb_route_stats_t *routes; /* scenario->nroutes entries, likewise */
    kb_series_t series;       /* per-second results, kept when the run wants them */
    bool keep_series;
    kb_progress_t prog;
    int rc;
    char err[256];
} slot_t;

static void *worker_main(void *arg) {
    slot_t *s = arg;
    s->rc = kb_worker_run(s->sh, s->index, s->stats, s->routes, s->keep_series ? &s->series : NULL, &s->prog, s->err,
                          sizeof s->err);
    atomic_store_explicit(&s->prog.done, 1, memory_order_release);
    return NULL;
}

static void draw_progress(const kb_config_t *cfg, slot_t *slots, uint64_t t0, uint64_t *last_resp, uint64_t *last_t) {
    uint64_t resp = 0, fail = 0, now = kb_now_ns();
    unsigned stage = 0;
    for (unsigned i = 0; i < cfg->threads; i++) {
        resp += atomic_load_explicit(&slots[i].prog.responses, memory_order_relaxed);
        fail += atomic_load_explicit(&slots[i].prog.failures, memory_order_relaxed);
        unsigned st = atomic_load_explicit(&slots[i].prog.stage, memory_order_relaxed);
        if (st > stage) stage = st;
    }
    double dt = (double)(now - *last_t) / 1e9;
    double rps = dt > 0 ? (double)(resp - *last_resp) / dt : 0;
    *last_resp = resp;
    *last_t = now;
    char load[48];
    if (cfg->open_model) snprintf(load, sizeof load, "%.0f req/s target", cfg->stages[stage].rate);
    else snprintf(load, sizeof load, "%u VUs", cfg->stages[stage].vus);
    fprintf(stderr, "\r\033[Kstage %u/%zu  %s  %.0fs  %llu responses  %.0f req/s  %llu failed", stage + 1,
            cfg->nstages, load, (double)(now - t0) / 1e9, (unsigned long long)resp, rps, (unsigned long long)fail);
    fflush(stderr);
}

int kb_run(const kb_config_t *cfg, kb_stats_t *stages, kb_route_stats_t *routes, kb_series_t *series, uint64_t *run_ns,
           bool progress, volatile sig_atomic_t *interrupt, bool *interrupted, char *err, size_t errcap) {
    int rc = 0;
    unsigned started = 0;
    kb_shared_t sh = {.cfg = cfg};
    slot_t *slots = calloc(cfg->threads, sizeof *slots);
    pthread_t *tids = calloc(cfg->threads, sizeof *tids);
    kb_stats_t *per = calloc((size_t)cfg->threads * cfg->nstages, sizeof *per);
    size_t nroutes = cfg->scenario->nroutes;
    kb_route_stats_t *per_route = calloc((size_t)cfg->threads * nroutes, sizeof *per_route);
    *interrupted = false;
    if (series) kb_series_init(series);
    if (!slots || !tids || !per || !per_route) {
        snprintf(err, errcap, "out of memory for %u threads x %zu stages of statistics", cfg->threads, cfg->nstages);
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < (size_t)cfg->threads * cfg->nstages; i++) kb_stats_init(&per[i]);
    for (size_t i = 0; i < (size_t)cfg->threads * nroutes; i++) kb_route_init(&per_route[i]);
    sh.t0_ns = kb_now_ns();
    for (unsigned i = 0; i < cfg->threads; i++) {
        slots[i] = (slot_t){.sh = &sh, .index = i, .stats = per + (size_t)i * cfg->nstages,
                            .routes = per_route + (size_t)i * nroutes, .keep_series = series != NULL};
        kb_series_init(&slots[i].series);
        int e = pthread_create(&tids[i], NULL, worker_main, &slots[i]);
        if (e) {
            snprintf(err, errcap, "pthread_create: %s", strerror(e));
            rc = -e;
            atomic_store(&sh.stop, 1);
            break;
        }
        started++;
    }

    /* every worker ends on its own (plan, --requests, timeouts); this loop only watches */
    uint64_t last_draw = sh.t0_ns, last_resp = 0, last_t = sh.t0_ns;
    for (;;) {
        unsigned done = 0;
        for (unsigned i = 0; i < started; i++) done += atomic_load_explicit(&slots[i].prog.done, memory_order_acquire) != 0;
        if (done == started) break;
        if (interrupt && *interrupt && !atomic_load(&sh.stop)) {
            atomic_store(&sh.stop, 1);
            *interrupted = true;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t now = kb_now_ns();
        if (progress && now - last_draw >= 1000000000ull) {
            draw_progress(cfg, slots, sh.t0_ns, &last_resp, &last_t);
            last_draw = now;
        }
    }
    if (progress) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    for (unsigned i = 0; i < started; i++) pthread_join(tids[i], NULL);
    if (run_ns) *run_ns = kb_now_ns() - sh.t0_ns;
    if (series) {
        for (unsigned i = 0; i < started; i++) {
            if (kb_series_merge(series, &slots[i].series) < 0 && rc == 0) {
                snprintf(err, errcap, "out of memory for the per-second results");
                rc = -ENOMEM;
            }
            kb_series_free(&slots[i].series);
        }
    }
    for (size_t s = 0; s < cfg->nstages; s++) {
        kb_stats_init(&stages[s]);
        for (unsigned i = 0; i < started; i++) kb_stats_merge(&stages[s], &per[(size_t)i * cfg->nstages + s]);
    }
    for (size_t r = 0; r < nroutes; r++) {
        kb_route_init(&routes[r]);
        for (unsigned i = 0; i < started; i++) kb_route_merge(&routes[r], &per_route[(size_t)i * nroutes + r]);
    }
    for (unsigned i = 0; i < started; i++) {
        if (slots[i].rc < 0 && rc == 0) {
            rc = slots[i].rc;
            snprintf(err, errcap, "worker %u: %s", i, slots[i].err);
        }
    }
out:
    free(per_route);
    free(per);
    free(tids);
    free(slots);
    return rc;
}
