/* report.c - human table and JSON; see report.h. */
#include "report.h"

#include <errno.h>
#include <string.h>

static const double pcts[] = {50, 90, 95, 99, 99.9};
static const char *const pct_keys[] = {"p50", "p90", "p95", "p99", "p99_9"};
#define NPCTS (sizeof pcts / sizeof pcts[0])

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static double late_rate(const kb_stats_t *s) {
    return s->scheduled ? (double)(s->late + s->dropped) / (double)s->scheduled : 0.0;
}

double kb_report_metric(const kb_stats_t *s, const kb_threshold_t *t) {
    switch (t->metric) {
    case KB_METRIC_PERCENTILE: return (double)kb_hist_percentile(&s->hist, t->pct);
    case KB_METRIC_MIN: return s->hist.count ? (double)s->hist.min : 0;
    case KB_METRIC_MAX: return (double)s->hist.max;
    case KB_METRIC_MEAN: return kb_hist_mean(&s->hist);
    case KB_METRIC_ERRORS: return kb_stats_error_rate(s);
    case KB_METRIC_LATE: return late_rate(s);
    case KB_METRIC_RPS: return (double)s->responses / kb_stats_seconds(s);
    }
    return 0;
}

static void fmt_ms(char *buf, size_t cap, uint64_t ns, bool any) {
    if (!any) snprintf(buf, cap, "-");
    else if (ns >= 10000000000ull) snprintf(buf, cap, "%.1f s", (double)ns / 1e9);
    else snprintf(buf, cap, ns < 1000000 ? "%.3f ms" : "%.2f ms", ms(ns)); /* 3 significant digits */
}

static void fmt_bytes(char *buf, size_t cap, double b) {
    if (b >= 1e9) snprintf(buf, cap, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, cap, "%.2f MB", b / 1e6);
    else if (b >= 1e3) snprintf(buf, cap, "%.1f kB", b / 1e3);
    else snprintf(buf, cap, "%.0f B", b);
}

static void row(FILE *f, const char *stage, const char *users, const kb_stats_t *s) {
    char p50[32], p95[32], p99[32];
    bool any = s->hist.count > 0;
    fmt_ms(p50, sizeof p50, kb_hist_percentile(&s->hist, 50), any);
    fmt_ms(p95, sizeof p95, kb_hist_percentile(&s->hist, 95), any);
    fmt_ms(p99, sizeof p99, kb_hist_percentile(&s->hist, 99), any);
    double rps = (double)s->responses / kb_stats_seconds(s);
    fprintf(f, "| %s | %s | %.*f | %s | %s | %s | %.2f%% |\n", stage, users, rps < 100 ? 1 : 0, rps, p50, p95, p99,
            100.0 * kb_stats_error_rate(s));
}

static void stage_label(const kb_config_t *cfg, size_t i, char *stage, size_t scap, char *users, size_t ucap) {
    const kb_stage_t *st = &cfg->stages[i];
    if (cfg->open_model) {
        snprintf(stage, scap, "%zu (%g req/s)", i + 1, st->rate);
        snprintf(users, ucap, "%u", cfg->connections);
    } else {
        snprintf(stage, scap, "%zu", i + 1);
        snprintf(users, ucap, "%u", st->vus);
    }
}

/* What the coordinated-omission line of one details block needs; measured NULL: open model. */
typedef struct {
    const kb_hist_t *measured; /* as measured */
    uint64_t interval_ns;      /* the stage's expected interval; 0: several stages, each its own */
    bool corrected;            /* the block's latencies are the corrected ones */
    bool pipelined;            /* --pipeline > 1: the interval is VUs x pipeline / RPS */
} co_line_t;

/* Values the correction added to s, whose as-measured latencies are measured. */
static uint64_t co_added(const kb_stats_t *s, const kb_hist_t *measured) {
    return s->hist.count > measured->count ? s->hist.count - measured->count : 0;
}

