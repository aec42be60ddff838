/* routefile_annotations.c - the annotations of a route file (see routefile_annotations.h).
 *
 * kl_routefile_annotations_parse splits the line into words and does, from the table, what
 * every annotation shares: the name lookup, the at-most-once rule and def->ann_line. Each
 * parse function below then handles only its own words. The strings it keeps are copied into
 * the def's block (KL_ROUTEFILE_DUP_OR_FAIL), as the file's text is only borrowed. */
#include "app/routefile_annotations.h"

#include <stdint.h>
#include <string.h>

#define MAX_WORDS 48 /* words on one annotation line */

static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* ---- values ------------------------------------------------------------------------- */

static bool parse_i64(kl_str_t s, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (s.len > 0 && (s.base[0] == '-' || s.base[0] == '+')) {
        neg = s.base[0] == '-';
        i = 1;
    }
    if (i == s.len || s.len - i > 19) return false;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        if (!is_digit((unsigned char)s.base[i])) return false;
        v = v * 10 + (uint64_t)(s.base[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* digits then one of the units; a unit is required, the value bounded so nothing overflows */
static bool parse_unit_number(kl_str_t s, const char *const *units, const uint64_t *mults,
                              uint64_t *out) {
    size_t i = 0;
    uint64_t v = 0;
    while (i < s.len && is_digit((unsigned char)s.base[i])) {
        if (i == 12) return false;
        v = v * 10 + (uint64_t)(s.base[i] - '0');
        i++;
    }
    if (i == 0) return false;
    kl_str_t unit = {s.base + i, s.len - i};
    for (size_t k = 0; units[k] != NULL; k++) {
        if (kl_str_eq(unit, units[k])) {
            *out = v * mults[k];
            return true;
        }
    }
    return false;
}

static bool parse_duration(kl_str_t s, uint64_t *ms) {
    static const char *const units[] = {"ms", "s", "m", "h", NULL};
    static const uint64_t mults[] = {1, 1000, 60000, 3600000};
    return parse_unit_number(s, units, mults, ms) && *ms > 0;
}

static bool parse_size(kl_str_t s, uint64_t *bytes) {
    static const char *const units[] = {"", "k", "K", "m", "M", NULL};
    static const uint64_t mults[] = {1, 1024, 1024, 1024 * 1024, 1024 * 1024};
    return parse_unit_number(s, units, mults, bytes) && *bytes > 0;
}

static bool valid_uuid(kl_str_t s) {
    if (s.len != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        unsigned char c = (unsigned char)s.base[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'f')) {
            return false;
        }
    }
    return true;
}

/* Whether v is a valid value of q's type and within its bounds; why not, in *why. */
static bool value_ok(const kl_route_query_t *q, kl_str_t v, const char **why) {
    int64_t n;
    switch (q->type) {
    case KL_ROUTE_INT:
        if (!parse_i64(v, &n)) {
            *why = "is not an int";
            return false;
        }
        if ((q->has_min && n < q->min) || (q->has_max && n > q->max)) {
            *why = "is outside min/max";
            return false;
        }
        return true;
    case KL_ROUTE_TEXT:
        if ((q->has_min && (int64_t)v.len < q->min) || (q->has_max && (int64_t)v.len > q->max)) {
            *why = "has a length outside min/max";
            return false;
        }
        return true;
    case KL_ROUTE_UUID:
        *why = "is not a uuid";
        return valid_uuid(v);
    case KL_ROUTE_BOOL:
        *why = "is not true or false";
        return kl_str_eq(v, "true") || kl_str_eq(v, "false");
    case KL_ROUTE_JSON:
        break;
    }
    *why = "has no valid type";
    return false;
}

static bool parse_type(kl_str_t s, kl_route_type_t *t) {
    static const struct {
        const char *name;
        kl_route_type_t type;
    } types[] = {{"text", KL_ROUTE_TEXT}, {"int", KL_ROUTE_INT}, {"uuid", KL_ROUTE_UUID},
                 {"bool", KL_ROUTE_BOOL}, {"json", KL_ROUTE_JSON}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (kl_str_eq(s, types[i].name)) {
            *t = types[i].type;
            return true;
        }
    }
    return false;
}

/* ---- annotations -------------------------------------------------------------------- */

/* Splits a one-of list "a|b|c" into a NUL-terminated copy of each value, in an array carved
 * from the def's block. */
static int split_one_of(kl_routefile_parser_t *p, kl_str_t list, int line, const char ***out, size_t *n_out) {
    size_t n = 1;
    for (size_t k = 0; k < list.len; k++) n += list.base[k] == '|';
    if (n > KL_ROUTE_MAX_ONE_OF)
        return kl_routefile_lex_fail(p, line, "one-of has more than %d values", KL_ROUTE_MAX_ONE_OF);
    const char **vals = kl_routefile_lex_carve(p, n * sizeof(*vals), sizeof(void *));
    if (vals == NULL) return kl_routefile_lex_fail(p, line, "route file too complex");
    *out = vals;
    *n_out = 0;
    for (size_t a = 0;;) {
        size_t b = a;
        while (b < list.len && list.base[b] != '|') b++;
        kl_str_t v = {list.base + a, b - a};
        if (v.len == 0) return kl_routefile_lex_fail(p, line, "one-of has an empty value");
        KL_ROUTEFILE_DUP_OR_FAIL(vals[*n_out], p, v, line);
        (*n_out)++;
        if (b == list.len) break;
        a = b + 1;
    }
    return 0;
}

/* The error for a word an annotation does not take. */
static int extra(kl_routefile_parser_t *p, int line, kl_route_ann_t k, kl_str_t w) {
    return kl_routefile_lex_fail(p, line, "unexpected '%.*s' after %s", kl_routefile_lex_shown(w), w.base,
                                 kl_routefile_ann_name(k));
}

/* @route METHOD /path: the request this file answers. Each segment of the path is a literal
 * or a parameter {name} / {name:int|text|uuid}, bound as :name. */
static int ann_route(kl_routefile_parser_t *p, const kl_str_t *w, size_t nw, int line) {
    kl_route_def_t *d = p->def;
    if (nw < 2)
        return kl_routefile_lex_fail(p, line,
                                     "@route needs a method and a path: @route GET /api/things/{id:int}");
    if (nw > 2) return extra(p, line, KL_ROUTE_ANN_ROUTE, w[2]);
    size_t m = 0;
    while (m < sizeof(method_names) / sizeof(method_names[0]) && !kl_str_eq(w[0], method_names[m])) m++;
    if (m == sizeof(method_names) / sizeof(method_names[0]))
        return kl_routefile_lex_fail(p, line, "unknown method '%.*s' (GET, POST, PUT, PATCH or DELETE)",
                                     kl_routefile_lex_shown(w[0]), w[0].base);
    d->method = (kl_route_method_t)m;
    d->method_name = method_names[m];

    kl_str_t path = w[1];
    if (path.len == 0 || path.base[0] != '/')
        return kl_routefile_lex_fail(p, line, "path '%.*s' must start with '/'", kl_routefile_lex_shown(path),
                                     path.base);
    KL_ROUTEFILE_DUP_OR_FAIL(d->path, p, path, line);
    if (path.len == 1) return 0;
    for (size_t i = 1;;) {
        size_t j = i;
        while (j < path.len && path.base[j] != '/') j++;
        kl_str_t seg = {path.base + i, j - i};
        if (seg.len == 0)
            return kl_routefile_lex_fail(p, line,
                                         j == path.len ? "path '%.*s' must not end with '/'"
                                                       : "path '%.*s' has an empty segment ('//')",
                                         kl_routefile_lex_shown(path), path.base);
        if (d->n_segments == KL_ROUTE_MAX_SEGMENTS)
            return kl_routefile_lex_fail(p, line, "path has more than %d segments", KL_ROUTE_MAX_SEGMENTS);
        kl_route_segment_t *s = &d->segments[d->n_segments];
        s->param = -1;
        s->type = KL_ROUTE_TEXT;
        if (seg.base[0] == '{') {
            if (seg.len < 3 || seg.base[seg.len - 1] != '}')
                return kl_routefile_lex_fail(p, line,
                                             "malformed path parameter '%.*s': write {name} or {name:type}",
                                             kl_routefile_lex_shown(seg), seg.base);
            kl_str_t in = {seg.base + 1, seg.len - 2}, name = in, type = {"text", 4};
            const char *colon = memchr(in.base, ':', in.len);
            if (colon != NULL) {
                name.len = (size_t)(colon - in.base);
                type = (kl_str_t){colon + 1, in.len - name.len - 1};
            }
            if (!kl_routefile_lex_valid_name(name))
                return kl_routefile_lex_fail(p, line,
                                             "malformed path parameter '%.*s': write {name} or {name:type}",
                                             kl_routefile_lex_shown(seg), seg.base);
            if (!parse_type(type, &s->type) || s->type == KL_ROUTE_BOOL || s->type == KL_ROUTE_JSON)
                return kl_routefile_lex_fail(
                    p, line, "unknown type '%.*s' for path parameter {%.*s} (int, text or uuid)",
                    kl_routefile_lex_shown(type), type.base, kl_routefile_lex_shown(name), name.base);
            if (kl_str_eq(name, "body") || kl_str_eq(name, "auth"))
                return kl_routefile_lex_fail(p, line, "'%.*s' is reserved; name the path parameter otherwise",
                                             kl_routefile_lex_shown(name), name.base);
            for (size_t k = 0; k < d->n_segments; k++)
                if (d->segments[k].name != NULL && kl_str_eq(name, d->segments[k].name))
                    return kl_routefile_lex_fail(p, line, "duplicate path parameter {%.*s}",
                                                 kl_routefile_lex_shown(name), name.base);
            KL_ROUTEFILE_DUP_OR_FAIL(s->name, p, name, line);
        } else {
            for (size_t k = 0; k < seg.len; k++) {
                unsigned char c = (unsigned char)seg.base[k];
                /* unreserved characters only (RFC 3986): the router compares bytes */
                if (!kl_routefile_lex_name_char(c) && c != '-' && c != '.' && c != '~')
                    return kl_routefile_lex_fail(p, line, "invalid character '%c' in path segment '%.*s'",
                                                 c >= 0x20 && c < 0x7f ? c : '?', kl_routefile_lex_shown(seg),
                                                 seg.base);
            }
            if (kl_str_eq(seg, ".") || kl_str_eq(seg, ".."))
                return kl_routefile_lex_fail(p, line, "path '%.*s' has a dot segment",
                                             kl_routefile_lex_shown(path), path.base);
            KL_ROUTEFILE_DUP_OR_FAIL(s->literal, p, seg, line);
        }
        d->n_segments++;
        if (j == path.len) break;
        i = j + 1;
    }
    return 0;
}

/* @query NAME TYPE [default V] [min N] [max N] [one-of a|b]: a query-string parameter,
 * bound as :NAME; required unless it has a default. */
static int ann_query(kl_routefile_parser_t *p, const kl_str_t *w, size_t nw, int line) {
    kl_route_def_t *d = p->def;
    if (nw < 2)
        return kl_routefile_lex_fail(p, line, "@query needs a name and a type: @query limit int default 20");
    if (!kl_routefile_lex_valid_name(w[0]))
        return kl_routefile_lex_fail(p, line, "invalid @query name '%.*s'", kl_routefile_lex_shown(w[0]),
                                     w[0].base);
    if (kl_str_eq(w[0], "body") || kl_str_eq(w[0], "auth"))
        return kl_routefile_lex_fail(p, line, "'%.*s' is reserved; name the @query parameter otherwise",
                                     kl_routefile_lex_shown(w[0]), w[0].base);
    for (size_t k = 0; k < d->n_query; k++)
        if (kl_str_eq(w[0], d->query[k].name))
            return kl_routefile_lex_fail(p, line, "duplicate @query %.*s (first at line %d)",
                                         kl_routefile_lex_shown(w[0]), w[0].base, d->query[k].line);
    if (d->n_query == KL_ROUTE_MAX_QUERY)
        return kl_routefile_lex_fail(p, line, "more than %d @query parameters", KL_ROUTE_MAX_QUERY);
    kl_route_query_t *q = &d->query[d->n_query];
    memset(q, 0, sizeof(*q));
    q->param = -1;
    q->line = line;
    KL_ROUTEFILE_DUP_OR_FAIL(q->name, p, w[0], line);
    if (!parse_type(w[1], &q->type) || q->type == KL_ROUTE_JSON)
        return kl_routefile_lex_fail(p, line, "unknown type '%.*s' for @query %s (int, text, uuid or bool)",
                                     kl_routefile_lex_shown(w[1]), w[1].base, q->name);

    kl_str_t def = {0}, one_of = {0};
    bool has_def = false, has_one_of = false;
    for (size_t i = 2; i < nw; i += 2) {
        kl_str_t opt = w[i];
        bool is_def = kl_str_eq(opt, "default"), is_min = kl_str_eq(opt, "min");
        bool is_max = kl_str_eq(opt, "max"), is_one = kl_str_eq(opt, "one-of");
        if (!is_def && !is_min && !is_max && !is_one)
            return kl_routefile_lex_fail(p, line,
                                         "unknown @query option '%.*s' (default, min, max or one-of)",
                                         kl_routefile_lex_shown(opt), opt.base);
        if (i + 1 == nw)
            return kl_routefile_lex_fail(p, line, "@query option %.*s needs a value",
                                         kl_routefile_lex_shown(opt), opt.base);
        kl_str_t v = w[i + 1];
        if ((is_def && has_def) || (is_min && q->has_min) || (is_max && q->has_max) ||
            (is_one && has_one_of))
            return kl_routefile_lex_fail(p, line, "@query option %.*s given twice",
                                         kl_routefile_lex_shown(opt), opt.base);
        if (is_def) {
            def = v;
            has_def = true;
        } else if (is_one) {
            one_of = v;
            has_one_of = true;
        } else {
            int64_t n;
            if (q->type != KL_ROUTE_INT && q->type != KL_ROUTE_TEXT)
                return kl_routefile_lex_fail(p, line, "min/max apply to int and text parameters, not %s",
                                             kl_routefile_type_name(q->type));
            if (!parse_i64(v, &n) || (q->type == KL_ROUTE_TEXT && n < 0))
                return kl_routefile_lex_fail(p, line, "bad number '%.*s' for %.*s", kl_routefile_lex_shown(v),
                                             v.base, kl_routefile_lex_shown(opt), opt.base);
            if (is_min) {
                q->has_min = true;
                q->min = n;
            } else {
                q->has_max = true;
                q->max = n;
            }
        }
    }
    if (q->has_min && q->has_max && q->min > q->max)
        return kl_routefile_lex_fail(p, line, "min %lld is greater than max %lld", (long long)q->min,
                                     (long long)q->max);
    const char *why;
    int r;
    if (has_one_of) {
        if ((r = split_one_of(p, one_of, line, &q->one_of, &q->n_one_of)) != 0) return r;
        for (size_t k = 0; k < q->n_one_of; k++) {
            kl_str_t v = {q->one_of[k], strlen(q->one_of[k])};
            if (!value_ok(q, v, &why))
                return kl_routefile_lex_fail(p, line, "one-of value '%.*s' %s", kl_routefile_lex_shown(v),
                                             v.base, why);
        }
    }
    if (has_def) {
        if (!value_ok(q, def, &why))
            return kl_routefile_lex_fail(p, line, "default '%.*s' %s", kl_routefile_lex_shown(def), def.base,
                                         why);
        bool listed = !has_one_of;
        for (size_t k = 0; k < q->n_one_of && !listed; k++) listed = kl_str_eq(def, q->one_of[k]);
        if (!listed)
            return kl_routefile_lex_fail(p, line, "default '%.*s' is not one of its one-of values",
                                         kl_routefile_lex_shown(def), def.base);
        KL_ROUTEFILE_DUP_OR_FAIL(q->default_value, p, def, line);
    }
    d->n_query++;
    return 0;
}

/* Checks a tag template's syntax ({name} / {body.field} / {auth.claim} references are
 * resolved in finish, when every declaration is known) and copies it. */
static int add_tag(kl_routefile_parser_t *p, kl_str_t t, int line, const char **list, int *lines, size_t *n,
                   kl_route_ann_t k) {
    if (t.len == 0) return kl_routefile_lex_fail(p, line, "empty tag in %s", kl_routefile_ann_name(k));
    if (*n == KL_ROUTE_MAX_TAGS)
        return kl_routefile_lex_fail(p, line, "more than %d tags in %s", KL_ROUTE_MAX_TAGS,
                                     kl_routefile_ann_name(k));
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.base[i];
        if (c == '{') {
            const char *close = memchr(t.base + i, '}', t.len - i);
            kl_str_t ref = {t.base + i + 1, close != NULL ? (size_t)(close - t.base) - i - 1 : 0};
            kl_str_t name = ref;
            if (ref.len > 5 && (memcmp(ref.base, "auth.", 5) == 0 || memcmp(ref.base, "body.", 5) == 0))
                name = (kl_str_t){ref.base + 5, ref.len - 5};
            if (close == NULL || !kl_routefile_lex_valid_name(name))
                return kl_routefile_lex_fail(
                    p, line, "malformed reference in tag '%.*s': write {name}, {body.field} or {auth.claim}",
                    kl_routefile_lex_shown(t), t.base);
            i += ref.len + 1;
        } else if (!kl_routefile_lex_name_char(c) && c != ':' && c != '.' && c != '-' && c != '/') {
            return kl_routefile_lex_fail(p, line, "invalid character '%c' in tag '%.*s'",
                                         c >= 0x20 && c < 0x7f ? c : '?', kl_routefile_lex_shown(t), t.base);
        }
    }
    KL_ROUTEFILE_DUP_OR_FAIL(list[*n], p, t, line);
    lines[*n] = line;
    (*n)++;
    return 0;
}

/* @body json [max SIZE] [allow-extra]: the route reads a JSON request body, bound as :body;
 * max caps its size below the server's limit; allow-extra accepts members no @field names. */
static int ann_body(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    if (na == 0 || !kl_str_eq(arg[0], "json"))
        return kl_routefile_lex_fail(p, line, "@body takes json: @body json [max 64k] [allow-extra]");
    d->has_body = true;
    for (size_t i = 1; i < na; i++) {
        if (kl_str_eq(arg[i], "allow-extra") && !d->body_allow_extra) {
            d->body_allow_extra = true;
        } else if (kl_str_eq(arg[i], "max") && d->body_max == 0) {
            if (i + 1 == na || !parse_size(arg[i + 1], &d->body_max) || d->body_max > (1u << 30))
                return kl_routefile_lex_fail(p, line, "bad size '%.*s' for @body max (e.g. 65536, 64k, 1m)",
                                             i + 1 == na ? 0 : kl_routefile_lex_shown(arg[i + 1]),
                                             i + 1 == na ? "" : arg[i + 1].base);
            i++;
        } else {
            return extra(p, line, KL_ROUTE_ANN_BODY, arg[i]);
        }
    }
    return 0;
}

static bool parse_field_type(kl_str_t s, kl_route_field_type_t *t) {
    for (int k = KL_FIELD_TEXT; k <= KL_FIELD_JSON; k++) {
        if (kl_str_eq(s, kl_routefile_field_type_name((kl_route_field_type_t)k))) {
            *t = (kl_route_field_type_t)k;
            return true;
        }
    }
    return false;
}

/* Characters (code points) in the UTF-8 text s. */
static int64_t chars(kl_str_t s) {
    int64_t n = 0;
    for (size_t i = 0; i < s.len; i++) n += ((unsigned char)s.base[i] & 0xc0) != 0x80;
    return n;
}

/* @field NAME TYPE required|optional [min N] [max N] [minlen N] [maxlen N] [one-of a|b]: one
 * member of the JSON body, validated before the database and bound as :body.NAME. */
static int ann_field(kl_routefile_parser_t *p, const kl_str_t *w, size_t nw, int line) {
    kl_route_def_t *d = p->def;
    int r;
    if (nw < 2)
        return kl_routefile_lex_fail(p, line,
                                     "@field needs a name, a type and required or optional: "
                                     "@field title text required maxlen 200");
    if (!kl_routefile_lex_valid_name(w[0]))
        return kl_routefile_lex_fail(p, line, "invalid @field name '%.*s' (letters, digits and _)",
                                     kl_routefile_lex_shown(w[0]), w[0].base);
    if (w[0].len > KL_ROUTE_MAX_FIELD_NAME)
        return kl_routefile_lex_fail(p, line, "@field name '%.*s' is longer than %d characters",
                                     kl_routefile_lex_shown(w[0]), w[0].base, KL_ROUTE_MAX_FIELD_NAME);
    for (size_t k = 0; k < d->n_fields; k++)
        if (kl_str_eq(w[0], d->fields[k].name))
            return kl_routefile_lex_fail(p, line, "duplicate @field %.*s (first at line %d)",
                                         kl_routefile_lex_shown(w[0]), w[0].base, d->fields[k].line);
    if (d->n_fields == KL_ROUTE_MAX_FIELDS)
        return kl_routefile_lex_fail(p, line, "more than %d @field lines", KL_ROUTE_MAX_FIELDS);
    kl_route_field_t *f = &d->fields[d->n_fields];
    memset(f, 0, sizeof(*f));
    f->param = -1;
    f->line = line;
    f->minlen = f->maxlen = -1;
    KL_ROUTEFILE_DUP_OR_FAIL(f->name, p, w[0], line);
    if (!parse_field_type(w[1], &f->type))
        return kl_routefile_lex_fail(
            p, line, "unknown type '%.*s' for @field %s (text, int, bigint, bool, numeric, uuid, timestamptz or json)",
            kl_routefile_lex_shown(w[1]), w[1].base, f->name);
    const char *tname = kl_routefile_field_type_name(f->type);
    bool is_int = f->type == KL_FIELD_INT || f->type == KL_FIELD_BIGINT;
    bool has_req = false, has_one_of = false;
    kl_str_t one_of = {0};
    for (size_t i = 2; i < nw; i++) {
        kl_str_t opt = w[i];
        if (kl_str_eq(opt, "required") || kl_str_eq(opt, "optional")) {
            if (has_req)
                return kl_routefile_lex_fail(p, line, "@field %s is either required or optional, once", f->name);
            has_req = true;
            f->required = kl_str_eq(opt, "required");
            continue;
        }
        bool is_min = kl_str_eq(opt, "min"), is_max = kl_str_eq(opt, "max");
        bool is_minlen = kl_str_eq(opt, "minlen"), is_maxlen = kl_str_eq(opt, "maxlen");
        bool is_one = kl_str_eq(opt, "one-of");
        if (!is_min && !is_max && !is_minlen && !is_maxlen && !is_one)
            return kl_routefile_lex_fail(
                p, line, "unknown @field option '%.*s' (required, optional, min, max, minlen, maxlen or one-of)",
                kl_routefile_lex_shown(opt), opt.base);
        if (i + 1 == nw)
            return kl_routefile_lex_fail(p, line, "@field option %.*s needs a value", kl_routefile_lex_shown(opt),
                                         opt.base);
        kl_str_t v = w[++i];
        if ((is_min && f->has_min) || (is_max && f->has_max) || (is_minlen && f->minlen >= 0) ||
            (is_maxlen && f->maxlen >= 0) || (is_one && has_one_of))
            return kl_routefile_lex_fail(p, line, "@field option %.*s given twice", kl_routefile_lex_shown(opt),
                                         opt.base);
        if (is_one) {
            if (f->type != KL_FIELD_TEXT)
                return kl_routefile_lex_fail(p, line, "one-of applies to text fields, not %s", tname);
            one_of = v;
            has_one_of = true;
            continue;
        }
        int64_t n;
        if ((is_min || is_max) && !is_int && f->type != KL_FIELD_NUMERIC)
            return kl_routefile_lex_fail(p, line, "min/max apply to int, bigint and numeric fields, not %s%s", tname,
                                         f->type == KL_FIELD_TEXT ? " (use minlen/maxlen)" : "");
        if ((is_minlen || is_maxlen) && f->type != KL_FIELD_TEXT)
            return kl_routefile_lex_fail(p, line, "minlen/maxlen apply to text fields, not %s", tname);
        if (!parse_i64(v, &n) || ((is_minlen || is_maxlen) && n < 0) ||
            (f->type == KL_FIELD_INT && (n < INT32_MIN || n > INT32_MAX)))
            return kl_routefile_lex_fail(p, line, "bad number '%.*s' for %.*s%s", kl_routefile_lex_shown(v), v.base,
                                         kl_routefile_lex_shown(opt), opt.base,
                                         f->type == KL_FIELD_INT ? " (an int holds -2147483648 to 2147483647)" : "");
        if (is_min) f->has_min = true, f->min = n;
        else if (is_max) f->has_max = true, f->max = n;
        else if (is_minlen) f->minlen = n;
        else f->maxlen = n;
    }
    if (!has_req)
        return kl_routefile_lex_fail(p, line, "@field %s needs required or optional", f->name);
    if (f->has_min && f->has_max && f->min > f->max)
        return kl_routefile_lex_fail(p, line, "min %lld is greater than max %lld", (long long)f->min,
                                     (long long)f->max);
    if (f->minlen >= 0 && f->maxlen >= 0 && f->minlen > f->maxlen)
        return kl_routefile_lex_fail(p, line, "minlen %lld is greater than maxlen %lld", (long long)f->minlen,
                                     (long long)f->maxlen);
    if (has_one_of) {
        if ((r = split_one_of(p, one_of, line, &f->one_of, &f->n_one_of)) != 0) return r;
        for (size_t k = 0; k < f->n_one_of; k++) {
            int64_t c = chars((kl_str_t){f->one_of[k], strlen(f->one_of[k])});
            if ((f->minlen >= 0 && c < f->minlen) || (f->maxlen >= 0 && c > f->maxlen))
                return kl_routefile_lex_fail(p, line, "one-of value '%.*s' has a length outside minlen/maxlen",
                                             kl_routefile_lex_shown((kl_str_t){f->one_of[k], strlen(f->one_of[k])}),
                                             f->one_of[k]);
        }
    }
    d->n_fields++;
    return 0;
}

/* @location TEMPLATE: the Location header of a success, each {member} filled from the
 * returned object (a create's 201 names what it created). */
static int ann_location(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    if (na == 0)
        return kl_routefile_lex_fail(p, line, "@location needs a path template: @location /api/things/{id}");
    if (na > 1) return extra(p, line, KL_ROUTE_ANN_LOCATION, arg[1]);
    kl_str_t t = arg[0];
    if (t.len == 0 || t.base[0] != '/')
        return kl_routefile_lex_fail(p, line, "@location '%.*s' must start with '/'", kl_routefile_lex_shown(t),
                                     t.base);
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.base[i];
        if (c == '{') {
            const char *close = memchr(t.base + i, '}', t.len - i);
            kl_str_t name = {t.base + i + 1, close != NULL ? (size_t)(close - t.base) - i - 1 : 0};
            if (close == NULL || !kl_routefile_lex_valid_name(name))
                return kl_routefile_lex_fail(p, line, "malformed reference in @location '%.*s': write {member}",
                                             kl_routefile_lex_shown(t), t.base);
            i += name.len + 1;
        } else if (!kl_routefile_lex_name_char(c) && c != '/' && c != '-' && c != '.' && c != '~') {
            /* unreserved characters only: the header needs no escaping of its literal part */
            return kl_routefile_lex_fail(p, line, "invalid character '%c' in @location '%.*s'",
                                         c >= 0x20 && c < 0x7f ? c : '?', kl_routefile_lex_shown(t), t.base);
        }
    }
    KL_ROUTEFILE_DUP_OR_FAIL(p->def->location, p, t, line);
    return 0;
}

