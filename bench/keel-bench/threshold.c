/* threshold.c - threshold expressions; see threshold.h. */
#include "threshold.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

static void trim(char *s) {
    size_t n = strlen(s), i = 0;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    while (s[i] == ' ' || s[i] == '\t') i++;
    memmove(s, s + i, n - i + 1);
}

int kb_threshold_parse(const char *s, kb_threshold_t *t, char *err, size_t errcap) {
    char buf[64];
    memset(t, 0, sizeof *t);
    if (strlen(s) >= sizeof buf) {
        snprintf(err, errcap, "threshold too long");
        return -EINVAL;
    }
    snprintf(t->text, sizeof t->text, "%s", s);
    const char *o = strpbrk(s, "<>");
    if (!o) {
        snprintf(err, errcap, "'%s': expected METRIC<VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC>=VALUE", s);
        return -EINVAL;
    }
    size_t nlen = (size_t)(o - s);
    memcpy(buf, s, nlen);
    buf[nlen] = 0;
    trim(buf);
    bool eq = o[1] == '=';
    t->op = o[0] == '<' ? (eq ? KB_OP_LE : KB_OP_LT) : (eq ? KB_OP_GE : KB_OP_GT);
    char val[64];
    snprintf(val, sizeof val, "%s", o + 1 + eq);
    trim(val);

    if (buf[0] == 'p' && buf[1] >= '0' && buf[1] <= '9') {
        t->metric = KB_METRIC_PERCENTILE;
        if (kb_parse_number(buf + 1, &t->pct) < 0 || t->pct <= 0 || t->pct > 100) {
            snprintf(err, errcap, "'%s': percentile must be in (0, 100], e.g. p95 or p99.9", s);
            return -EINVAL;
        }
    } else if (!strcmp(buf, "min")) {
        t->metric = KB_METRIC_MIN;
    } else if (!strcmp(buf, "max")) {
        t->metric = KB_METRIC_MAX;
    } else if (!strcmp(buf, "mean") || !strcmp(buf, "avg")) {
        t->metric = KB_METRIC_MEAN;
    } else if (!strcmp(buf, "errors") || !strcmp(buf, "error_rate")) {
        t->metric = KB_METRIC_ERRORS;
    } else if (!strcmp(buf, "late")) {
        t->metric = KB_METRIC_LATE;
    } else if (!strcmp(buf, "rps")) {
        t->metric = KB_METRIC_RPS;
    } else {
        snprintf(err, errcap, "'%s': unknown metric '%s' (pNN, min, max, mean, errors, late, rps)", s, buf);
        return -EINVAL;
    }

    if (kb_threshold_is_latency(t)) {
        uint64_t ns;
        if (kb_parse_duration(val, 1000000ull, &ns) < 0) {
            snprintf(err, errcap, "'%s': bad duration '%s' (e.g. 500ms, 1.5s, 800us)", s, val);
            return -EINVAL;
        }
        t->limit = (double)ns;
    } else if (t->metric == KB_METRIC_RPS) {
        if (kb_parse_number(val, &t->limit) < 0) {
            snprintf(err, errcap, "'%s': bad rate '%s' (requests per second)", s, val);
            return -EINVAL;
        }
    } else {
        size_t vl = strlen(val);
        bool pct = vl && val[vl - 1] == '%';
        if (pct) val[vl - 1] = 0;
        if (kb_parse_number(val, &t->limit) < 0 || (pct ? t->limit > 100 : t->limit > 1)) {
            snprintf(err, errcap, "'%s': bad rate '%s%s' (a percentage like 1%% or a fraction like 0.01)", s, val, pct ? "%" : "");
            return -EINVAL;
        }
        if (pct) t->limit /= 100.0;
    }
    return 0;
}

bool kb_threshold_is_latency(const kb_threshold_t *t) {
    return t->metric == KB_METRIC_PERCENTILE || t->metric == KB_METRIC_MIN || t->metric == KB_METRIC_MAX ||
           t->metric == KB_METRIC_MEAN;
}

bool kb_threshold_pass(const kb_threshold_t *t, double value) {
    switch (t->op) {
    case KB_OP_LT: return value < t->limit;
    case KB_OP_LE: return value <= t->limit;
    case KB_OP_GT: return value > t->limit;
    case KB_OP_GE: return value >= t->limit;
    }
    return false;
}

kb_verdict_t kb_threshold_verdict(const kb_threshold_t *t, double value, uint64_t ok) {
    /* latencies of error responses alone (or of none) say nothing about the service */
    if (kb_threshold_is_latency(t) && !ok) return KB_VERDICT_NO_DATA;
    return kb_threshold_pass(t, value) ? KB_VERDICT_PASS : KB_VERDICT_FAIL;
}
