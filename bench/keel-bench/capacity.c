/* capacity.c - the capacity objective and search; see capacity.h. */
#include "capacity.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int kb_objective_parse(const char *s, kb_objective_t *o, char *err, size_t errcap) {
    static const char *const want = "expected pNN<DURATION, e.g. 'p99<10ms', 'p999<=250us', 'p95<1.5s'";
    memset(o, 0, sizeof *o);
    if (!s || !*s) return fail(err, errcap, "empty objective: %s", want);
    if (strlen(s) >= sizeof o->text) return fail(err, errcap, "objective too long: %s", want);
    snprintf(o->text, sizeof o->text, "%s", s);
    const char *p = s;
    while (*p == ' ') p++;
    if (*p != 'p' && *p != 'P') return fail(err, errcap, "'%s': the objective is a latency percentile; %s", s, want);
    p++;
    const char *d = p;
    size_t ndig = strspn(d, "0123456789");
    if (!ndig) return fail(err, errcap, "'%s': no percentile after 'p'; %s", s, want);
    if (d[ndig] == '.') {
        char *end;
        o->pct = strtod(d, &end);
        p = end;
    } else {
        /* p999 is p99.9 and p9999 p99.99, as in Prometheus and HdrHistogram summaries */
        char buf[16];
        if (ndig >= sizeof buf - 1) return fail(err, errcap, "'%s': percentile too long", s);
        if (ndig <= 2) {
            memcpy(buf, d, ndig);
            buf[ndig] = 0;
        } else {
            if (d[0] != '9' || d[1] != '9') return fail(err, errcap, "'%s': the percentile must be above 0 and below 100 (p999 is p99.9)", s);
            buf[0] = d[0];
            buf[1] = d[1];
            buf[2] = '.';
            memcpy(buf + 3, d + 2, ndig - 2);
            buf[ndig + 1] = 0;
        }
        o->pct = strtod(buf, NULL);
        p = d + ndig;
    }
    if (!(o->pct > 0 && o->pct < 100)) return fail(err, errcap, "'%s': the percentile must be above 0 and below 100", s);
    while (*p == ' ') p++;
    if (*p != '<') {
        if (*p == '>') return fail(err, errcap, "'%s': a latency objective is an upper bound: use < or <=", s);
        return fail(err, errcap, "'%s': expected '<' or '<=' after the percentile; %s", s, want);
    }
    p++;
    if (*p == '=') {
        o->inclusive = true;
        p++;
    }
    while (*p == ' ') p++;
    char *end;
    if (!(*p >= '0' && *p <= '9') && *p != '.') return fail(err, errcap, "'%s': expected a duration after the operator; %s", s, want);
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || v <= 0) return fail(err, errcap, "'%s': the duration must be a positive number", s);
    double unit;
    if (!strcmp(end, "us")) unit = 1e3;
    else if (!strcmp(end, "ms")) unit = 1e6;
    else if (!strcmp(end, "s")) unit = 1e9;
    else if (!*end) return fail(err, errcap, "'%s': the duration needs a unit: us, ms or s", s);
    else return fail(err, errcap, "'%s': unknown unit '%s' (use us, ms or s)", s, end);
    o->limit = v * unit;
    if (o->limit < 1 || o->limit > 3600e9) return fail(err, errcap, "'%s': the duration must be between 1ns and 1h", s);
    return 0;
}

bool kb_objective_met(const kb_objective_t *o, double value_ns) {
    return o->inclusive ? value_ns <= o->limit : value_ns < o->limit;
}

void kb_capacity_init(kb_capacity_t *c, double start, unsigned max_steps, double max_rate) {
    memset(c, 0, sizeof *c);
    c->start = start;
    c->max_steps = max_steps;
    c->max_rate = max_rate;
}

/* Rates above 10 req/s are whole numbers, so the printed steps read cleanly. */
static double tidy(double r) { return r >= 10 ? floor(r + 0.5) : r; }

double kb_capacity_next(const kb_capacity_t *c) {
    if (c->steps >= c->max_steps) return 0;
    if (!c->steps) return c->start;
    if (!c->hi) { /* everything passed so far: double */
        if (c->lo >= c->max_rate) return 0;
        double r = c->lo * 2;
        return tidy(r > c->max_rate ? c->max_rate : r);
    }
    if (!c->lo) { /* everything failed so far: halve, down to 1 req/s */
        double r = tidy(c->hi / 2);
        return r < 1 ? 0 : r;
    }
    if (c->hi <= c->lo * (1 + KB_CAPACITY_PRECISION)) return 0;
    double r = tidy((c->lo + c->hi) / 2);
    return r <= c->lo || r >= c->hi ? 0 : r;
}

void kb_capacity_record(kb_capacity_t *c, double rate, bool pass) {
    c->steps++;
    if (pass && rate > c->lo) c->lo = rate;
    if (!pass && (!c->hi || rate < c->hi)) c->hi = rate;
}