/* @auth required|optional: the route verifies a Bearer token (required: 401 without one) and
 * binds its claims as :auth.<claim>. */
static int ann_auth(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    if (na == 0 || (!kl_str_eq(arg[0], "required") && !kl_str_eq(arg[0], "optional")))
        return kl_routefile_lex_fail(p, line, "@auth takes required or optional");
    if (na > 1) return extra(p, line, KL_ROUTE_ANN_AUTH, arg[1]);
    p->def->auth = kl_str_eq(arg[0], "required") ? KL_ROUTE_AUTH_REQUIRED : KL_ROUTE_AUTH_OPTIONAL;
    return 0;
}

/* @returns one|many|none [status 2NN]: the response's shape (one row's object or 404, an
 * array of rows, or no body) and its success status. */
static int ann_returns(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    if (na >= 1 && kl_str_eq(arg[0], "one"))
        d->returns = KL_ROUTE_RETURNS_ONE;
    else if (na >= 1 && kl_str_eq(arg[0], "many"))
        d->returns = KL_ROUTE_RETURNS_MANY;
    else if (na >= 1 && kl_str_eq(arg[0], "none"))
        d->returns = KL_ROUTE_RETURNS_NONE;
    else
        return kl_routefile_lex_fail(p, line, "@returns takes one, many or none");
    if (na >= 2) {
        int64_t st;
        if (!kl_str_eq(arg[1], "status")) return extra(p, line, KL_ROUTE_ANN_RETURNS, arg[1]);
        if (na == 2 || !parse_i64(arg[2], &st) || st < 200 || st > 299)
            return kl_routefile_lex_fail(p, line, "@returns status must be a 2xx status code");
        d->status = (int)st;
        p->status_set = true;
        if (na > 3) return extra(p, line, KL_ROUTE_ANN_RETURNS, arg[3]);
    }
    return 0;
}