static void co_details(FILE *f, const kb_stats_t *s, const co_line_t *co) {
    char iv[64], p50[32], p99[32];
    const char *per = co->pipelined ? "VUs x pipeline/RPS" : "VUs/RPS";
    bool any = co->measured->count > 0;
    if (co->interval_ns) {
        fmt_ms(p50, sizeof p50, co->interval_ns, true);
        snprintf(iv, sizeof iv, "expected interval %s = %s", p50, per);
    } else {
        snprintf(iv, sizeof iv, "each stage with its own expected interval = %s", per);
    }
    fmt_ms(p50, sizeof p50, kb_hist_percentile(co->measured, 50), any);
    fmt_ms(p99, sizeof p99, kb_hist_percentile(co->measured, 99), any);
    if (co->corrected)
        fprintf(f, "  co       latency above corrected for coordinated omission (%s, as wrk and HdrHistogram): +%llu values;"
                   " as measured p50 %s  p99 %s\n",
                iv, (unsigned long long)co_added(s, co->measured), p50, p99);
    else
        fprintf(f, "  co       latency above as measured, not corrected for coordinated omission (--no-co-correction; %s)\n",
                iv);
}

static void details(FILE *f, const char *title, const kb_stats_t *s, bool open_model, const co_line_t *co) {
    char v[8][32];
    bool any = s->hist.count > 0;
    double sec = kb_stats_seconds(s);
    fprintf(f, "%s: %llu requests, %llu responses in %.2f s\n", title, (unsigned long long)s->sent,
            (unsigned long long)s->responses, sec);
    fmt_ms(v[0], sizeof v[0], s->hist.min, any);
    for (size_t i = 0; i < NPCTS; i++) fmt_ms(v[1 + i], sizeof v[1], kb_hist_percentile(&s->hist, pcts[i]), any);
    fmt_ms(v[6], sizeof v[6], s->hist.max, any);
    fmt_ms(v[7], sizeof v[7], (uint64_t)kb_hist_mean(&s->hist), any);
    fprintf(f, "  latency  min %s  p50 %s  p90 %s  p95 %s  p99 %s  p99.9 %s  max %s  mean %s\n", v[0], v[1], v[2], v[3],
            v[4], v[5], v[6], v[7]);
    if (s->hist_ok.count != s->hist.count) { /* some were refused: what the accepted ones saw */
        bool ok_any = s->hist_ok.count > 0;
        fmt_ms(v[0], sizeof v[0], kb_hist_percentile(&s->hist_ok, 50), ok_any);
        fmt_ms(v[1], sizeof v[1], kb_hist_percentile(&s->hist_ok, 99), ok_any);
        fmt_ms(v[2], sizeof v[2], s->hist_ok.max, ok_any);
        fprintf(f, "  ok       latency of the %llu successful responses alone (status < 400, as measured): p50 %s  p99 %s  max %s\n",
                (unsigned long long)s->hist_ok.count, v[0], v[1], v[2]);
    }
    char in[32], out[32];
    fmt_bytes(in, sizeof in, (double)s->bytes_rx / sec);
    fmt_bytes(out, sizeof out, (double)s->bytes_tx / sec);
    fprintf(f, "  rate     %.1f req/s  %s/s in  %s/s out\n", (double)s->responses / sec, in, out);
    uint64_t classes[6] = {0};
    for (int c = 100; c < 600; c++) classes[c / 100] += s->status[c];
    fprintf(f, "  status  ");
    for (int k = 1; k < 6; k++)
        if (classes[k]) fprintf(f, " %dxx %llu", k, (unsigned long long)classes[k]);
    if (!s->responses) fprintf(f, " none");
    fprintf(f, "\n");
    uint64_t transport = 0;
    for (int k = 0; k < KB_ERR_KINDS; k++) transport += s->errors[k];
    uint64_t http = kb_stats_http_errors(s);
    fprintf(f, "  errors   %.2f%%", 100.0 * kb_stats_error_rate(s));
    if (!transport && !http) fprintf(f, " (none)");
    for (int k = 0; k < KB_ERR_KINDS; k++)
        if (s->errors[k]) fprintf(f, "  %s %llu", kb_err_names[k], (unsigned long long)s->errors[k]);
    int shown = 0;
    for (int c = 400; c < 600 && shown < 8; c++) {
        if (!s->status[c]) continue;
        fprintf(f, "  status %d: %llu", c, (unsigned long long)s->status[c]);
        shown++;
    }
    fprintf(f, "\n");
    if (open_model)
        fprintf(f, "  schedule %llu scheduled, %llu sent late (>= 1 ms), %llu dropped, max lag %.2f ms\n",
                (unsigned long long)s->scheduled, (unsigned long long)s->late, (unsigned long long)s->dropped,
                ms(s->max_lag_ns));
    if (co->measured) co_details(f, s, co);
}

