/* report_html.c - the self-contained HTML report; see report_html.h.
 *
 * Everything is drawn here as SVG elements with fixed coordinates, so the page needs no
 * script and renders the same in any browser, offline. The target is written without its
 * scheme: the page holds no URL a browser could try to load. */
#include "report_html.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define W 920.0
#define H 280.0
#define ML 70.0
#define MR 36.0
#define MT 16.0
#define MB 64.0
#define PW (W - ML - MR)
#define PH (H - MT - MB)
#define CURVE_POINTS 240

static const char *const stage_colours[] = {"#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#8c6d31", "#393b79"};
#define NSTAGE_COLOURS (sizeof stage_colours / sizeof stage_colours[0])

static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The smallest 1, 2 or 5 x 10^k at or above v (an axis' end). */
static double nice_ceil(double v) {
    if (!(v > 0)) return 1;
    double e = pow(10, floor(log10(v)));
    for (double m = 1; m <= 10; m = m == 1 ? 2 : m == 2 ? 5 : 10)
        if (m * e >= v * (1 - 1e-9)) return m * e;
    return 10 * e;
}

static void fmt_num(char *buf, size_t cap, double v) {
    if (v >= 1e6) snprintf(buf, cap, "%gM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, cap, "%gk", v / 1e3);
    else snprintf(buf, cap, "%g", v);
}

static void fmt_lat(char *buf, size_t cap, double ns) {
    if (ns >= 1e9) snprintf(buf, cap, "%.3g s", ns / 1e9);
    else if (ns >= 1e6) snprintf(buf, cap, "%.3g ms", ns / 1e6);
    else snprintf(buf, cap, "%.3g us", ns / 1e3);
}

static double px(double x, double xmax) { return ML + x / xmax * PW; }
static double py(double y, double ymax) { return MT + PH - (y > ymax ? ymax : y) / ymax * PH; }

/* Opens a plot: the frame, horizontal grid lines with y labels (ylabel(value) text), the x
 * axis title. x ticks are drawn by the caller. */
static void plot_open(FILE *f, const char *title, const char *id, double ymax, const char *yunit, double yscale) {
    fprintf(f, "<h2>%s</h2>\n<svg id=\"%s\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", title, id, W, H, W, H);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" stroke=\"#999\"/>\n", ML, MT, PW, PH);
    for (int i = 0; i <= 5; i++) {
        double v = ymax * i / 5, y = py(v, ymax);
        char lab[32];
        fmt_num(lab, sizeof lab, v / yscale);
        if (i) fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", ML, y, ML + PW, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"t\">%s</text>\n", ML - 6, y + 4, lab);
    }
    fprintf(f, "<text x=\"14\" y=\"%.1f\" class=\"t\" transform=\"rotate(-90 14 %.1f)\" text-anchor=\"middle\">%s</text>\n",
            MT + PH / 2, MT + PH / 2, yunit);
}

static void time_axis(FILE *f, double xmax) {
    double step = nice_ceil(xmax / 10);
    for (double t = 0; t <= xmax + 1e-9; t += step) {
        double x = px(t, xmax);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>", x, MT + PH, x, MT + PH + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"t\">%g</text>\n", x, MT + PH + 18, t);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"t\">seconds since the start</text>\n",
            ML + PW / 2, MT + PH + 34);
}

/* Stage bands: every other stage shaded, each labelled at the top. */
static void stage_bands(FILE *f, const kb_config_t *cfg, double xmax) {
    double t = 0;
    for (size_t i = 0; i < cfg->nstages; i++) {
        double d = (double)cfg->stages[i].duration_ns / 1e9, a = t, b = t + d > xmax ? xmax : t + d;
        t += d;
        if (a >= xmax) break;
        if (i % 2) fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f2f2f2\"/>\n", px(a, xmax), MT,
                           px(b, xmax) - px(a, xmax), PH);
        if (cfg->nstages > 1) {
            char lab[48];
            if (cfg->open_model) snprintf(lab, sizeof lab, "stage %zu: %g req/s", i + 1, cfg->stages[i].rate);
            else snprintf(lab, sizeof lab, "stage %zu: %u VUs", i + 1, cfg->stages[i].vus);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"s\">%s</text>\n", px(a, xmax) + 4, MT + 12, lab);
        }
    }
}

static void legend(FILE *f, double x, const char *colour, const char *label) {
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>", x, H - 12.0, x + 16,
            H - 12.0, colour);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"t\">%s</text>\n", x + 20, H - 8.0, label);
}