/* @cache DURATION [private|public] [swr DURATION]: responses are cached for DURATION; private
 * keys them by the token's subject (and says Cache-Control: private); swr serves a stale
 * entry that long while it is refreshed. */
static int ann_cache(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    if (na == 0 || !parse_duration(arg[0], &d->cache_ms))
        return kl_routefile_lex_fail(p, line, "bad duration '%.*s' for @cache (e.g. 500ms, 60s, 5m, 1h)",
                                     na == 0 ? 0 : kl_routefile_lex_shown(arg[0]),
                                     na == 0 ? "" : arg[0].base);
    for (size_t i = 1; i < na; i++) {
        if (kl_str_eq(arg[i], "private") && !d->cache_private && !d->cache_public) {
            d->cache_private = true;
        } else if (kl_str_eq(arg[i], "public") && !d->cache_private && !d->cache_public) {
            d->cache_public = true;
        } else if (kl_str_eq(arg[i], "swr") && d->swr_ms == 0) {
            if (i + 1 == na || !parse_duration(arg[i + 1], &d->swr_ms))
                return kl_routefile_lex_fail(p, line, "bad duration for @cache swr (e.g. 30s)");
            i++;
        } else {
            return extra(p, line, KL_ROUTE_ANN_CACHE, arg[i]);
        }
    }
    return 0;
}