/* s with '|' escaped, so a route name stays in its markdown cell. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

/* One row per route: what each kind of request got over the whole run. */
static void route_table(FILE *f, const kb_report_t *r) {
    const kb_scenario_t *sc = r->cfg->scenario;
    double sec = kb_stats_seconds(r->total);
    fprintf(f, "\nper route, whole run (latency as measured, not corrected; errors: transport + status >= 400):\n\n");
    fprintf(f, "| route | requests | RPS | p50 | p99 | max | 2xx | 3xx | 4xx | 5xx | transport | errors |\n");
    fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sc->nroutes; i++) {
        const kb_route_stats_t *rt = &r->routes[i];
        char p50[32], p99[32], mx[32];
        bool any = rt->hist.count > 0;
        fmt_ms(p50, sizeof p50, kb_hist_percentile(&rt->hist, 50), any);
        fmt_ms(p99, sizeof p99, kb_hist_percentile(&rt->hist, 99), any);
        fmt_ms(mx, sizeof mx, rt->hist.max, any);
        uint64_t transport = 0, fin = kb_route_finished(rt);
        for (int k = 0; k < KB_ERR_KINDS; k++) transport += rt->errors[k];
        double rps = (double)rt->responses / sec;
        fprintf(f, "| ");
        md_cell(f, sc->routes[i].name);
        fprintf(f, " | %llu | %.*f | %s | %s | %s | %llu | %llu | %llu | %llu | %llu | %.2f%% |\n",
                (unsigned long long)rt->sent, rps < 100 ? 1 : 0, rps, p50, p99, mx,
                (unsigned long long)rt->classes[2], (unsigned long long)rt->classes[3],
                (unsigned long long)rt->classes[4], (unsigned long long)rt->classes[5], (unsigned long long)transport,
                fin ? 100.0 * (double)kb_route_failed(rt) / (double)fin : 0.0);
    }
}

