/* top_model.c - figures for `keel top`; see top_model.h. */
#include "app/top_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/prom_text.h"

static void label_str(const kl_prom_sample_t *s, const char *name, char *out, size_t cap) {
    const kl_prom_label_t *l = kl_prom_label(s, name);
    if (l) kl_prom_unescape(l->value, l->value_len, out, cap);
    else out[0] = 0;
}

static kl_top_route_t *route_of(kl_top_snapshot_t *t, const kl_prom_sample_t *s) {
    char method[16], route[KL_TOP_NAME];
    label_str(s, "method", method, sizeof method);
    label_str(s, "route", route, sizeof route);
    for (size_t i = 0; i < t->nroutes; i++)
        if (!strcmp(t->routes[i].method, method) && !strcmp(t->routes[i].route, route)) return &t->routes[i];
    if (t->nroutes == KL_TOP_MAX_ROUTES) {
        t->dropped++;
        return NULL;
    }
    kl_top_route_t *r = &t->routes[t->nroutes++];
    memset(r, 0, sizeof *r);
    memcpy(r->method, method, sizeof method);
    memcpy(r->route, route, sizeof route);
    return r;
}

static kl_top_cache_t *cache_of(kl_top_snapshot_t *t, const kl_prom_sample_t *s) {
    char route[KL_TOP_NAME];
    label_str(s, "route", route, sizeof route);
    for (size_t i = 0; i < t->ncaches; i++)
        if (!strcmp(t->caches[i].route, route)) return &t->caches[i];
    if (t->ncaches == KL_TOP_MAX_ROUTES) {
        t->dropped++;
        return NULL;
    }
    kl_top_cache_t *c = &t->caches[t->ncaches++];
    memset(c, 0, sizeof *c);
    memcpy(c->route, route, sizeof route);
    return c;
}

static kl_top_shard_t *shard_of(kl_top_snapshot_t *t, const kl_prom_sample_t *s) {
    char id[16];
    label_str(s, "shard", id, sizeof id);
    for (size_t i = 0; i < t->nshards; i++)
        if (!strcmp(t->shards[i].id, id)) return &t->shards[i];
    if (t->nshards == KL_TOP_MAX_SHARDS) {
        t->dropped++;
        return NULL;
    }
    kl_top_shard_t *sh = &t->shards[t->nshards++];
    memset(sh, 0, sizeof *sh);
    memcpy(sh->id, id, sizeof id);
    sh->lag = NAN;
    return sh;
}

/* Adds one _bucket sample to r's cumulative counts, keeping le ascending. */
static void add_bucket(kl_top_snapshot_t *t, kl_top_route_t *r, double le, double v) {
    size_t i = 0;
    while (i < r->nb && r->le[i] < le) i++;
    if (i < r->nb && r->le[i] == le) {
        r->cum[i] += v;
        return;
    }
    if (r->nb == KL_TOP_MAX_BUCKETS) {
        t->dropped++;
        return;
    }
    memmove(&r->le[i + 1], &r->le[i], (r->nb - i) * sizeof r->le[0]);
    memmove(&r->cum[i + 1], &r->cum[i], (r->nb - i) * sizeof r->cum[0]);
    r->le[i] = le;
    r->cum[i] = v;
    r->nb++;
}

static double add(double acc, double v) { return isnan(acc) ? v : acc + v; }