/* How long second i of the run lasted (the last one may be cut short by the end of the run). */
static double span(size_t i, double run_s) {
    double s = run_s - (double)i;
    return s > 1 ? 1 : s;
}

/* A per-second line: value(i) for each second, broken where a second has no value (<0). */
typedef double (*sec_value_fn)(const kb_second_t *s, double span, const void *arg);

static void series_line(FILE *f, const kb_series_t *ser, double run_s, double xmax, double ymax, const char *colour,
                        sec_value_fn fn, const void *arg) {
    bool open = false;
    for (size_t i = 0; i < ser->n; i++) {
        double sp = span(i, run_s);
        double v = sp >= 0.25 ? fn(&ser->sec[i], sp, arg) : -1;
        if (v < 0) {
            if (open) fputs("\"/>\n", f);
            open = false;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" stroke-linejoin=\"round\" points=\"", colour);
        fprintf(f, "%.1f,%.1f ", px((double)i + sp / 2, xmax), py(v, ymax));
        open = true;
    }
    if (open) fputs("\"/>\n", f);
}

static uint64_t failed_of(const kb_second_t *s) {
    uint64_t n = s->status_4xx + s->status_5xx;
    for (int k = 0; k < KB_ERR_KINDS; k++) n += s->errors[k];
    return n;
}

static double v_rps(const kb_second_t *s, double sp, const void *arg) {
    (void)arg;
    return (double)s->responses / sp;
}

static double v_failed(const kb_second_t *s, double sp, const void *arg) {
    (void)arg;
    return (double)failed_of(s) / sp;
}

static double v_pct(const kb_second_t *s, double sp, const void *arg) {
    (void)sp;
    return s->responses ? (double)kb_series_percentile(s, *(const double *)arg) : -1;
}

static void throughput_plot(FILE *f, const kb_report_t *r, const kb_series_t *ser, double run_s, double xmax) {
    double top = 0;
    for (size_t i = 0; i < ser->n; i++) {
        double sp = span(i, run_s);
        if (sp < 0.25) continue;
        double v = (double)(ser->sec[i].responses + failed_of(&ser->sec[i])) / sp;
        if (v > top) top = v;
    }
    double ymax = nice_ceil(top * 1.05);
    plot_open(f, "Throughput over time", "throughput", ymax, "responses/s", 1);
    stage_bands(f, r->cfg, xmax);
    series_line(f, ser, run_s, xmax, ymax, KB_HTML_RPS, v_rps, NULL);
    series_line(f, ser, run_s, xmax, ymax, KB_HTML_FAILED, v_failed, NULL);
    time_axis(f, xmax);
    legend(f, ML, KB_HTML_RPS, "responses/s (any status)");
    legend(f, ML + 230, KB_HTML_FAILED, "failed/s (transport errors and status >= 400)");
    fputs("</svg>\n", f);
}

static void latency_plot(FILE *f, const kb_report_t *r, const kb_series_t *ser, double run_s, double xmax) {
    static const double p[3] = {50, 95, 99};
    static const char *const col[3] = {KB_HTML_P50, KB_HTML_P95, KB_HTML_P99};
    double top = 0;
    for (size_t i = 0; i < ser->n; i++)
        if (span(i, run_s) >= 0.25) {
            double v = (double)kb_series_percentile(&ser->sec[i], 99);
            if (v > top) top = v;
        }
    double ymax = nice_ceil(top * 1.05 > 1000 ? top * 1.05 : 1000);
    double scale = ymax >= 2e9 ? 1e9 : ymax >= 2e6 ? 1e6 : 1e3;
    plot_open(f, "Latency over time (each second's responses)", "latency", ymax,
              scale == 1e9 ? "latency (s)" : scale == 1e6 ? "latency (ms)" : "latency (us)", scale);
    stage_bands(f, r->cfg, xmax);
    for (int k = 0; k < 3; k++) series_line(f, ser, run_s, xmax, ymax, col[k], v_pct, &p[k]);
    time_axis(f, xmax);
    legend(f, ML, KB_HTML_P50, "p50");
    legend(f, ML + 70, KB_HTML_P95, "p95");
    legend(f, ML + 140, KB_HTML_P99, "p99");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"t\">%s</text>\n", ML + 210, H - 8.0,
            r->cfg->open_model ? "from each request's intended send time (open model)"
                               : "as measured, each second (the tables below are corrected for coordinated omission)");
    fputs("</svg>\n", f);
}