/* @tags T...: labels a cached response carries, so that an @invalidates evicts it. */
static int ann_tags(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    int r;
    if (na == 0) return kl_routefile_lex_fail(p, line, "@tags needs at least one tag");
    for (size_t i = 0; i < na; i++)
        if ((r = add_tag(p, arg[i], line, d->tags, p->tag_line, &d->n_tags, KL_ROUTE_ANN_TAGS)) != 0)
            return r;
    return 0;
}

/* @invalidates T...: tags whose cached responses a success of this route evicts (NOTIFY). */
static int ann_invalidates(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    int r;
    if (na == 0) return kl_routefile_lex_fail(p, line, "@invalidates needs at least one tag");
    for (size_t i = 0; i < na; i++)
        if ((r = add_tag(p, arg[i], line, d->invalidates, p->inv_line, &d->n_invalidates,
                         KL_ROUTE_ANN_INVALIDATES)) != 0)
            return r;
    return 0;
}

/* @rate N/sec|min|hour [burst M] [per ip|sub|claim.NAME]: requests one client may make per
 * period (the count itself is ratelimit.c's). */
static int ann_rate(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    static const struct {
        const char *name;
        uint64_t ms;
    } per[] = {{"sec", 1000}, {"s", 1000}, {"second", 1000}, {"min", 60000}, {"m", 60000},
               {"minute", 60000}, {"hour", 3600000}, {"h", 3600000}};
    kl_route_def_t *d = p->def;
    const char *slash = na == 0 ? NULL : memchr(arg[0].base, '/', arg[0].len);
    int64_t count;
    if (slash == NULL || !parse_i64((kl_str_t){arg[0].base, (size_t)(slash - arg[0].base)}, &count) ||
        count < 1 || count > KL_ROUTE_MAX_RATE)
        return kl_routefile_lex_fail(p, line, "@rate takes N/sec, N/min or N/hour, N from 1 to %d (e.g. 20/min)",
                                     KL_ROUTE_MAX_RATE);
    kl_str_t unit = {slash + 1, arg[0].len - (size_t)(slash - arg[0].base) - 1};
    for (size_t i = 0; i < sizeof(per) / sizeof(per[0]) && d->rate_period_ms == 0; i++)
        if (kl_str_eq(unit, per[i].name)) d->rate_period_ms = per[i].ms;
    if (d->rate_period_ms == 0)
        return kl_routefile_lex_fail(p, line, "unknown @rate period '%.*s' (sec, min or hour)",
                                     kl_routefile_lex_shown(unit), unit.base);
    d->rate_count = (uint32_t)count;
    for (size_t i = 1; i < na; i += 2) {
        bool is_burst = kl_str_eq(arg[i], "burst"), is_per = kl_str_eq(arg[i], "per");
        if ((!is_burst && !is_per) || (is_burst && d->rate_burst) || (is_per && d->rate_per != KL_ROUTE_RATE_DEFAULT))
            return extra(p, line, KL_ROUTE_ANN_RATE, arg[i]);
        if (i + 1 == na)
            return kl_routefile_lex_fail(p, line, is_burst ? "@rate burst needs a number (e.g. burst 5)"
                                                           : "@rate per takes ip, sub or claim.NAME");
        kl_str_t v = arg[i + 1];
        if (is_burst) {
            int64_t m;
            if (!parse_i64(v, &m) || m < 1 || m >= count)
                return kl_routefile_lex_fail(p, line, "@rate burst must be from 1 to %lld (below N)",
                                             (long long)count - 1);
            if (d->rate_period_ms * (uint64_t)m / (uint64_t)count == 0)
                return kl_routefile_lex_fail(p, line, "@rate burst %lld: its window (period * %lld / %lld) is under 1 ms",
                                             (long long)m, (long long)m, (long long)count);
            d->rate_burst = (uint32_t)m;
        } else if (kl_str_eq(v, "ip")) {
            d->rate_per = KL_ROUTE_RATE_IP;
        } else if (kl_str_eq(v, "sub")) {
            d->rate_per = KL_ROUTE_RATE_SUB;
        } else if (v.len > 6 && memcmp(v.base, "claim.", 6) == 0 &&
                   kl_routefile_lex_valid_name((kl_str_t){v.base + 6, v.len - 6})) {
            d->rate_per = KL_ROUTE_RATE_CLAIM;
            KL_ROUTEFILE_DUP_OR_FAIL(d->rate_claim, p, ((kl_str_t){v.base + 6, v.len - 6}), line);
        } else {
            return kl_routefile_lex_fail(p, line, "@rate per takes ip, sub or claim.NAME, not '%.*s'",
                                         kl_routefile_lex_shown(v), v.base);
        }
    }
    return 0;
}

