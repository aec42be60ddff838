#include "app/request.h"

#include <string.h>

kl_str_t kl_request_header(const kl_request_t *r, const char *name) {
    for (size_t i = 0; i < r->num_headers; i++)
        if (kl_str_ieq(r->headers[i].name, name)) return r->headers[i].value;
    return (kl_str_t){NULL, 0};
}

kl_str_t kl_request_header_list(kl_request_t *r, const char *name) {
    size_t lines = 0, len = 0;
    kl_str_t first = {NULL, 0};
    for (size_t i = 0; i < r->num_headers; i++) {
        if (!kl_str_ieq(r->headers[i].name, name)) continue;
        if (!lines++) first = r->headers[i].value;
        len += r->headers[i].value.len + 2;
    }
    if (lines <= 1) return first;
    char *p = kl_arena_alloc(r->arena, len), *o = p;
    for (size_t i = 0; i < r->num_headers; i++) {
        if (!kl_str_ieq(r->headers[i].name, name)) continue;
        if (o != p) *o++ = ',', *o++ = ' ';
        memcpy(o, r->headers[i].value.base, r->headers[i].value.len);
        o += r->headers[i].value.len;
    }
    return (kl_str_t){p, (size_t)(o - p)};
}

static kl_str_t dup_str(kl_arena_t *a, kl_str_t s) {
    if (!s.len) return s;
    return (kl_str_t){kl_arena_strndup(a, s.base, s.len), s.len};
}

void kl_request_detach(kl_request_t *r) {
    kl_arena_t *a = r->arena;
    r->method = dup_str(a, r->method);
    r->target = dup_str(a, r->target);
    r->path = dup_str(a, r->path);
    r->query = dup_str(a, r->query);
    kl_http1_header_t *h = kl_arena_alloc(a, sizeof(*h) * (r->num_headers ? r->num_headers : 1));
    for (size_t i = 0; i < r->num_headers; i++) {
        h[i].name = dup_str(a, r->headers[i].name);
        h[i].value = dup_str(a, r->headers[i].value);
    }
    r->headers = h;
    for (size_t i = 0; i < sizeof(r->params) / sizeof(r->params[0]); i++) r->params[i] = dup_str(a, r->params[i]);
}

void kl_request_defer(kl_request_t *r) {
    kl_request_detach(r);
    r->deferred = true;
}