static void sample(kl_top_snapshot_t *t, const kl_prom_sample_t *s) {
    if (!isfinite(s->value)) return; /* NaN/Inf counts carry nothing to show */
    if (kl_prom_name_is(s, "http_requests_total")) {
        kl_top_route_t *r = route_of(t, s);
        if (!r) return;
        char code[8];
        label_str(s, "status_code", code, sizeof code);
        r->requests += s->value;
        if (code[0] == '4') r->s4xx += s->value;
        if (code[0] == '5') r->s5xx += s->value;
    } else if (kl_prom_name_is(s, "http_request_duration_seconds_bucket")) {
        const kl_prom_label_t *le = kl_prom_label(s, "le");
        char b[32];
        double bound;
        if (!le) return;
        kl_prom_unescape(le->value, le->value_len, b, sizeof b);
        if (!strcmp(b, "+Inf")) bound = INFINITY;
        else {
            char *end;
            bound = strtod(b, &end);
            if (end == b || *end || isnan(bound)) return;
        }
        kl_top_route_t *r = route_of(t, s);
        if (r) add_bucket(t, r, bound, s->value);
    } else if (kl_prom_name_is(s, "cache_requests_total")) {
        kl_top_cache_t *c = cache_of(t, s);
        if (!c) return;
        char result[16];
        label_str(s, "result", result, sizeof result);
        c->total += s->value;
        if (!strcmp(result, "hit")) c->hits += s->value;
    } else if (kl_prom_name_is(s, "db_pool_connections")) {
        char state[16];
        label_str(s, "state", state, sizeof state);
        if (!strcmp(state, "busy")) t->pool_busy = add(t->pool_busy, s->value);
        else if (!strcmp(state, "idle")) t->pool_idle = add(t->pool_idle, s->value);
        else if (!strcmp(state, "connecting")) t->pool_connecting = add(t->pool_connecting, s->value);
    } else if (kl_prom_name_is(s, "db_queue_depth")) {
        t->queue_depth = add(t->queue_depth, s->value);
    } else if (kl_prom_name_is(s, "db_errors_total")) {
        t->db_errors = add(t->db_errors, s->value);
    } else if (kl_prom_name_is(s, "keel_shard_connections")) {
        kl_top_shard_t *sh = shard_of(t, s);
        if (sh) sh->conns = s->value;
    } else if (kl_prom_name_is(s, "keel_shard_loop_lag_seconds")) {
        kl_top_shard_t *sh = shard_of(t, s);
        if (sh) sh->lag = s->value;
    } else if (kl_prom_name_is(s, "process_cpu_seconds_total")) {
        t->cpu_seconds = s->value;
    } else if (kl_prom_name_is(s, "process_resident_memory_bytes")) {
        t->rss_bytes = s->value;
    } else if (kl_prom_name_is(s, "process_start_time_seconds")) {
        t->start_time = s->value;
    } else if (kl_prom_name_is(s, "keel_build_info")) {
        label_str(s, "version", t->version, sizeof t->version);
    }
}

int kl_top_snapshot_parse(kl_top_snapshot_t *t, const char *body, size_t len, char *err, size_t errcap) {
    memset(t, 0, sizeof *t);
    t->pool_busy = t->pool_idle = t->pool_connecting = t->queue_depth = t->db_errors = NAN;
    t->cpu_seconds = t->rss_bytes = t->start_time = NAN;
    size_t off = 0, line = 1;
    kl_prom_sample_t s;
    while (off < len) {
        ssize_t n = kl_prom_parse_line(body + off, len - off, &s);
        if (n == KL_PROM_INCOMPLETE) {
            /* the last line lacks its '\n': parse a terminated copy (bounded by KL_PROM_MAX_LINE) */
            static _Thread_local char last[KL_PROM_MAX_LINE + 1];
            size_t rest = len - off;
            memcpy(last, body + off, rest);
            last[rest] = '\n';
            n = kl_prom_parse_line(last, rest + 1, &s);
            if (n < 0) break;
            if (s.is_sample) {
                t->samples++;
                sample(t, &s);
            }
            return 0;
        }
        if (n < 0) break;
        if (s.is_sample) {
            t->samples++;
            sample(t, &s);
        }
        off += (size_t)n;
        line++;
    }
    if (off < len) {
        snprintf(err, errcap, "/metrics line %zu is not in the Prometheus text format", line);
        return -EINVAL;
    }
    return 0;
}

