/* sql_body.c - checking a route's JSON body against its @field lines (see sql_body.h).
 *
 * One validation pass (kl_json_validate: syntax, UTF-8, depth, unique top-level names), one
 * walk over the top-level members to pair them with fields and refuse strangers, then each
 * field in declaration order. Decoded strings go to the arena, sized by their JSON text
 * (decoding never lengthens a string), so the memory a request takes is at most its body. */
#include "app/sql_body.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/datetime.h"
#include "proto/json_read.h"
#include "proto/url.h"

#define NAME_SHOWN 64 /* bytes of a client's member name a message repeats */

__attribute__((format(printf, 3, 4))) static int refuse(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A NUL-terminated copy of s in the arena, or NULL when it is exhausted. */
static char *dup_text(kl_arena_t *a, kl_str_t s) {
    char *d = kl_arena_tryalloc(a, s.len + 1);
    if (d == NULL) return NULL;
    memcpy(d, s.base, s.len);
    d[s.len] = '\0';
    return d;
}

/* Decodes the JSON string tok (already validated) into the arena. Returns 0, -EILSEQ for a
 * \u0000 (PostgreSQL text cannot hold it) or -ENOMEM. */
static int decode(kl_arena_t *a, kl_str_t tok, kl_str_t *out) {
    char *d = kl_arena_tryalloc(a, tok.len);
    if (d == NULL) return -ENOMEM;
    ssize_t n = kl_json_string(tok.base, tok.len, d, tok.len, false);
    if (n < 0) return n == -EILSEQ ? -EILSEQ : -EINVAL;
    d[n] = '\0';
    *out = (kl_str_t){d, (size_t)n};
    return 0;
}

static int64_t chars(kl_str_t s) {
    int64_t n = 0;
    for (size_t i = 0; i < s.len; i++) n += ((unsigned char)s.base[i] & 0xc0) != 0x80;
    return n;
}

/* "N character(s)" for a length message. */
static const char *plural(int64_t n) { return n == 1 ? "" : "s"; }

static int check_text(const kl_route_field_t *f, kl_str_t v, char *err, size_t errlen) {
    int64_t n = chars(v);
    if ((f->minlen >= 0 && n < f->minlen) || (f->maxlen >= 0 && n > f->maxlen)) {
        if (f->minlen >= 0 && f->maxlen >= 0)
            return refuse(err, errlen, "body field '%s' must be a string of %lld to %lld character%s", f->name,
                          (long long)f->minlen, (long long)f->maxlen, plural(f->maxlen));
        if (f->maxlen >= 0)
            return refuse(err, errlen, "body field '%s' must be a string of at most %lld character%s", f->name,
                          (long long)f->maxlen, plural(f->maxlen));
        return refuse(err, errlen, "body field '%s' must be a string of at least %lld character%s", f->name,
                      (long long)f->minlen, plural(f->minlen));
    }
    if (f->n_one_of == 0) return 0;
    for (size_t k = 0; k < f->n_one_of; k++)
        if (kl_str_eq(v, f->one_of[k])) return 0;
    size_t at = (size_t)snprintf(err, errlen, "body field '%s' must be one of ", f->name);
    for (size_t k = 0; k < f->n_one_of && at < errlen; k++)
        at += (size_t)snprintf(err + at, errlen - at, "%s%s", k ? ", " : "", f->one_of[k]);
    return -EINVAL;
}

static int check_integer(const kl_route_field_t *f, kl_str_t v, kl_json_type_t t, char *err, size_t errlen) {
    int64_t lo = f->type == KL_FIELD_INT ? INT32_MIN : INT64_MIN, hi = f->type == KL_FIELD_INT ? INT32_MAX : INT64_MAX;
    if (f->has_min) lo = f->min;
    if (f->has_max) hi = f->max;
    int64_t x;
    if (t != KL_JSON_NUMBER || !kl_json_int(v.base, v.len, &x) || x < lo || x > hi)
        return refuse(err, errlen, "body field '%s' must be an integer from %lld to %lld", f->name, (long long)lo,
                      (long long)hi);
    return 0;
}

static int check_numeric(const kl_route_field_t *f, kl_str_t v, kl_json_type_t t, char *err, size_t errlen) {
    bool low = t == KL_JSON_NUMBER && f->has_min && kl_json_number_cmp(v.base, v.len, f->min) < 0;
    bool high = t == KL_JSON_NUMBER && f->has_max && kl_json_number_cmp(v.base, v.len, f->max) > 0;
    if (t == KL_JSON_NUMBER && !low && !high) return 0;
    if (f->has_min && f->has_max)
        return refuse(err, errlen, "body field '%s' must be a number from %lld to %lld", f->name, (long long)f->min,
                      (long long)f->max);
    if (f->has_min)
        return refuse(err, errlen, "body field '%s' must be a number of at least %lld", f->name, (long long)f->min);
    if (f->has_max)
        return refuse(err, errlen, "body field '%s' must be a number of at most %lld", f->name, (long long)f->max);
    return refuse(err, errlen, "body field '%s' must be a number", f->name);
}

/* Checks member m (its value not null) against field f and sets *out to what it binds. */
static int check_field(kl_arena_t *a, const kl_route_field_t *f, const kl_json_member_t *m, const char **out,
                       char *err, size_t errlen) {
    kl_str_t v = m->value, s;
    int r;
    switch (f->type) {
    case KL_FIELD_TEXT:
    case KL_FIELD_UUID:
    case KL_FIELD_TIMESTAMPTZ:
        if (m->type != KL_JSON_STRING) break;
        if ((r = decode(a, v, &s)) == -ENOMEM) return r;
        if (r == -EILSEQ)
            return refuse(err, errlen, "body field '%s' must not contain \\u0000 (text cannot hold NUL)", f->name);
        if (r != 0) break;
        if (f->type == KL_FIELD_TEXT && (r = check_text(f, s, err, errlen)) != 0) return r;
        if (f->type == KL_FIELD_UUID && !kl_value_uuid(s)) break;
        if (f->type == KL_FIELD_TIMESTAMPTZ && !kl_datetime_valid(s.base, s.len)) break;
        *out = s.base;
        return 0;
    case KL_FIELD_INT:
    case KL_FIELD_BIGINT:
        if ((r = check_integer(f, v, m->type, err, errlen)) != 0) return r;
        return (*out = dup_text(a, v)) ? 0 : -ENOMEM;
    case KL_FIELD_NUMERIC:
        if ((r = check_numeric(f, v, m->type, err, errlen)) != 0) return r;
        return (*out = dup_text(a, v)) ? 0 : -ENOMEM;
    case KL_FIELD_BOOL:
        if (m->type != KL_JSON_TRUE && m->type != KL_JSON_FALSE) break;
        *out = m->type == KL_JSON_TRUE ? "true" : "false";
        return 0;
    case KL_FIELD_JSON:
        return (*out = dup_text(a, v)) ? 0 : -ENOMEM;
    }
    switch (f->type) {
    case KL_FIELD_UUID: return refuse(err, errlen, "body field '%s' must be a UUID string", f->name);
    case KL_FIELD_TIMESTAMPTZ:
        return refuse(err, errlen,
                      "body field '%s' must be a date-time string with a time zone offset "
                      "(RFC 3339, e.g. 2024-05-01T12:00:00Z)",
                      f->name);
    case KL_FIELD_BOOL: return refuse(err, errlen, "body field '%s' must be true or false", f->name);
    default: return refuse(err, errlen, "body field '%s' must be a string", f->name);
    }
}

/* The first bytes of a client's member name, cut at a character boundary. */
static int shown(const char *name, size_t len) {
    if (len <= NAME_SHOWN) return (int)len;
    size_t n = NAME_SHOWN;
    while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80) n--;
    return (int)n;
}