void kb_report_table(FILE *f, const kb_report_t *r) {
    const kb_config_t *cfg = r->cfg;
    char stage[48], users[24];
    const char *lat = cfg->open_model ? "latency from each intended send time"
                      : r->co_corrected ? "latency corrected for coordinated omission"
                                        : "latency as measured";
    fprintf(f, "keel-bench %s: %s model (%s), %u thread%s, timeout %.0f ms%s\n\n", r->url,
            cfg->open_model ? "open" : "closed", lat, cfg->threads, cfg->threads == 1 ? "" : "s", ms(cfg->timeout_ns),
            r->interrupted ? " (interrupted)" : "");
    fprintf(f, "| stage | %s | RPS | p50 | p95 | p99 | errors |\n", cfg->open_model ? "connections" : "VUs");
    fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < cfg->nstages; i++) {
        stage_label(cfg, i, stage, sizeof stage, users, sizeof users);
        row(f, stage, users, &r->stages[i]);
    }
    if (cfg->nstages > 1) row(f, "all", "-", r->total);
    fprintf(f, "\n");
    co_line_t co = {.corrected = r->co_corrected, .pipelined = cfg->pipeline > 1};
    for (size_t i = 0; i < cfg->nstages; i++) {
        char title[96];
        stage_label(cfg, i, stage, sizeof stage, users, sizeof users);
        snprintf(title, sizeof title, "stage %s, %s %s, %.0f s planned", stage, users,
                 cfg->open_model ? "connections" : "VUs", (double)cfg->stages[i].duration_ns / 1e9);
        co.measured = r->measured ? &r->measured[i] : NULL;
        co.interval_ns = r->measured ? r->co_interval_ns[i] : 0;
        details(f, title, &r->stages[i], cfg->open_model, &co);
    }
    if (cfg->nstages > 1) {
        co.measured = r->measured ? r->measured_total : NULL;
        co.interval_ns = 0;
        details(f, "all stages", r->total, cfg->open_model, &co);
    }
    if (r->routes && cfg->scenario->nroutes > 1) route_table(f, r);
    fprintf(f, "  (percentiles within %.3f%% of the value they stand for)\n", 100 * kb_hist_error_bound());
    if (r->nthresholds) fprintf(f, "\nthresholds:\n");
    for (size_t i = 0; i < r->nthresholds; i++) {
        const kb_threshold_t *t = &r->thresholds[i];
        char val[48];
        if (r->verdicts[i] == KB_VERDICT_NO_DATA) {
            fprintf(f, "  FAIL  %s  (no successful responses)\n", t->text);
            continue;
        }
        if (kb_threshold_is_latency(t)) fmt_ms(val, sizeof val, (uint64_t)r->values[i], true);
        else if (t->metric == KB_METRIC_RPS) snprintf(val, sizeof val, "%.1f req/s", r->values[i]);
        else snprintf(val, sizeof val, "%.3f%%", 100 * r->values[i]);
        fprintf(f, "  %-4s  %s  (got %s)\n", r->verdicts[i] == KB_VERDICT_PASS ? "ok" : "FAIL", t->text, val);
    }
}

/* JSON string with the escapes RFC 8259 requires. */
static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void jlatency(FILE *f, const kb_hist_t *h) {
    fprintf(f, "{");
    if (h->count) {
        fprintf(f, "\"min\": %.6f, ", ms(h->min));
        for (size_t i = 0; i < NPCTS; i++) fprintf(f, "\"%s\": %.6f, ", pct_keys[i], ms(kb_hist_percentile(h, pcts[i])));
        fprintf(f, "\"max\": %.6f, \"mean\": %.6f", ms(h->max), kb_hist_mean(h) / 1e6);
    } else {
        fprintf(f, "\"min\": null, ");
        for (size_t i = 0; i < NPCTS; i++) fprintf(f, "\"%s\": null, ", pct_keys[i]);
        fprintf(f, "\"max\": null, \"mean\": null");
    }
    fprintf(f, "}");
}

/* measured: the as-measured latencies (the headline ones in the open model); interval_ns: the
 * correction's expected interval, 0 for null (open model, or a total over several stages). */
