#include "proto/prom.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

const double kl_prom_buckets[KL_PROM_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void kl_prom_init(kl_prom_out_t *o, char *buf, size_t cap) {
    o->buf = buf;
    o->len = 0;
    o->cap = cap;
    o->full = false;
    buf[0] = '\0';
}

/* Appends one whole line (or nothing, marking full): a scrape never shows half a sample. */
static void put_line(kl_prom_out_t *o, const char *s, size_t n) {
    if (o->full || o->cap - o->len <= n) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

void kl_prom_family(kl_prom_out_t *o, const char *name, const char *type, const char *help) {
    char line[1024];
    /* HELP text escapes backslash and newline; ours are literals without either. */
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        o->full = true;
        return;
    }
    put_line(o, line, (size_t)n);
}

void kl_prom_labels_init(kl_prom_labels_t *l) {
    l->len = 0;
    l->full = false;
    l->text[0] = '\0';
}

void kl_prom_labels_add(kl_prom_labels_t *l, const char *name, const char *value, size_t len) {
    size_t nl = strlen(name), cap = sizeof(l->text) - 1;
    if (l->full) return;
    size_t need = (l->len ? 1 : 0) + nl + 2;
    if (l->len + need > cap) goto full;
    char *p = l->text + l->len;
    if (l->len) *p++ = ',';
    memcpy(p, name, nl);
    p += nl;
    *p++ = '=';
    *p++ = '"';
    size_t at = (size_t)(p - l->text);
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        const char *esc = c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
        size_t el = esc ? 2 : 1;
        if (at + el + 1 > cap) goto full;
        if (esc) memcpy(l->text + at, esc, 2);
        else l->text[at] = c;
        at += el;
    }
    l->text[at++] = '"';
    l->text[at] = '\0';
    l->len = at;
    return;
full:
    l->full = true;
}

static void sample(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, const char *extra,
                   const char *value) {
    char line[1024];
    bool has = labels && labels->len, ex = extra && *extra;
    if (labels && labels->full) {
        o->full = true;
        return;
    }
    int n = snprintf(line, sizeof(line), "%s%s%s%s%s%s %s\n", name, has || ex ? "{" : "", has ? labels->text : "",
                     has && ex ? "," : "", ex ? extra : "", has || ex ? "}" : "", value);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        o->full = true;
        return;
    }
    put_line(o, line, (size_t)n);
}

static void fmt_f64(char *buf, size_t cap, double v) {
    if (isnan(v)) snprintf(buf, cap, "NaN");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    else {
        /* The shortest of %.15g..%.17g that reads back as v. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
    }
}

void kl_prom_u64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, uint64_t v) {
    char val[24];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
    sample(o, name, labels, NULL, val);
}

void kl_prom_f64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, double v) {
    char val[40];
    fmt_f64(val, sizeof(val), v);
    sample(o, name, labels, NULL, val);
}

void kl_prom_histogram(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, const double *bounds,
                       size_t nbounds, const uint64_t *counts, double sum) {
    char metric[256], le[64], val[40], bound[40];
    uint64_t cum = 0;
    snprintf(metric, sizeof(metric), "%s_bucket", name);
    for (size_t i = 0; i <= nbounds; i++) {
        cum += counts[i];
        if (i < nbounds) fmt_f64(bound, sizeof(bound), bounds[i]);
        snprintf(le, sizeof(le), "le=\"%s\"", i < nbounds ? bound : "+Inf");
        snprintf(val, sizeof(val), "%llu", (unsigned long long)cum);
        sample(o, metric, labels, le, val);
    }
    snprintf(metric, sizeof(metric), "%s_sum", name);
    kl_prom_f64(o, metric, labels, sum);
    snprintf(metric, sizeof(metric), "%s_count", name);
    kl_prom_u64(o, metric, labels, cum);
}

size_t kl_prom_bucket(const double *bounds, size_t nbounds, double v) {
    size_t i = 0;
    while (i < nbounds && v > bounds[i]) i++;
    return i;
}
