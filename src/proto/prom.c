#include "proto/prom.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/sbuf.h"

const double kl_prom_buckets[KL_PROM_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
/* Their le="..." texts, as fmt_f64 writes them (the unit test checks they agree): a scrape
 * writes them thousands of times. */
static const char *const bucket_le[KL_PROM_NBUCKETS] = {
    "le=\"0.0005\"", "le=\"0.001\"", "le=\"0.0025\"", "le=\"0.005\"", "le=\"0.01\"", "le=\"0.025\"", "le=\"0.05\"",
    "le=\"0.1\"",    "le=\"0.25\"",  "le=\"0.5\"",    "le=\"1\"",     "le=\"2.5\"",  "le=\"5\"",     "le=\"10\""};

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

/* Appends `name{labels,extra} value\n` whole, or nothing (marking full). Built with
 * memcpy: a scrape writes thousands of these lines, and snprintf per line cost
 * milliseconds. */
static void sample(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, const char *extra,
                   const char *value) {
    if (labels && labels->full) {
        o->full = true;
        return;
    }
    size_t nl = strlen(name), ll = labels ? labels->len : 0, el = extra ? strlen(extra) : 0, vl = strlen(value);
    size_t need = nl + ll + el + vl + 5;
    if (o->full || o->cap - o->len <= need) {
        o->full = true;
        return;
    }
    char *p = o->buf + o->len;
    memcpy(p, name, nl), p += nl;
    if (ll || el) {
        *p++ = '{';
        if (ll) memcpy(p, labels->text, ll), p += ll;
        if (ll && el) *p++ = ',';
        if (el) memcpy(p, extra, el), p += el;
        *p++ = '}';
    }
    *p++ = ' ';
    memcpy(p, value, vl), p += vl;
    *p++ = '\n';
    *p = '\0';
    o->len = (size_t)(p - o->buf);
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

/* Decimal text of v into buf (>= 21 bytes), NUL-terminated. */
static void fmt_u64(char *buf, uint64_t v) {
    kl_sbuf_t b = kl_sbuf(buf, 20);
    kl_sbuf_u64(&b, v);
    buf[kl_sbuf_len(&b)] = '\0';
}

void kl_prom_u64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, uint64_t v) {
    char val[24];
    fmt_u64(val, v);
    sample(o, name, labels, NULL, val);
}

void kl_prom_f64(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, double v) {
    char val[40];
    fmt_f64(val, sizeof(val), v);
    sample(o, name, labels, NULL, val);
}

void kl_prom_histogram(kl_prom_out_t *o, const char *name, const kl_prom_labels_t *labels, const double *bounds,
                       size_t nbounds, const uint64_t *counts, double sum) {
    char metric[256], le[64], val[40];
    size_t nl = strlen(name);
    uint64_t cum = 0;
    if (nl + 8 >= sizeof(metric)) {
        o->full = true;
        return;
    }
    memcpy(metric, name, nl);
    memcpy(metric + nl, "_bucket", 8);
    for (size_t i = 0; i <= nbounds; i++) {
        cum += counts[i];
        fmt_u64(val, cum);
        if (bounds == kl_prom_buckets && i < nbounds) {
            sample(o, metric, labels, bucket_le[i], val);
            continue;
        }
        memcpy(le, "le=\"", 4);
        if (i < nbounds) fmt_f64(le + 4, sizeof(le) - 6, bounds[i]);
        else memcpy(le + 4, "+Inf", 5);
        size_t n = strlen(le);
        le[n] = '"', le[n + 1] = '\0';
        sample(o, metric, labels, le, val);
    }
    memcpy(metric + nl, "_sum", 5);
    kl_prom_f64(o, metric, labels, sum);
    memcpy(metric + nl, "_count", 7);
    kl_prom_u64(o, metric, labels, cum);
}

size_t kl_prom_bucket(const double *bounds, size_t nbounds, double v) {
    size_t i = 0;
    while (i < nbounds && v > bounds[i]) i++;
    return i;
}