static void jstats(FILE *f, const kb_stats_t *s, bool open_model, const kb_hist_t *measured, uint64_t interval_ns,
                   const char *ind) {
    double sec = kb_stats_seconds(s);
    uint64_t http = kb_stats_http_errors(s), transport = 0;
    for (int k = 0; k < KB_ERR_KINDS; k++) transport += s->errors[k];
    fprintf(f, "%s\"seconds\": %.6f,\n", ind, sec);
    fprintf(f, "%s\"requests\": %llu,\n", ind, (unsigned long long)s->sent);
    fprintf(f, "%s\"responses\": %llu,\n", ind, (unsigned long long)s->responses);
    fprintf(f, "%s\"ok\": %llu,\n", ind, (unsigned long long)(s->responses - http));
    fprintf(f, "%s\"failed\": %llu,\n", ind, (unsigned long long)(transport + http));
    fprintf(f, "%s\"error_rate\": %.6f,\n", ind, kb_stats_error_rate(s));
    fprintf(f, "%s\"rps\": %.3f,\n", ind, (double)s->responses / sec);
    fprintf(f, "%s\"bytes_in\": %llu,\n", ind, (unsigned long long)s->bytes_rx);
    fprintf(f, "%s\"bytes_out\": %llu,\n", ind, (unsigned long long)s->bytes_tx);
    fprintf(f, "%s\"bytes_in_per_s\": %.1f,\n", ind, (double)s->bytes_rx / sec);
    fprintf(f, "%s\"bytes_out_per_s\": %.1f,\n", ind, (double)s->bytes_tx / sec);
    fprintf(f, "%s\"latency_ms\": ", ind);
    jlatency(f, &s->hist);
    fprintf(f, ",\n%s\"latency_measured_ms\": ", ind);
    jlatency(f, measured);
    fprintf(f, ",\n%s\"latency_ok_ms\": ", ind);
    jlatency(f, &s->hist_ok);
    fprintf(f, ",\n%s\"co_interval_ms\": ", ind);
    if (interval_ns) fprintf(f, "%.6f", ms(interval_ns));
    else fprintf(f, "null");
    fprintf(f, ",\n%s\"co_values_added\": %llu,\n", ind,
            (unsigned long long)co_added(s, measured));
    fprintf(f, "%s\"errors\": {", ind);
    for (int k = 0; k < KB_ERR_KINDS; k++) fprintf(f, "\"%s\": %llu, ", kb_err_names[k], (unsigned long long)s->errors[k]);
    uint64_t c4 = 0, c5 = 0;
    for (int c = 400; c < 500; c++) c4 += s->status[c];
    for (int c = 500; c < 600; c++) c5 += s->status[c];
    fprintf(f, "\"status_4xx\": %llu, \"status_5xx\": %llu},\n", (unsigned long long)c4, (unsigned long long)c5);
    fprintf(f, "%s\"status\": {", ind);
    bool first = true;
    for (int c = 100; c < 600; c++) {
        if (!s->status[c]) continue;
        fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", c, (unsigned long long)s->status[c]);
        first = false;
    }
    fprintf(f, "}");
    if (open_model) {
        fprintf(f, ",\n%s\"schedule\": {\"scheduled\": %llu, \"late\": %llu, \"dropped\": %llu, \"max_lag_ms\": %.6f}", ind,
                (unsigned long long)s->scheduled, (unsigned long long)s->late, (unsigned long long)s->dropped,
                ms(s->max_lag_ns));
    }
    fprintf(f, "\n");
}

