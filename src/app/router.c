#include "app/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

const char *kl_type_name(kl_type_t t) {
    switch (t) {
    case KL_TYPE_INT: return "int";
    case KL_TYPE_UUID: return "uuid";
    case KL_TYPE_BOOL: return "bool";
    default: return "text";
    }
}

/* Segment-wise: a literal sorts before a parameter; then shorter first. */
static int shape_cmp(const kl_route_t *a, const kl_route_t *b) {
    size_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++) {
        bool pa = !a->segs[i].literal, pb = !b->segs[i].literal;
        if (pa != pb) return pa ? 1 : -1;
        if (!pa) {
            int c = strcmp(a->segs[i].literal, b->segs[i].literal);
            if (c) return c;
        }
    }
    return (a->nsegs > b->nsegs) - (a->nsegs < b->nsegs);
}

static int route_cmp(const void *x, const void *y) {
    const kl_route_t *a = x, *b = y;
    int c = shape_cmp(a, b);
    return c ? c : strcmp(a->method, b->method);
}

int kl_router_build(kl_route_table_t *t, char *err, size_t errlen) {
    qsort(t->routes, t->n, sizeof(kl_route_t), route_cmp);
    for (size_t i = 1; i < t->n; i++) {
        const kl_route_t *a = &t->routes[i - 1], *b = &t->routes[i];
        if (route_cmp(a, b) == 0) {
            snprintf(err, errlen, "%s:1: duplicate route %s %s (also in %s)", b->file, b->method, b->pattern, a->file);
            return -EINVAL;
        }
    }
    return 0;
}

/* Splits the next segment off *p (which starts after a '/'). */
static kl_str_t next_seg(const char **p, const char *end) {
    const char *s = *p;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *e = slash ? slash : end;
    *p = slash ? slash + 1 : end + 1;
    return (kl_str_t){s, (size_t)(e - s)};
}

static bool shape_matches(const kl_route_t *r, kl_str_t path, kl_str_t *params) {
    if (path.len == 0 || path.base[0] != '/') return false;
    const char *p = path.base + 1, *end = path.base + path.len;
    size_t np = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (p > end) return false; /* path has fewer segments */
        kl_str_t seg = next_seg(&p, end);
        if (r->segs[i].literal) {
            if (!kl_str_eq(seg, r->segs[i].literal)) return false;
        } else {
            if (seg.len == 0 || np >= KL_MAX_PATH_PARAMS) return false;
            params[np++] = seg;
        }
    }
    return p > end; /* and no segments left over */
}

int kl_router_match(const kl_route_table_t *t, kl_str_t method, kl_str_t path, const kl_route_t **out,
                    kl_str_t *params, char *allow, size_t allowlen) {
    bool head = kl_str_eq(method, "HEAD");
    size_t alen = 0;
    const kl_route_t *shape = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const kl_route_t *r = &t->routes[i];
        /* Routes of one shape are adjacent; once a shape matched, only its siblings count. */
        if (shape && shape_cmp(shape, r) != 0) break;
        if (!shape_matches(r, path, params)) continue;
        shape = r;
        if (kl_str_eq(method, r->method) || (head && !strcmp(r->method, "GET"))) {
            *out = r;
            return 0;
        }
        int w = snprintf(allow + alen, allowlen - alen, "%s%s%s", alen ? ", " : "", r->method,
                         !strcmp(r->method, "GET") ? ", HEAD" : "");
        if (w > 0 && (size_t)w < allowlen - alen) alen += (size_t)w;
    }
    return shape ? 405 : 404;
}

void kl_router_free(kl_route_table_t *t) {
    for (size_t i = 0; i < t->n; i++) {
        kl_route_t *r = &t->routes[i];
        for (size_t s = 0; s < r->nsegs; s++) kl_free(r->segs[s].literal), kl_free(r->segs[s].name);
        for (size_t q = 0; q < r->nqparams; q++) {
            kl_qparam_t *p = &r->qparams[q];
            for (size_t k = 0; k < p->n_one_of; k++) kl_free(p->one_of[k]);
            kl_free(p->one_of);
            kl_free(p->name);
            kl_free(p->def);
        }
        kl_free(r->segs);
        kl_free(r->qparams);
        kl_free(r->binds);
        kl_free(r->method);
        kl_free(r->pattern);
        kl_free(r->file);
    }
    for (size_t i = 0; i < t->nstmts; i++) {
        kl_free((char *)t->stmts[i].name);
        kl_free((char *)t->stmts[i].sql);
        kl_free((char *)t->stmts[i].label);
    }
    kl_free(t->routes);
    kl_free(t->stmts);
    memset(t, 0, sizeof(*t));
}
