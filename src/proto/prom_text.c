/* prom_text.c - Prometheus text format lines; see prom_text.h. */
#include "proto/prom_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
static bool label_start(char c) { return c != ':' && name_start(c); }
static bool label_char(char c) { return c != ':' && name_char(c); }

static size_t skip_ws(const char *p, size_t i, size_t end) {
    while (i < end && (p[i] == ' ' || p[i] == '\t')) i++;
    return i;
}

/* A Go ParseFloat number (what the format uses): decimal with optional exponent, or
 * NaN / +Inf / -Inf / Inf. No hex, no spaces. */
static bool parse_float(const char *p, size_t len, double *out) {
    char buf[64];
    if (!len || len >= sizeof buf) return false;
    memcpy(buf, p, len);
    buf[len] = 0;
    const char *q = buf + (buf[0] == '+' || buf[0] == '-');
    if (!strcmp(q, "Inf") || !strcmp(q, "inf") || !strcmp(q, "+Inf")) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!strcmp(buf, "NaN")) {
        *out = NAN;
        return true;
    }
    for (const char *c = q; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' || *c == '-')) return false;
    char *end;
    *out = strtod(buf, &end);
    return end == buf + len && end != buf;
}

ssize_t kl_prom_parse_line(const char *buf, size_t len, kl_prom_sample_t *s) {
    const char *nl = memchr(buf, '\n', len < KL_PROM_MAX_LINE ? len : KL_PROM_MAX_LINE);
    if (!nl) return len < KL_PROM_MAX_LINE ? KL_PROM_INCOMPLETE : KL_PROM_ERROR;
    size_t end = (size_t)(nl - buf), i = 0;
    if (end && buf[end - 1] == '\r') end--; /* tolerated: some exporters write CRLF */
    if (memchr(buf, 0, end)) return KL_PROM_ERROR; /* text, not bytes: a NUL would cut every C string made from it */
    s->is_sample = false;
    s->nlabels = 0;
    i = skip_ws(buf, 0, end);
    if (i == end || buf[i] == '#') return (ssize_t)(nl - buf) + 1;
    if (!name_start(buf[i])) return KL_PROM_ERROR;
    s->name = buf + i;
    while (i < end && name_char(buf[i])) i++;
    s->name_len = (size_t)(buf + i - s->name);
    size_t after = i; /* the end of the name, or of the label set */
    i = skip_ws(buf, i, end);
    if (i < end && buf[i] == '{') {
        i++;
        for (;;) {
            i = skip_ws(buf, i, end);
            if (i < end && buf[i] == '}') {
                i++;
                break;
            }
            if (i == end || !label_start(buf[i])) return KL_PROM_ERROR;
            if (s->nlabels == KL_PROM_MAX_LABELS) return KL_PROM_ERROR;
            kl_prom_label_t *l = &s->labels[s->nlabels++];
            l->name = buf + i;
            while (i < end && label_char(buf[i])) i++;
            l->name_len = (size_t)(buf + i - l->name);
            i = skip_ws(buf, i, end);
            if (i == end || buf[i] != '=') return KL_PROM_ERROR;
            i = skip_ws(buf, i + 1, end);
            if (i == end || buf[i] != '"') return KL_PROM_ERROR;
            l->value = buf + ++i;
            for (;;) {
                if (i >= end) return KL_PROM_ERROR;
                if (buf[i] == '"') break;
                if (buf[i] == '\\') {
                    if (i + 1 >= end || (buf[i + 1] != '\\' && buf[i + 1] != '"' && buf[i + 1] != 'n')) return KL_PROM_ERROR;
                    i++;
                }
                i++;
            }
            l->value_len = (size_t)(buf + i - l->value);
            i = skip_ws(buf, i + 1, end);
            if (i < end && buf[i] == ',') {
                i++;
                continue;
            }
            if (i < end && buf[i] == '}') {
                i++;
                break;
            }
            return KL_PROM_ERROR;
        }
        after = i;
    }
    i = skip_ws(buf, after, end);
    if (i == after) return KL_PROM_ERROR; /* the value must be separated from the name or labels */
    size_t v1 = i;
    while (v1 < end && buf[v1] != ' ' && buf[v1] != '\t') v1++;
    if (!parse_float(buf + i, v1 - i, &s->value)) return KL_PROM_ERROR;
    i = skip_ws(buf, v1, end);
    if (i < end) { /* an optional timestamp: an integer of milliseconds */
        size_t t = i + (buf[i] == '-');
        if (t == end) return KL_PROM_ERROR;
        for (; t < end && buf[t] >= '0' && buf[t] <= '9'; t++) {
        }
        if (skip_ws(buf, t, end) != end || t == i + (buf[i] == '-')) return KL_PROM_ERROR;
    }
    s->is_sample = true;
    return (ssize_t)(nl - buf) + 1;
}

const kl_prom_label_t *kl_prom_label(const kl_prom_sample_t *s, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < s->nlabels; i++)
        if (s->labels[i].name_len == n && !memcmp(s->labels[i].name, name, n)) return &s->labels[i];
    return NULL;
}

bool kl_prom_name_is(const kl_prom_sample_t *s, const char *name) {
    size_t n = strlen(name);
    return s->is_sample && s->name_len == n && !memcmp(s->name, name, n);
}

ssize_t kl_prom_unescape(const char *v, size_t len, char *out, size_t cap) {
    if (!cap) return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == '\\' && i + 1 < len) {
            c = v[++i];
            if (c == 'n') c = '\n';
        }
        if (o + 1 < cap) out[o] = c;
        o++;
    }
    out[o < cap ? o : cap - 1] = 0;
    return (ssize_t)o;
}