int kl_sql_body_check(kl_arena_t *a, const kl_route_def_t *d, kl_str_t body, const char **values, char *err,
                      size_t errlen) {
    kl_json_error_t je;
    int type = kl_json_validate(body.base, body.len, &je);
    if (type < 0)
        return refuse(err, errlen, "the request body is not valid JSON: %s at byte %zu", je.reason, je.offset);
    if (d->n_fields == 0) return 0;
    if (type != KL_JSON_OBJECT) return refuse(err, errlen, "the request body must be a JSON object");

    kl_json_member_t got[KL_ROUTE_MAX_FIELDS];
    bool seen[KL_ROUTE_MAX_FIELDS] = {0};
    kl_json_iter_t it;
    kl_json_member_t m;
    /* a field's name fits (KL_ROUTE_MAX_FIELD_NAME), so a longer member name matches none */
    _Static_assert(NAME_SHOWN + 1 > KL_ROUTE_MAX_FIELD_NAME, "a field's name fits the buffer");
    char name[NAME_SHOWN + 1];
    kl_json_members(&it, body.base, body.len);
    while (kl_json_members_next(&it, &m, name, sizeof(name))) {
        size_t k = 0;
        while (k < d->n_fields &&
               !(m.name_len == strlen(d->fields[k].name) && memcmp(name, d->fields[k].name, m.name_len) == 0))
            k++;
        if (k < d->n_fields) {
            got[k] = m; /* names are unique: kl_json_validate refused repeats */
            seen[k] = true;
        } else if (!d->body_allow_extra) {
            size_t at = (size_t)snprintf(err, errlen, "body field '%.*s' is not allowed; this route takes ",
                                         shown(name, m.name_len < sizeof(name) ? m.name_len : sizeof(name)), name);
            for (size_t j = 0; j < d->n_fields && at < errlen; j++)
                at += (size_t)snprintf(err + at, errlen - at, "%s%s", j ? ", " : "", d->fields[j].name);
            return -EINVAL;
        }
    }
    for (size_t k = 0; k < d->n_fields; k++) {
        const kl_route_field_t *f = &d->fields[k];
        values[k] = NULL;
        if (!seen[k] || got[k].type == KL_JSON_NULL) {
            if (f->required) return refuse(err, errlen, "body field '%s' is required", f->name);
            continue;
        }
        int r = check_field(a, f, &got[k], &values[k], err, errlen);
        if (r != 0) return r;
    }
    return 0;
}