/* x of the percentile curve: the "nines" of q, log10(1 / (1 - q)): 90% is 1, 99% 2, 99.9% 3. */
static void curve(FILE *f, const kb_hist_t *h, double xmax, double ymax, const char *colour, double width) {
    if (!h->count) return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\" points=\"", colour, width);
    for (int i = 0; i <= CURVE_POINTS; i++) {
        double x = xmax * i / CURVE_POINTS, q = 1 - pow(10, -x);
        fprintf(f, "%.1f,%.1f ", px(x, xmax), py((double)kb_hist_percentile(h, q * 100), ymax));
    }
    fputs("\"/>\n", f);
}

static void percentile_plot(FILE *f, const kb_report_t *r) {
    const kb_hist_t *all = &r->total->hist;
    /* as many nines as the data holds (1 in 10^n needs 10^n values), 2..5 */
    double nines = all->count ? ceil(log10((double)all->count)) : 2;
    if (nines < 2) nines = 2;
    if (nines > 5) nines = 5;
    double ymax = nice_ceil((double)kb_hist_percentile(all, 100 * (1 - pow(10, -nines))) * 1.05);
    for (size_t i = 0; i < r->cfg->nstages && r->cfg->nstages > 1; i++) {
        double v = (double)kb_hist_percentile(&r->stages[i].hist, 100 * (1 - pow(10, -nines))) * 1.05;
        if (v > ymax) ymax = nice_ceil(v);
    }
    if (ymax < 1000) ymax = 1000;
    double scale = ymax >= 2e9 ? 1e9 : ymax >= 2e6 ? 1e6 : 1e3;
    plot_open(f, "Latency by percentile", "percentiles", ymax,
              scale == 1e9 ? "latency (s)" : scale == 1e6 ? "latency (ms)" : "latency (us)", scale);
    static const char *const labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
    for (int n = 0; n <= (int)nines; n++) {
        double x = px(n, nines);
        if (n) fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", x, MT, x, MT + PH);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"t\">%s</text>\n", x, MT + PH + 18, labels[n]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"t\">percentile (log scale of 1/(1-p))</text>\n",
            ML + PW / 2, MT + PH + 34);
    double lx = ML;
    if (r->cfg->nstages > 1) {
        for (size_t i = 0; i < r->cfg->nstages; i++) {
            const char *c = stage_colours[i % NSTAGE_COLOURS];
            curve(f, &r->stages[i].hist, nines, ymax, c, 1.5);
            if (i < 6) {
                char lab[24];
                snprintf(lab, sizeof lab, "stage %zu", i + 1);
                legend(f, lx, c, lab);
                lx += 90;
            }
        }
    }
    curve(f, all, nines, ymax, KB_HTML_CURVE, 3);
    legend(f, lx, KB_HTML_CURVE, r->co_corrected ? "whole run (corrected for coordinated omission)" : "whole run");
    fputs("</svg>\n", f);
}

static void error_plot(FILE *f, const kb_report_t *r) {
    const kb_stats_t *s = r->total;
    struct { char label[48]; uint64_t n; } bars[KB_ERR_KINDS + 24];
    size_t nb = 0;
    uint64_t top = 0, sum = 0;
    for (int k = 0; k < KB_ERR_KINDS; k++)
        if (s->errors[k]) {
            snprintf(bars[nb].label, sizeof bars[nb].label, "%s error", kb_err_names[k]);
            bars[nb++].n = s->errors[k];
        }
    for (int c = 400; c < 600 && nb < sizeof bars / sizeof bars[0]; c++)
        if (s->status[c]) {
            snprintf(bars[nb].label, sizeof bars[nb].label, "status %d", c);
            bars[nb++].n = s->status[c];
        }
    for (size_t i = 0; i < nb; i++) {
        if (bars[i].n > top) top = bars[i].n;
        sum += bars[i].n;
    }
    fputs("<h2>Errors</h2>\n", f);
    uint64_t fin = kb_stats_finished(s);
    if (!nb) {
        fprintf(f, "<p class=\"none\">No errors: all %llu finished requests got a response with status &lt; 400.</p>\n",
                (unsigned long long)fin);
        return;
    }
    fprintf(f, "<p>%llu of %llu finished requests failed (%.2f%%): transport errors by cause and responses by status.</p>\n",
            (unsigned long long)sum, (unsigned long long)fin, 100.0 * kb_stats_error_rate(s));
    double bh = 26, h = MT + nb * bh + 10, bw = PW - 200;
    fprintf(f, "<svg id=\"errors\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", W, h, W, h);
    for (size_t i = 0; i < nb; i++) {
        double y = MT + i * bh, w = bw * (double)bars[i].n / (double)top;
        if (w < 2) w = 2;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"t\">%s</text>", ML + 90, y + 15, bars[i].label);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" fill=\"%s\"/>", ML + 100, y, w, KB_HTML_ERRBAR);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"t\">%llu (%.2f%%)</text>\n", ML + 106 + w, y + 15,
                (unsigned long long)bars[i].n, fin ? 100.0 * (double)bars[i].n / (double)fin : 0);
    }
    fputs("</svg>\n", f);
}

