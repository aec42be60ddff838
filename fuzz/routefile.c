/* routefile.c - libFuzzer driver for kl_routefile_parse (src/app/routefile*.c): a route
 * file a route author wrote, as arbitrary bytes.
 *
 * The input is the whole file. Checked with abort(): the result is 0 or -EINVAL; on
 * -EINVAL the message is "fuzz.sql:LINE: reason" with LINE inside the file and *out left
 * zeroed; on 0 the def is consistent: counts within their maxima, every parameter's source
 * index in range and pointing back at it, @field declarations consistent (unique names,
 * bounds that fit their type, a field the SQL does not bind only beside :body), a
 * @location only on a non-GET @returns one route, SQL NUL-terminated with sql_len == strlen and no
 * longer than the rewriting can make it, tag templates free of the tag separator with
 * balanced references, kl_routefile_sql_line within the statement's lines and
 * non-decreasing in the position, every recorded parameter use a $n of the statement in
 * order, a batch form (sql_batch.h) exactly for eligible routes with every use rewritten,
 * and the same answer from a second parse. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/routefile.h"
#include "app/sql_batch.h"
#include "app/tags.h"
#include "core/alloc.h"

#define FILENAME "fuzz.sql"

static char err[512];

static void check_cstr(const char *s, size_t max) {
    if (s == NULL || strnlen(s, max + 1) > max) abort();
}

/* The error names the file and a line that exists (a file of n newlines has n + 1). */
static void check_error(const char *e, size_t lines) {
    static const char pre[] = FILENAME ":";
    if (strncmp(e, pre, sizeof pre - 1) != 0) abort();
    char *end;
    long line = strtol(e + sizeof pre - 1, &end, 10);
    if (end == e + sizeof pre - 1 || line < 1 || (size_t)line > lines) abort();
    if (end[0] != ':' || end[1] != ' ' || end[2] == '\0') abort();
}

static void check_tags(const char *const *list, size_t n, size_t len) {
    if (n > KL_ROUTE_MAX_TAGS) abort();
    for (size_t i = 0; i < n; i++) {
        check_cstr(list[i], len);
        if (list[i][0] == '\0' || strchr(list[i], KL_TAGS_SEP)) abort();
        /* every '{' opens a reference that a '}' closes before the next '{' */
        for (const char *c = strchr(list[i], '{'); c; c = strchr(c + 1, '{')) {
            const char *close = strchr(c, '}'), *next = strchr(c + 1, '{');
            if (!close || (next && next < close) || close == c + 1) abort();
        }
    }
}

