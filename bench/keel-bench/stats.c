/* stats.c - per-stage counters; see stats.h. */
#include "stats.h"

#include <string.h>

const char *const kb_err_names[KB_ERR_KINDS] = {"connect", "write", "read", "protocol", "timeout"};

void kb_stats_init(kb_stats_t *s) {
    memset(s, 0, sizeof *s);
    kb_hist_init(&s->hist);
    kb_hist_init(&s->hist_ok);
}

void kb_stats_merge(kb_stats_t *dst, const kb_stats_t *src) {
    kb_hist_merge(&dst->hist, &src->hist);
    kb_hist_merge(&dst->hist_ok, &src->hist_ok);
    dst->sent += src->sent;
    dst->responses += src->responses;
    for (int i = 0; i < KB_ERR_KINDS; i++) dst->errors[i] += src->errors[i];
    for (int i = 0; i < 600; i++) dst->status[i] += src->status[i];
    dst->bytes_rx += src->bytes_rx;
    dst->bytes_tx += src->bytes_tx;
    dst->scheduled += src->scheduled;
    dst->late += src->late;
    dst->dropped += src->dropped;
    if (src->max_lag_ns > dst->max_lag_ns) dst->max_lag_ns = src->max_lag_ns;
    if (src->start_ns && (!dst->start_ns || src->start_ns < dst->start_ns)) dst->start_ns = src->start_ns;
    if (src->end_ns > dst->end_ns) dst->end_ns = src->end_ns;
}

uint64_t kb_stats_http_errors(const kb_stats_t *s) {
    uint64_t n = 0;
    for (int i = 400; i < 600; i++) n += s->status[i];
    return n;
}

uint64_t kb_stats_ok(const kb_stats_t *s) { return s->responses - kb_stats_http_errors(s); }

uint64_t kb_stats_finished(const kb_stats_t *s) {
    uint64_t n = s->responses;
    for (int i = 0; i < KB_ERR_KINDS; i++) n += s->errors[i];
    return n;
}

double kb_stats_error_rate(const kb_stats_t *s) {
    uint64_t fin = kb_stats_finished(s), bad = kb_stats_http_errors(s);
    for (int i = 0; i < KB_ERR_KINDS; i++) bad += s->errors[i];
    return fin ? (double)bad / (double)fin : 0.0;
}

double kb_stats_seconds(const kb_stats_t *s) {
    double sec = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e9 : 0;
    return sec < 0.001 ? 0.001 : sec;
}

uint64_t kb_stats_co_interval(const kb_stats_t *s, uint64_t concurrency) {
    if (!s->responses) return 0;
    double ns = (double)concurrency * kb_stats_seconds(s) * 1e9 / (double)s->responses;
    return ns < 1 ? 1 : ns > (double)KB_HIST_MAX_VALUE ? KB_HIST_MAX_VALUE : (uint64_t)ns;
}

void kb_stats_co_correct(kb_stats_t *s, uint64_t interval_ns, kb_hist_t *measured) {
    *measured = s->hist;
    kb_hist_correct(&s->hist, measured, interval_ns);
}

void kb_route_init(kb_route_stats_t *r) {
    memset(r, 0, sizeof *r);
    kb_hist_init(&r->hist);
}

void kb_route_response(kb_route_stats_t *r, int status, uint64_t ns) {
    kb_hist_record(&r->hist, ns);
    r->responses++;
    if (status >= 100 && status < 600) r->classes[status / 100]++;
}

void kb_route_merge(kb_route_stats_t *dst, const kb_route_stats_t *src) {
    kb_hist_merge(&dst->hist, &src->hist);
    dst->sent += src->sent;
    dst->responses += src->responses;
    for (int i = 0; i < KB_ERR_KINDS; i++) dst->errors[i] += src->errors[i];
    for (int i = 0; i < 6; i++) dst->classes[i] += src->classes[i];
}

uint64_t kb_route_failed(const kb_route_stats_t *r) {
    uint64_t n = r->classes[4] + r->classes[5];
    for (int i = 0; i < KB_ERR_KINDS; i++) n += r->errors[i];
    return n;
}

uint64_t kb_route_finished(const kb_route_stats_t *r) {
    uint64_t n = r->responses;
    for (int i = 0; i < KB_ERR_KINDS; i++) n += r->errors[i];
    return n;
}
