#include "app/tags.h"

#include <string.h>

static const char *lookup(const kl_route_def_t *d, const char *const *values, const char *name, size_t len) {
    for (size_t i = 0; i < d->n_params; i++) {
        const kl_route_param_t *p = &d->params[i];
        if ((p->source == KL_ROUTE_FROM_PATH || p->source == KL_ROUTE_FROM_QUERY) && strlen(p->name) == len &&
            memcmp(p->name, name, len) == 0)
            return values[i] ? values[i] : "";
    }
    return "";
}

/* Writes the expansion of tpl at out (when out != NULL); returns its length. */
static size_t expand(char *out, const kl_route_def_t *d, const char *const *values, const char *tpl) {
    size_t n = 0;
    for (const char *p = tpl; *p;) {
        const char *close;
        if (*p == '{' && (close = strchr(p, '}')) != NULL) {
            for (const char *v = lookup(d, values, p + 1, (size_t)(close - p - 1)); *v; v++) {
                if (*v == KL_TAGS_SEP) continue;
                if (out) out[n] = *v;
                n++;
            }
            p = close + 1;
            continue;
        }
        if (*p != KL_TAGS_SEP) {
            if (out) out[n] = *p;
            n++;
        }
        p++;
    }
    return n;
}

char *kl_tags_expand(kl_arena_t *a, const kl_route_def_t *d, const char *const *values, const char *tpl) {
    size_t n = expand(NULL, d, values, tpl);
    char *s = kl_arena_alloc(a, n + 1);
    expand(s, d, values, tpl);
    s[n] = '\0';
    return s;
}

char *kl_tags_join(kl_arena_t *a, const kl_route_def_t *d, const char *const *values, const char *const *list, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += expand(NULL, d, values, list[i]) + 1;
    char *s = kl_arena_alloc(a, total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) s[o++] = KL_TAGS_SEP;
        o += expand(s + o, d, values, list[i]);
    }
    s[o] = '\0';
    return s;
}

bool kl_tags_next(const char **cursor, kl_str_t *tag) {
    const char *t = *cursor;
    while (*t == KL_TAGS_SEP) t++;
    if (!*t) {
        *cursor = t;
        return false;
    }
    const char *e = strchr(t, KL_TAGS_SEP);
    size_t n = e ? (size_t)(e - t) : strlen(t);
    *tag = (kl_str_t){t, n};
    *cursor = t + n;
    return true;
}