/* @timeout DURATION: this route's statement_timeout, instead of the server's. */
static int ann_timeout(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    uint64_t v;
    if (na == 0 || !parse_duration(arg[0], &v))
        return kl_routefile_lex_fail(p, line, "bad duration '%.*s' for @timeout (e.g. 500ms, 2s, 1m)",
                                     na == 0 ? 0 : kl_routefile_lex_shown(arg[0]),
                                     na == 0 ? "" : arg[0].base);
    p->def->timeout_ms = v;
    if (na > 1) return extra(p, line, KL_ROUTE_ANN_TIMEOUT, arg[1]);
    return 0;
}

/* @idempotent required|optional [ttl DURATION]: requests carrying an Idempotency-Key run
 * once per key; the effect and the stored response commit together (idempotency.h). */
static int ann_idempotent(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    kl_route_def_t *d = p->def;
    if (na > 0 && kl_str_eq(arg[0], "required")) d->idempotent = KL_ROUTE_IDEMPOTENT_REQUIRED;
    else if (na > 0 && kl_str_eq(arg[0], "optional")) d->idempotent = KL_ROUTE_IDEMPOTENT_OPTIONAL;
    else return kl_routefile_lex_fail(p, line, "@idempotent takes required or optional");
    d->idempotent_ttl_ms = 24 * 3600 * 1000;
    if (na > 1 && kl_str_eq(arg[1], "ttl")) {
        uint64_t v;
        if (na < 3 || !parse_duration(arg[2], &v) || v < 1000 || v > 366ull * 24 * 3600 * 1000)
            return kl_routefile_lex_fail(p, line, "@idempotent ttl takes a duration from 1s to 366 days (e.g. 24h)");
        d->idempotent_ttl_ms = v;
        if (na > 3) return extra(p, line, KL_ROUTE_ANN_IDEMPOTENT, arg[3]);
        return 0;
    }
    if (na > 1) return extra(p, line, KL_ROUTE_ANN_IDEMPOTENT, arg[1]);
    return 0;
}