static void check_def(const kl_route_def_t *d, size_t len, size_t lines) {
    if (strcmp(d->file, FILENAME) != 0) abort();
    if ((unsigned)d->method > KL_ROUTE_DELETE || !d->method_name || !d->path || d->path[0] != '/') abort();
    if (d->n_segments > KL_ROUTE_MAX_SEGMENTS || d->n_query > KL_ROUTE_MAX_QUERY ||
        d->n_params > KL_ROUTE_MAX_PARAMS)
        abort();
    if (d->ann_line[KL_ROUTE_ANN_ROUTE] < 1 || (size_t)d->ann_line[KL_ROUTE_ANN_ROUTE] > lines) abort();
    if (d->status < 200 || d->status > 299) abort();
    if (d->cache_private && d->auth == KL_ROUTE_AUTH_NONE) abort();
    if ((d->n_tags > 0 && d->cache_ms == 0) || (d->has_body && d->method == KL_ROUTE_GET)) abort();

    for (size_t k = 0; k < d->n_segments; k++) {
        const kl_route_segment_t *s = &d->segments[k];
        if ((s->literal == NULL) == (s->name == NULL)) abort();
        if (s->literal) {
            check_cstr(s->literal, len);
            if (s->param != -1 || s->literal[0] == '\0') abort();
        } else {
            check_cstr(s->name, len);
            if (s->param < 0 || (size_t)s->param >= d->n_params) abort();
            const kl_route_param_t *p = &d->params[s->param];
            if (p->source != KL_ROUTE_FROM_PATH || p->index != (int)k || p->type != s->type) abort();
            if (strcmp(p->name, s->name) != 0) abort();
        }
    }
    for (size_t k = 0; k < d->n_query; k++) {
        const kl_route_query_t *q = &d->query[k];
        check_cstr(q->name, len);
        if (q->param < 0 || (size_t)q->param >= d->n_params) abort();
        const kl_route_param_t *p = &d->params[q->param];
        if (p->source != KL_ROUTE_FROM_QUERY || p->index != (int)k || p->type != q->type) abort();
        if (q->has_min && q->has_max && q->min > q->max) abort();
        if (q->n_one_of > KL_ROUTE_MAX_ONE_OF || (q->n_one_of == 0) != (q->one_of == NULL)) abort();
        for (size_t i = 0; i < q->n_one_of; i++) check_cstr(q->one_of[i], len);
        if (q->default_value) check_cstr(q->default_value, len);
        if (q->line < 1 || (size_t)q->line > lines) abort();
    }
    bool whole_body = false;
    for (size_t i = 0; i < d->n_params; i++) whole_body |= d->params[i].source == KL_ROUTE_FROM_BODY;
    if (d->n_fields > KL_ROUTE_MAX_FIELDS || (d->n_fields > 0 && !d->has_body)) abort();
    if (d->body_allow_extra && d->n_fields == 0) abort();
    for (size_t k = 0; k < d->n_fields; k++) {
        const kl_route_field_t *f = &d->fields[k];
        check_cstr(f->name, len);
        if (strlen(f->name) > KL_ROUTE_MAX_FIELD_NAME || f->line < 1 || (size_t)f->line > lines) abort();
        if (f->param < 0 ? !whole_body : (size_t)f->param >= d->n_params) abort();
        if (f->param >= 0 && (d->params[f->param].source != KL_ROUTE_FROM_FIELD || d->params[f->param].index != (int)k))
            abort();
        if (f->has_min && f->has_max && f->min > f->max) abort();
        if (f->minlen >= 0 && f->maxlen >= 0 && f->minlen > f->maxlen) abort();
        if (f->type == KL_FIELD_INT && ((f->has_min && (f->min < INT32_MIN || f->min > INT32_MAX)) ||
                                        (f->has_max && (f->max < INT32_MIN || f->max > INT32_MAX))))
            abort();
        if ((f->has_min || f->has_max) && f->type != KL_FIELD_INT && f->type != KL_FIELD_BIGINT &&
            f->type != KL_FIELD_NUMERIC)
            abort();
        if ((f->minlen >= 0 || f->maxlen >= 0 || f->n_one_of) && f->type != KL_FIELD_TEXT) abort();
        if (f->n_one_of > KL_ROUTE_MAX_ONE_OF || (f->n_one_of == 0) != (f->one_of == NULL)) abort();
        for (size_t i = 0; i < f->n_one_of; i++) check_cstr(f->one_of[i], len);
        for (size_t j = 0; j < k; j++)
            if (strcmp(d->fields[j].name, f->name) == 0) abort();
    }
    if (d->location) {
        check_cstr(d->location, len);
        if (d->location[0] != '/' || d->method == KL_ROUTE_GET || d->returns != KL_ROUTE_RETURNS_ONE) abort();
    }
    for (size_t i = 0; i < d->n_params; i++) {
        const kl_route_param_t *p = &d->params[i];
        check_cstr(p->name, len);
        if (p->line < 1 || (size_t)p->line > lines) abort();
        switch (p->source) {
        case KL_ROUTE_FROM_PATH:
            if (p->index < 0 || (size_t)p->index >= d->n_segments || d->segments[p->index].param != (int)i) abort();
            break;
        case KL_ROUTE_FROM_QUERY:
            if (p->index < 0 || (size_t)p->index >= d->n_query || d->query[p->index].param != (int)i) abort();
            break;
        case KL_ROUTE_FROM_BODY:
            if (p->index != -1 || !d->has_body || p->type != KL_ROUTE_JSON) abort();
            break;
        case KL_ROUTE_FROM_AUTH:
            if (p->index != -1 || d->auth == KL_ROUTE_AUTH_NONE || p->type != KL_ROUTE_TEXT) abort();
            break;
        case KL_ROUTE_FROM_FIELD:
            if (p->index < 0 || (size_t)p->index >= d->n_fields || d->fields[p->index].param != (int)i) abort();
            if (!d->has_body || p->type != KL_ROUTE_TEXT || strcmp(p->name, d->fields[p->index].name) != 0) abort();
            break;
        default: abort();
        }
        if (!kl_routefile_type_name(p->type)) abort();
    }
    check_tags(d->tags, d->n_tags, len);
    check_tags(d->invalidates, d->n_invalidates, len);

    /* the statement: NUL-terminated, no longer than ":x" -> "$64" makes it (3/2), trimmed */
    if (!d->sql || d->sql_len == 0 || strlen(d->sql) != d->sql_len || d->sql_len > len + len / 2) abort();
    if (strchr(" \t\n\r\f\v", d->sql[0]) || strchr(" \t\n\r\f\v", d->sql[d->sql_len - 1])) abort();
    size_t newlines = 0;
    for (size_t i = 0; i < d->sql_len; i++) newlines += d->sql[i] == '\n';
    int first = d->sql_line, last = d->sql_line + (int)newlines;
    if (first < 1 || (size_t)last > lines) abort();
    if (kl_routefile_sql_line(d, 0) != first || kl_routefile_sql_line(d, -5) != first) abort();
    if (kl_routefile_sql_line(d, LONG_MAX) != last || kl_routefile_sql_line(d, (long)d->sql_len + 1) != last)
        abort();
    if (kl_routefile_sql_line(d, 1) != first) abort();
    long pos[] = {1, 2, (long)d->sql_len / 3, (long)d->sql_len / 2, (long)d->sql_len - 1, (long)d->sql_len};
    int prev = first;
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        int l = kl_routefile_sql_line(d, pos[i] < 1 ? 1 : pos[i]);
        if (l < first || l > last) abort();
        if (i > 0 && pos[i] >= pos[i - 1] && l < prev) abort();
        prev = l;
    }
    if (!kl_routefile_conflicts(d, d)) abort(); /* a route answers its own requests */

    /* each recorded parameter use is a $n of the statement, in order; the batch form
     * replaces every one of them */
    size_t nrec = d->n_param_uses < KL_ROUTE_MAX_PARAM_USES ? d->n_param_uses : KL_ROUTE_MAX_PARAM_USES;
    if ((d->n_params > 0) != (d->n_param_uses > 0) || d->n_param_uses < d->n_params) abort();
    for (size_t u = 0; u < nrec; u++) {
        uint32_t at = d->param_use[u];
        if (at >= d->sql_len || d->sql[at] != '$' || (u > 0 && at <= d->param_use[u - 1])) abort();
        long n = strtol(d->sql + at + 1, NULL, 10);
        if (n < 1 || (size_t)n > d->n_params) abort();
    }
    char *batch = kl_sql_batch_sql(d);
    if ((batch != NULL) != kl_sql_batch_eligible(d)) abort();
    if (batch) {
        const char *inner = strstr(batch, "CROSS JOIN LATERAL (\n");
        if (!inner) abort();
        size_t uses = 0, written = 0; /* the statement may hold the text itself, in a literal */
        for (const char *c = strstr(inner, "keel_p.keel_a"); c; c = strstr(c + 1, "keel_p.keel_a")) uses++;
        for (const char *c = strstr(d->sql, "keel_p.keel_a"); c; c = strstr(c + 1, "keel_p.keel_a")) written++;
        if (uses != d->n_param_uses + written) abort();
        kl_free(batch);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';

    kl_route_def_t d, d2;
    static const kl_route_def_t zero;
    int r = kl_routefile_parse(FILENAME, text, size, &d, err, sizeof err);
    if (r == -EINVAL) {
        check_error(err, lines);
        if (memcmp(&d, &zero, sizeof d) != 0) abort();
    } else if (r == 0) {
        if (err[0] != '\0') abort();
        check_def(&d, size, lines);
    } else {
        abort();
    }

    /* the same bytes give the same answer, and a short message buffer is cut, not overrun */
    size_t small = 1 + size % 24;
    char *e2 = malloc(small);
    if (kl_routefile_parse(FILENAME, text, size, &d2, e2, small) != r) abort();
    if (strnlen(e2, small) == small || strncmp(e2, err, small - 1) != 0) abort();
    free(e2);
    if (r == 0) {
        if (d2.sql_len != d.sql_len || memcmp(d2.sql, d.sql, d.sql_len) != 0 || d2.n_params != d.n_params) abort();
        kl_routefile_free(&d2);
        kl_routefile_free(&d);
        if (memcmp(&d, &zero, sizeof d) != 0) abort();
    }
    return 0;
}