int kb_report_json(FILE *f, const kb_report_t *r) {
    const kb_config_t *cfg = r->cfg;
    fprintf(f, "{\n  \"tool\": \"keel-bench\",\n  \"url\": ");
    jstr(f, r->url);
    fprintf(f, ",\n  \"scenario\": ");
    if (r->scenario_path) jstr(f, r->scenario_path);
    else fprintf(f, "null");
    fprintf(f, ",\n  \"model\": \"%s\",\n", cfg->open_model ? "open" : "closed");
    fprintf(f, "  \"threads\": %u,\n  \"connections\": %u,\n  \"pipeline\": %u,\n", cfg->threads,
            cfg->open_model ? cfg->connections : 0, cfg->pipeline);
    fprintf(f, "  \"timeout_ms\": %.3f,\n  \"max_requests\": %llu,\n", ms(cfg->timeout_ns),
            (unsigned long long)cfg->max_requests);
    fprintf(f, "  \"histogram_relative_error\": %.9f,\n", kb_hist_error_bound());
    fprintf(f, "  \"co_corrected\": %s,\n", r->co_corrected ? "true" : "false");
    fprintf(f, "  \"interrupted\": %s,\n  \"stages\": [\n", r->interrupted ? "true" : "false");
    for (size_t i = 0; i < cfg->nstages; i++) {
        const kb_stage_t *st = &cfg->stages[i];
        fprintf(f, "    {\n      \"stage\": %zu,\n", i + 1);
        if (cfg->open_model) fprintf(f, "      \"vus\": null,\n      \"rate\": %.3f,\n", st->rate);
        else fprintf(f, "      \"vus\": %u,\n      \"rate\": null,\n", st->vus);
        fprintf(f, "      \"planned_seconds\": %.3f,\n", (double)st->duration_ns / 1e9);
        const kb_hist_t *m = r->measured ? &r->measured[i] : &r->stages[i].hist;
        jstats(f, &r->stages[i], cfg->open_model, m, r->measured ? r->co_interval_ns[i] : 0, "      ");
        fprintf(f, "    }%s\n", i + 1 < cfg->nstages ? "," : "");
    }
    fprintf(f, "  ],\n  \"total\": {\n");
    jstats(f, r->total, cfg->open_model, r->measured ? r->measured_total : &r->total->hist,
           r->measured && cfg->nstages == 1 ? r->co_interval_ns[0] : 0, "    ");
    fprintf(f, "  },\n  \"routes\": [");
    for (size_t i = 0; r->routes && i < cfg->scenario->nroutes; i++) {
        const kb_sc_route_t *sr = &cfg->scenario->routes[i];
        const kb_route_stats_t *rt = &r->routes[i];
        uint64_t fin = kb_route_finished(rt), failed = kb_route_failed(rt);
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        jstr(f, sr->name);
        fprintf(f, ", \"line\": %u, \"request_lines\": %u, \"requests\": %llu, \"responses\": %llu, \"ok\": %llu, "
                   "\"failed\": %llu, \"error_rate\": %.6f, \"rps\": %.3f,\n     \"latency_measured_ms\": ",
                sr->line, sr->nreqs, (unsigned long long)rt->sent, (unsigned long long)rt->responses,
                (unsigned long long)(rt->responses - rt->classes[4] - rt->classes[5]), (unsigned long long)failed,
                fin ? (double)failed / (double)fin : 0.0, (double)rt->responses / kb_stats_seconds(r->total));
        jlatency(f, &rt->hist);
        fprintf(f, ",\n     \"errors\": {");
        for (int k = 0; k < KB_ERR_KINDS; k++) fprintf(f, "\"%s\": %llu, ", kb_err_names[k], (unsigned long long)rt->errors[k]);
        fprintf(f, "\"status_4xx\": %llu, \"status_5xx\": %llu}, \"status_classes\": {", (unsigned long long)rt->classes[4],
                (unsigned long long)rt->classes[5]);
        for (int c = 1; c < 6; c++) fprintf(f, "%s\"%dxx\": %llu", c > 1 ? ", " : "", c, (unsigned long long)rt->classes[c]);
        fprintf(f, "}}");
    }
    fprintf(f, "%s],\n  \"thresholds\": [", r->routes && cfg->scenario->nroutes ? "\n  " : "");
    bool all = true;
    for (size_t i = 0; i < r->nthresholds; i++) {
        const kb_threshold_t *t = &r->thresholds[i];
        bool lat = kb_threshold_is_latency(t);
        fprintf(f, "%s\n    {\"expr\": ", i ? "," : "");
        jstr(f, t->text);
        bool no_data = r->verdicts[i] == KB_VERDICT_NO_DATA, pass = r->verdicts[i] == KB_VERDICT_PASS;
        if (no_data) fprintf(f, ", \"value\": null");
        else fprintf(f, ", \"value\": %.6f", lat ? r->values[i] / 1e6 : r->values[i]);
        fprintf(f, ", \"limit\": %.6f, \"unit\": \"%s\", \"pass\": %s, \"reason\": %s}", lat ? t->limit / 1e6 : t->limit,
                lat ? "ms" : t->metric == KB_METRIC_RPS ? "req/s" : "fraction", pass ? "true" : "false",
                no_data ? "\"no successful responses\"" : "null");
        all &= pass;
    }
    fprintf(f, "%s],\n  \"thresholds_passed\": %s\n}\n", r->nthresholds ? "\n  " : "", all ? "true" : "false");
    fflush(f);
    return ferror(f) ? -EIO : 0;
}
