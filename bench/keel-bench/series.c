/* series.c - per-second results; see series.h. */
#include "series.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kb_series_init(kb_series_t *s) { memset(s, 0, sizeof *s); }

void kb_series_free(kb_series_t *s) {
    free(s->sec);
    kb_series_init(s);
}

size_t kb_series_index(uint64_t v) {
    if (v < KB_SERIES_SUB) return (size_t)v;
    if (v >= (uint64_t)1 << 48) v = ((uint64_t)1 << 48) - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    size_t sub = (size_t)(v >> (e - 4)) & (KB_SERIES_SUB - 1);
    return (size_t)(e - 3) * KB_SERIES_SUB + sub;
}

uint64_t kb_series_bucket_value(size_t idx) {
    if (idx < KB_SERIES_SUB) return idx;
    unsigned e = (unsigned)(idx / KB_SERIES_SUB) + 3;
    uint64_t sub = idx % KB_SERIES_SUB, width = (uint64_t)1 << (e - 4);
    return ((uint64_t)1 << e) + sub * width + width / 2;
}

/* The second t_ns falls in, grown into existence; NULL past the cap or out of memory. */
static kb_second_t *at(kb_series_t *s, uint64_t t_ns) {
    uint64_t i = t_ns / 1000000000ull;
    if (i >= KB_SERIES_MAX_SECONDS || s->oom) {
        s->truncated++;
        return NULL;
    }
    if (i >= s->cap) {
        size_t cap = s->cap ? s->cap : 16;
        while (cap <= i) cap *= 2;
        if (cap > KB_SERIES_MAX_SECONDS) cap = KB_SERIES_MAX_SECONDS;
        kb_second_t *p = realloc(s->sec, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            s->truncated++;
            return NULL;
        }
        memset(p + s->cap, 0, (cap - s->cap) * sizeof *p);
        s->sec = p;
        s->cap = cap;
    }
    if (i >= s->n) s->n = (size_t)i + 1;
    return &s->sec[i];
}

void kb_series_response(kb_series_t *s, uint64_t t_ns, int status, uint64_t ns) {
    kb_second_t *sec = at(s, t_ns);
    if (!sec) return;
    sec->responses++;
    if (status < 400) sec->ok++;
    else if (status < 500) sec->status_4xx++;
    else sec->status_5xx++;
    sec->hist[kb_series_index(ns)]++;
}

void kb_series_error(kb_series_t *s, uint64_t t_ns, kb_err_kind_t kind) {
    kb_second_t *sec = at(s, t_ns);
    if (sec) sec->errors[kind]++;
}

int kb_series_merge(kb_series_t *dst, const kb_series_t *src) {
    dst->truncated += src->truncated;
    if (!src->n) return 0;
    if (!at(dst, (uint64_t)(src->n - 1) * 1000000000ull)) return -ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        kb_second_t *d = &dst->sec[i];
        const kb_second_t *o = &src->sec[i];
        d->responses += o->responses;
        d->ok += o->ok;
        for (int k = 0; k < KB_ERR_KINDS; k++) d->errors[k] += o->errors[k];
        d->status_4xx += o->status_4xx;
        d->status_5xx += o->status_5xx;
        for (size_t b = 0; b < KB_SERIES_BUCKETS; b++) d->hist[b] += o->hist[b];
    }
    return 0;
}

uint64_t kb_series_percentile(const kb_second_t *sec, double pct) {
    if (!sec->responses) return 0;
    if (pct < 0) pct = 0;
    if (pct > 100) pct = 100;
    uint64_t want = (uint64_t)((pct / 100.0) * (double)sec->responses + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < KB_SERIES_BUCKETS; b++) {
        seen += sec->hist[b];
        if (seen >= want) return kb_series_bucket_value(b);
    }
    return kb_series_bucket_value(KB_SERIES_BUCKETS - 1);
}
