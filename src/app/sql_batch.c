#include "app/sql_batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

bool kl_sql_batch_eligible(const kl_route_def_t *d) {
    return d->method == KL_ROUTE_GET && d->returns == KL_ROUTE_RETURNS_ONE && d->auth == KL_ROUTE_AUTH_NONE &&
           !d->timeout_ms && d->idempotent == KL_ROUTE_IDEMPOTENT_NO && !d->n_invalidates &&
           d->n_params > 0 && d->n_param_uses <= KL_ROUTE_MAX_PARAM_USES && d->params_cast;
}

/* Appends the formatted text at b[*len] (the caller sized b for all of it). */
__attribute__((format(printf, 3, 4))) static void put(char *b, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    *len += (size_t)vsprintf(b + *len, fmt, ap);
    va_end(ap);
}

char *kl_sql_batch_sql(const kl_route_def_t *d) {
    if (!kl_sql_batch_eligible(d)) return NULL;
    /* each $n (at most "$64") becomes "keel_p.keel_a64"; the frame takes ~40 bytes a parameter */
    size_t cap = d->sql_len + 16 * d->n_param_uses + 48 * d->n_params + 256, len = 0;
    char *b = kl_malloc(cap);
    put(b, &len, "SELECT keel_q.*, keel_p.keel_ord FROM unnest(");
    for (size_t k = 0; k < d->n_params; k++) put(b, &len, "%s$%zu::text[]", k ? ", " : "", k + 1);
    put(b, &len, ") WITH ORDINALITY AS keel_p(");
    for (size_t k = 0; k < d->n_params; k++) put(b, &len, "keel_a%zu, ", k + 1);
    put(b, &len, "keel_ord) CROSS JOIN LATERAL (\n");
    size_t at = 0;
    for (size_t u = 0; u < d->n_param_uses; u++) {
        size_t use = d->param_use[u], end = use + 1;
        while (end < d->sql_len && d->sql[end] >= '0' && d->sql[end] <= '9') end++;
        memcpy(b + len, d->sql + at, use - at);
        len += use - at;
        put(b, &len, "keel_p.keel_a%.*s", (int)(end - use - 1), d->sql + use + 1);
        at = end;
    }
    memcpy(b + len, d->sql + at, d->sql_len - at);
    len += d->sql_len - at;
    put(b, &len, "\n) AS keel_q ORDER BY keel_p.keel_ord");
    return b;
}
