#include "app/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "proto/url.h"

/* Matching order of one segment: literal, int, uuid, text. */
static int seg_rank(const kl_route_segment_t *s) {
    if (s->literal) return 0;
    return s->type == KL_ROUTE_INT ? 1 : s->type == KL_ROUTE_UUID ? 2 : 3;
}

static int route_cmp(const void *x, const void *y) {
    const kl_route_def_t *a = &((const kl_route_t *)x)->def, *b = &((const kl_route_t *)y)->def;
    size_t n = a->n_segments < b->n_segments ? a->n_segments : b->n_segments;
    for (size_t i = 0; i < n; i++) {
        int ra = seg_rank(&a->segments[i]), rb = seg_rank(&b->segments[i]);
        if (ra != rb) return ra - rb;
        if (ra == 0) {
            int c = strcmp(a->segments[i].literal, b->segments[i].literal);
            if (c) return c;
        }
    }
    if (a->n_segments != b->n_segments) return a->n_segments < b->n_segments ? -1 : 1;
    return (int)a->method - (int)b->method;
}

int kl_router_build(kl_route_table_t *t, char *err, size_t errlen) {
    qsort(t->routes, t->n, sizeof(kl_route_t), route_cmp);
    for (size_t i = 1; i < t->n; i++) {
        const kl_route_def_t *a = &t->routes[i - 1].def, *b = &t->routes[i].def;
        if (kl_routefile_conflicts(a, b)) {
            snprintf(err, errlen, "%s:%d: duplicate route %s %s (also in %s)", b->file, b->ann_line[KL_ROUTE_ANN_ROUTE],
                     b->method_name, b->path, a->file);
            return -EINVAL;
        }
    }
    return 0;
}

static bool typed_ok(kl_route_type_t type, kl_str_t raw) {
    if (type != KL_ROUTE_INT && type != KL_ROUTE_UUID) return raw.len > 0;
    char buf[64];
    if (raw.len == 0 || raw.len > sizeof(buf)) return false;
    ssize_t n = kl_url_decode(buf, raw.base, raw.len, false);
    if (n < 0) return false;
    kl_str_t v = {buf, (size_t)n};
    int64_t i;
    return type == KL_ROUTE_INT ? kl_value_int(v, &i) : kl_value_uuid(v);
}

static bool path_matches(const kl_route_def_t *d, kl_str_t path, kl_str_t *segs) {
    if (path.len == 0 || path.base[0] != '/') return false;
    const char *p = path.base + 1, *end = path.base + path.len;
    if (d->n_segments == 0) return p == end; /* "/" */
    for (size_t i = 0; i < d->n_segments; i++) {
        if (p > end) return false; /* fewer segments than the route */
        const char *slash = memchr(p, '/', (size_t)(end - p));
        kl_str_t seg = {p, (size_t)((slash ? slash : end) - p)};
        p = slash ? slash + 1 : end + 1;
        const kl_route_segment_t *s = &d->segments[i];
        if (s->literal ? !kl_str_eq(seg, s->literal) : !typed_ok(s->type, seg)) return false;
        segs[i] = seg;
    }
    return p > end; /* and none left over */
}

int kl_router_match(const kl_route_table_t *t, kl_str_t method, kl_str_t path, const kl_route_t **out,
                    kl_str_t *segs, char *allow, size_t allowlen) {
    bool head = kl_str_eq(method, "HEAD"), any = false;
    size_t alen = 0;
    kl_str_t scratch[KL_ROUTE_MAX_SEGMENTS];
    allow[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const kl_route_def_t *d = &t->routes[i].def;
        bool same = kl_str_eq(method, d->method_name) || (head && d->method == KL_ROUTE_GET);
        if (!path_matches(d, path, same ? segs : scratch)) continue;
        if (same) {
            *out = &t->routes[i];
            return 0;
        }
        any = true;
        int w = snprintf(allow + alen, allowlen - alen, "%s%s%s", alen ? ", " : "", d->method_name,
                         d->method == KL_ROUTE_GET ? ", HEAD" : "");
        if (w > 0 && (size_t)w < allowlen - alen) alen += (size_t)w;
    }
    return any ? 405 : 404;
}

void kl_router_free(kl_route_table_t *t) {
    for (size_t i = 0; i < t->n; i++) kl_routefile_free(&t->routes[i].def);
    for (size_t i = 0; i < t->nstmts; i++) {
        kl_free((char *)t->stmts[i].name);
        kl_free((char *)t->stmts[i].sql);
        kl_free((char *)t->stmts[i].label);
    }
    kl_free(t->routes);
    kl_free(t->stmts);
    memset(t, 0, sizeof(*t));
}