static void stats_row(FILE *f, const char *name, const char *load, const kb_stats_t *s) {
    char v[4][32];
    bool any = s->hist.count > 0;
    static const double p[4] = {50, 95, 99, 99.9};
    for (int k = 0; k < 4; k++) {
        if (any) fmt_lat(v[k], sizeof v[k], (double)kb_hist_percentile(&s->hist, p[k]));
        else snprintf(v[k], sizeof v[k], "-");
    }
    fprintf(f, "<tr><td>%s</td><td>%s</td><td>%llu</td><td>%.1f</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.2f%%</td></tr>\n",
            name, load, (unsigned long long)s->responses, (double)s->responses / kb_stats_seconds(s), v[0], v[1], v[2], v[3],
            100.0 * kb_stats_error_rate(s));
}

int kb_report_html(FILE *f, const kb_report_t *r, const kb_series_t *ser, uint64_t run_ns) {
    const kb_config_t *cfg = r->cfg;
    double run_s = (double)run_ns / 1e9, plan_s = 0;
    for (size_t i = 0; i < cfg->nstages; i++) plan_s += (double)cfg->stages[i].duration_ns / 1e9;
    /* the time axis covers the run as it happened (the drain may end after the plan; a
     * --requests bound or Ctrl-C before it) */
    double xmax = run_s > 0.5 ? run_s : 0.5;
    if (plan_s < xmax && ser->n && xmax > (double)ser->n) xmax = (double)ser->n;
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    const char *target = r->url;
    if (!strncmp(target, "http://", 7)) target += 7;

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>keel-bench report</title>\n<style>\n"
          "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n"
          "h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:22px 0 6px}\n"
          "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}\n"
          "td:first-child,th:first-child{text-align:left}.t{font-size:12px;fill:#333}.s{font-size:12px;fill:#555}\n"
          ".none{color:#2a7a2a}.meta{color:#555}\n"
          "</style></head><body>\n<h1>keel-bench report</h1>\n<p class=\"meta\">target ",
          f);
    esc(f, target);
    if (r->scenario_path) {
        fputs(" &middot; scenario ", f);
        esc(f, r->scenario_path);
    }
    fprintf(f, " &middot; %s model &middot; %zu stage%s &middot; %.1f s &middot; %s%s</p>\n",
            cfg->open_model ? "open (constant rate)" : "closed (virtual users)", cfg->nstages, cfg->nstages > 1 ? "s" : "",
            run_s, when, r->interrupted ? " &middot; <b>interrupted</b>" : "");

    fputs("<table><tr><th>stage</th><th>load</th><th>responses</th><th>req/s</th><th>p50</th><th>p95</th><th>p99</th>"
          "<th>p99.9</th><th>errors</th></tr>\n",
          f);
    for (size_t i = 0; i < cfg->nstages; i++) {
        char name[16], load[48];
        snprintf(name, sizeof name, "%zu", i + 1);
        if (cfg->open_model) snprintf(load, sizeof load, "%g req/s, %u connections", cfg->stages[i].rate, cfg->connections);
        else snprintf(load, sizeof load, "%u VUs", cfg->stages[i].vus);
        stats_row(f, name, load, &r->stages[i]);
    }
    if (cfg->nstages > 1) stats_row(f, "all", "-", r->total);
    fprintf(f, "</table>\n<p class=\"meta\">Latencies in the table and the percentile curve are %s.</p>\n",
            cfg->open_model ? "from each request's intended send time (open model)"
            : r->co_corrected ? "corrected for coordinated omission (closed model)" : "as measured");

    throughput_plot(f, r, ser, run_s, xmax);
    latency_plot(f, r, ser, run_s, xmax);
    percentile_plot(f, r);
    error_plot(f, r);
    if (ser->truncated)
        fprintf(f, "<p class=\"meta\">%llu completions after %d s are not in the plots over time.</p>\n",
                (unsigned long long)ser->truncated, KB_SERIES_MAX_SECONDS);
    fputs("</body></html>\n", f);
    fflush(f);
    return ferror(f) ? -EIO : 0;
}