double kl_top_quantile(const double *le, const double *cum, size_t nb, const double *prev_le, const double *prev_cum,
                       size_t prev_nb, double q) {
    double d[KL_TOP_MAX_BUCKETS];
    if (!nb || nb > KL_TOP_MAX_BUCKETS) return NAN;
    for (size_t i = 0; i < nb; i++) {
        double p = 0;
        for (size_t j = 0; j < prev_nb; j++)
            if (prev_le[j] == le[i]) p = prev_cum[j];
        d[i] = cum[i] - p;
        if (d[i] < 0) d[i] = cum[i] > 0 ? cum[i] : 0; /* a counter reset: keel restarted in between */
    }
    double total = d[nb - 1]; /* cumulative: the last bucket (+Inf) counts every request */
    if (!(total > 0)) return NAN;
    double rank = q * total;
    for (size_t i = 0; i < nb; i++) {
        if (d[i] >= rank) {
            if (isinf(le[i])) return i ? le[i - 1] : NAN;
            /* histogram_quantile: the first bucket starts at 0 unless its bound is below */
            double lo = i ? le[i - 1] : le[0] > 0 ? 0 : le[0], below = i ? d[i - 1] : 0, in = d[i] - below;
            return in > 0 ? lo + (le[i] - lo) * (rank - below) / in : le[i];
        }
    }
    return le[nb - 1];
}

static const kl_top_route_t *find_route(const kl_top_snapshot_t *s, const kl_top_route_t *r) {
    if (!s) return NULL;
    for (size_t i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].method, r->method) && !strcmp(s->routes[i].route, r->route)) return &s->routes[i];
    return NULL;
}

static const kl_top_cache_t *find_cache(const kl_top_snapshot_t *s, const char *route) {
    if (!s) return NULL;
    for (size_t i = 0; i < s->ncaches; i++)
        if (!strcmp(s->caches[i].route, route)) return &s->caches[i];
    return NULL;
}

/* cur - prev of a counter; a counter that went down was reset (restart): cur is the delta. */
static double delta(double cur, double prev) {
    double d = cur >= prev ? cur - prev : cur;
    return d > 0 ? d : 0; /* counters are never negative; a hostile endpoint's are shown as 0 */
}

static int by_rate(const void *a, const void *b) {
    const kl_top_row_t *x = a, *y = b;
    double rx = isnan(x->rps) ? -1 : x->rps, ry = isnan(y->rps) ? -1 : y->rps;
    if (rx != ry) return rx < ry ? 1 : -1;
    if (x->requests != y->requests) return x->requests < y->requests ? 1 : -1;
    int c = strcmp(x->route, y->route);
    return c ? c : strcmp(x->method, y->method);
}

size_t kl_top_rows(const kl_top_snapshot_t *prev, const kl_top_snapshot_t *cur, double dt, kl_top_row_t *rows, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < cur->nroutes && n < cap; i++) {
        const kl_top_route_t *r = &cur->routes[i], *p = find_route(prev, r);
        kl_top_row_t *row = &rows[n++];
        row->method = r->method;
        row->route = r->route;
        row->requests = r->requests;
        bool rate = prev && dt > 0;
        row->rps = rate ? delta(r->requests, p ? p->requests : 0) / dt : NAN;
        row->e4xx = rate ? delta(r->s4xx, p ? p->s4xx : 0) / dt : NAN;
        row->e5xx = rate ? delta(r->s5xx, p ? p->s5xx : 0) / dt : NAN;
        if (rate) {
            row->p50 = kl_top_quantile(r->le, r->cum, r->nb, p ? p->le : NULL, p ? p->cum : NULL, p ? p->nb : 0, 0.5);
            row->p99 = kl_top_quantile(r->le, r->cum, r->nb, p ? p->le : NULL, p ? p->cum : NULL, p ? p->nb : 0, 0.99);
        } else {
            row->p50 = row->p99 = NAN;
        }
        const kl_top_cache_t *c = find_cache(cur, r->route), *pc = find_cache(prev, r->route);
        row->hit_ratio = NAN;
        if (c) {
            double hits = delta(c->hits, pc ? pc->hits : 0), total = delta(c->total, pc ? pc->total : 0);
            if (!(total > 0)) { /* no lookups in the interval: the ratio since start */
                hits = c->hits;
                total = c->total;
            }
            if (total > 0) row->hit_ratio = hits / total;
        }
    }
    qsort(rows, n, sizeof *rows, by_rate);
    return n;
}