/* @primary: this GET reads from the primary even when replicas are configured (a read that
 * must see every committed write, e.g. just before a payment). Writes always do. */
static int ann_primary(kl_routefile_parser_t *p, const kl_str_t *arg, size_t na, int line) {
    p->def->primary = true;
    if (na > 0) return extra(p, line, KL_ROUTE_ANN_PRIMARY, arg[0]);
    return 0;
}

/* The annotations, in kl_route_ann_t order. A row that is not `once` may repeat, each line
 * adding to what the earlier ones gave. */
const kl_routefile_annotations_row_t kl_routefile_annotations_table[KL_ROUTE_ANN_COUNT_] = {
    [KL_ROUTE_ANN_ROUTE] = {"@route", true, ann_route},       /* method and path: required */
    [KL_ROUTE_ANN_QUERY] = {"@query", false, ann_query},      /* one query-string parameter */
    [KL_ROUTE_ANN_BODY] = {"@body", true, ann_body},          /* a JSON body, as :body */
    [KL_ROUTE_ANN_AUTH] = {"@auth", true, ann_auth},          /* Bearer token, claims as :auth.x */
    [KL_ROUTE_ANN_RETURNS] = {"@returns", true, ann_returns}, /* response shape and status */
    [KL_ROUTE_ANN_CACHE] = {"@cache", true, ann_cache},       /* response cache TTL */
    [KL_ROUTE_ANN_TAGS] = {"@tags", false, ann_tags},         /* tags of the cached response */
    [KL_ROUTE_ANN_INVALIDATES] = {"@invalidates", false, ann_invalidates}, /* tags a success evicts */
    [KL_ROUTE_ANN_RATE] = {"@rate", true, ann_rate},          /* rate limit */
    [KL_ROUTE_ANN_TIMEOUT] = {"@timeout", true, ann_timeout}, /* statement_timeout */
    [KL_ROUTE_ANN_IDEMPOTENT] = {"@idempotent", true, ann_idempotent}, /* Idempotency-Key */
    [KL_ROUTE_ANN_FIELD] = {"@field", false, ann_field},      /* one member of the JSON body */
    [KL_ROUTE_ANN_LOCATION] = {"@location", true, ann_location}, /* Location of the answer */
    [KL_ROUTE_ANN_PRIMARY] = {"@primary", true, ann_primary},  /* never from a replica */
};

int kl_routefile_annotations_parse(kl_routefile_parser_t *p, const char *a, size_t n, int line) {
    kl_route_def_t *d = p->def;
    kl_str_t w[MAX_WORDS];
    size_t nw = 0;
    for (size_t i = 0; i < n;) {
        if (a[i] == ' ' || a[i] == '\t') {
            i++;
            continue;
        }
        if (nw == MAX_WORDS) return kl_routefile_lex_fail(p, line, "too many words in annotation");
        size_t j;
        if (a[i] == '"') { /* a quoted value: no escapes, may be empty or hold spaces */
            const char *close = memchr(a + i + 1, '"', n - i - 1);
            if (close == NULL) return kl_routefile_lex_fail(p, line, "unterminated \" in annotation");
            w[nw++] = (kl_str_t){a + i + 1, (size_t)(close - a) - i - 1};
            j = (size_t)(close - a) + 1;
            if (j < n && a[j] != ' ' && a[j] != '\t')
                return kl_routefile_lex_fail(p, line, "text after closing \"");
        } else {
            for (j = i; j < n && a[j] != ' ' && a[j] != '\t'; j++)
                ;
            w[nw++] = (kl_str_t){a + i, j - i};
        }
        i = j;
    }
    kl_str_t name = w[0]; /* starts with '@': the lexer saw it */
    size_t k = 0;
    while (k < KL_ROUTE_ANN_COUNT_ && !kl_str_eq(name, kl_routefile_annotations_table[k].name)) k++;
    if (k == KL_ROUTE_ANN_COUNT_)
        return kl_routefile_lex_fail(p, line, "unknown annotation '%.*s'", kl_routefile_lex_shown(name),
                                     name.base);
    const kl_routefile_annotations_row_t *row = &kl_routefile_annotations_table[k];
    if (row->once && d->ann_line[k] != 0)
        return kl_routefile_lex_fail(p, line, "duplicate %s (first at line %d)", row->name, d->ann_line[k]);
    if (d->ann_line[k] == 0) d->ann_line[k] = line;
    return row->parse(p, w + 1, nw - 1, line);
}
