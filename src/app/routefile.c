/* routefile.c - one annotated SQL route file -> kl_route_def_t (see routefile.h).
 *
 * One pass lexes the file the way PostgreSQL's scanner splits it (string literals,
 * quoted identifiers, dollar quotes, comments), parses each annotation comment where it
 * meets it, and writes the statement with $n in place of :name. A second, short pass
 * (finish) resolves every $n to its declaration and checks what can only be checked once
 * the whole file is read (annotations may follow the SQL).
 *
 * Memory: kl_routefile_parse mallocs one block sized from the file's length up front;
 * every string in the def is carved from it (nothing ever grows), so an error anywhere is
 * one free. */
#include "app/routefile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define MAX_WORDS 48 /* words on one annotation line */

typedef struct {
    const char *file;
    const char *text;
    size_t len;
    kl_route_def_t *def;
    char *err;
    size_t errlen;
    char *mem; /* the def's block: [used, cap) is free */
    size_t used, cap;
    char *sql; /* the rewritten statement, inside mem; sql_cap bounds what lex may write */
    size_t sql_len, sql_cap;
    kl_str_t pnames[KL_ROUTE_MAX_PARAMS]; /* $n's name as written, pointing into text */
    int tag_line[KL_ROUTE_MAX_TAGS], inv_line[KL_ROUTE_MAX_TAGS];
    bool status_set;
} parser_t;

static const char *const ann_names[KL_ROUTE_ANN_COUNT_] = {
    "@route", "@query", "@body", "@auth", "@returns", "@cache", "@tags", "@invalidates", "@rate",
    "@timeout",
};

static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

__attribute__((format(printf, 3, 4))) static int fail(parser_t *p, int line, const char *fmt, ...) {
    if (p->errlen > 0) {
        int n = snprintf(p->err, p->errlen, "%s:%d: ", p->file, line);
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

/* Words from the file go into messages cut to a readable length. */
static int shown(kl_str_t s) { return s.len > 60 ? 60 : (int)s.len; }

static void *carve(parser_t *p, size_t n, size_t align) {
    size_t at = (p->used + align - 1) & ~(align - 1);
    if (at > p->cap || n > p->cap - at) return NULL;
    p->used = at + n;
    return p->mem + at;
}

/* A NUL-terminated copy in the block. The block is sized so that this cannot run out;
 * NULL is still handled, as "too complex", rather than trusted. */
static const char *dup(parser_t *p, kl_str_t s) {
    char *d = carve(p, s.len + 1, 1);
    if (d == NULL) return NULL;
    memcpy(d, s.base, s.len);
    d[s.len] = '\0';
    return d;
}

#define DUP_OR_FAIL(dst, p, s, line)                                                           \
    do {                                                                                       \
        if (((dst) = dup((p), (s))) == NULL) return fail((p), (line), "route file too complex"); \
    } while (0)

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
/* PostgreSQL identifiers: letters, '_', any byte >= 0x80; then also digits and '$'. */
static bool sql_ident_start(unsigned char c) { return is_alpha(c) || c == '_' || c >= 0x80; }
static bool sql_ident_char(unsigned char c) { return sql_ident_start(c) || is_digit(c) || c == '$'; }
/* keel's names (parameters, claims): ASCII identifiers. */
static bool name_start(unsigned char c) { return is_alpha(c) || c == '_'; }
static bool name_char(unsigned char c) { return name_start(c) || is_digit(c); }

static bool valid_name(kl_str_t s) {
    if (s.len == 0 || !name_start((unsigned char)s.base[0])) return false;
    for (size_t i = 1; i < s.len; i++)
        if (!name_char((unsigned char)s.base[i])) return false;
    return true;
}

static bool str_eq(kl_str_t a, kl_str_t b) { return a.len == b.len && memcmp(a.base, b.base, a.len) == 0; }

static kl_str_t cstr(const char *s) { return (kl_str_t){s, strlen(s)}; }

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

/* Records the line of an annotation that may appear once. */
static int once(parser_t *p, kl_route_ann_t k, int line) {
    if (p->def->ann_line[k] != 0)
        return fail(p, line, "duplicate %s (first at line %d)", ann_names[k], p->def->ann_line[k]);
    p->def->ann_line[k] = line;
    return 0;
}

static int extra(parser_t *p, int line, kl_route_ann_t k, kl_str_t w) {
    return fail(p, line, "unexpected '%.*s' after %s", shown(w), w.base, ann_names[k]);
}

static int ann_route(parser_t *p, const kl_str_t *w, size_t nw, int line) {
    kl_route_def_t *d = p->def;
    if (nw < 2) return fail(p, line, "@route needs a method and a path: @route GET /api/things/{id:int}");
    if (nw > 2) return extra(p, line, KL_ROUTE_ANN_ROUTE, w[2]);
    size_t m = 0;
    while (m < sizeof(method_names) / sizeof(method_names[0]) && !kl_str_eq(w[0], method_names[m])) m++;
    if (m == sizeof(method_names) / sizeof(method_names[0]))
        return fail(p, line, "unknown method '%.*s' (GET, POST, PUT, PATCH or DELETE)", shown(w[0]),
                    w[0].base);
    d->method = (kl_route_method_t)m;
    d->method_name = method_names[m];

    kl_str_t path = w[1];
    if (path.len == 0 || path.base[0] != '/')
        return fail(p, line, "path '%.*s' must start with '/'", shown(path), path.base);
    DUP_OR_FAIL(d->path, p, path, line);
    if (path.len == 1) return 0;
    for (size_t i = 1;;) {
        size_t j = i;
        while (j < path.len && path.base[j] != '/') j++;
        kl_str_t seg = {path.base + i, j - i};
        if (seg.len == 0)
            return fail(p, line, j == path.len ? "path '%.*s' must not end with '/'"
                                               : "path '%.*s' has an empty segment ('//')",
                        shown(path), path.base);
        if (d->n_segments == KL_ROUTE_MAX_SEGMENTS)
            return fail(p, line, "path has more than %d segments", KL_ROUTE_MAX_SEGMENTS);
        kl_route_segment_t *s = &d->segments[d->n_segments];
        s->param = -1;
        s->type = KL_ROUTE_TEXT;
        if (seg.base[0] == '{') {
            if (seg.len < 3 || seg.base[seg.len - 1] != '}')
                return fail(p, line, "malformed path parameter '%.*s': write {name} or {name:type}",
                            shown(seg), seg.base);
            kl_str_t in = {seg.base + 1, seg.len - 2}, name = in, type = {"text", 4};
            const char *colon = memchr(in.base, ':', in.len);
            if (colon != NULL) {
                name.len = (size_t)(colon - in.base);
                type = (kl_str_t){colon + 1, in.len - name.len - 1};
            }
            if (!valid_name(name))
                return fail(p, line, "malformed path parameter '%.*s': write {name} or {name:type}",
                            shown(seg), seg.base);
            if (!parse_type(type, &s->type) || s->type == KL_ROUTE_BOOL || s->type == KL_ROUTE_JSON)
                return fail(p, line, "unknown type '%.*s' for path parameter {%.*s} (int, text or uuid)",
                            shown(type), type.base, shown(name), name.base);
            if (kl_str_eq(name, "body") || kl_str_eq(name, "auth"))
                return fail(p, line, "'%.*s' is reserved; name the path parameter otherwise",
                            shown(name), name.base);
            for (size_t k = 0; k < d->n_segments; k++)
                if (d->segments[k].name != NULL && kl_str_eq(name, d->segments[k].name))
                    return fail(p, line, "duplicate path parameter {%.*s}", shown(name), name.base);
            DUP_OR_FAIL(s->name, p, name, line);
        } else {
            for (size_t k = 0; k < seg.len; k++) {
                unsigned char c = (unsigned char)seg.base[k];
                /* unreserved characters only (RFC 3986): the router compares bytes */
                if (!name_char(c) && c != '-' && c != '.' && c != '~')
                    return fail(p, line, "invalid character '%c' in path segment '%.*s'",
                                c >= 0x20 && c < 0x7f ? c : '?', shown(seg), seg.base);
            }
            if (kl_str_eq(seg, ".") || kl_str_eq(seg, ".."))
                return fail(p, line, "path '%.*s' has a dot segment", shown(path), path.base);
            DUP_OR_FAIL(s->literal, p, seg, line);
        }
        d->n_segments++;
        if (j == path.len) break;
        i = j + 1;
    }
    return 0;
}

static int ann_query(parser_t *p, const kl_str_t *w, size_t nw, int line) {
    kl_route_def_t *d = p->def;
    if (nw < 2) return fail(p, line, "@query needs a name and a type: @query limit int default 20");
    if (!valid_name(w[0]))
        return fail(p, line, "invalid @query name '%.*s'", shown(w[0]), w[0].base);
    if (kl_str_eq(w[0], "body") || kl_str_eq(w[0], "auth"))
        return fail(p, line, "'%.*s' is reserved; name the @query parameter otherwise", shown(w[0]),
                    w[0].base);
    for (size_t k = 0; k < d->n_query; k++)
        if (kl_str_eq(w[0], d->query[k].name))
            return fail(p, line, "duplicate @query %.*s (first at line %d)", shown(w[0]), w[0].base,
                        d->query[k].line);
    if (d->n_query == KL_ROUTE_MAX_QUERY)
        return fail(p, line, "more than %d @query parameters", KL_ROUTE_MAX_QUERY);
    kl_route_query_t *q = &d->query[d->n_query];
    memset(q, 0, sizeof(*q));
    q->param = -1;
    q->line = line;
    DUP_OR_FAIL(q->name, p, w[0], line);
    if (!parse_type(w[1], &q->type) || q->type == KL_ROUTE_JSON)
        return fail(p, line, "unknown type '%.*s' for @query %s (int, text, uuid or bool)", shown(w[1]),
                    w[1].base, q->name);

    kl_str_t def = {0}, one_of = {0};
    bool has_def = false, has_one_of = false;
    for (size_t i = 2; i < nw; i += 2) {
        kl_str_t opt = w[i];
        bool is_def = kl_str_eq(opt, "default"), is_min = kl_str_eq(opt, "min");
        bool is_max = kl_str_eq(opt, "max"), is_one = kl_str_eq(opt, "one-of");
        if (!is_def && !is_min && !is_max && !is_one)
            return fail(p, line, "unknown @query option '%.*s' (default, min, max or one-of)",
                        shown(opt), opt.base);
        if (i + 1 == nw) return fail(p, line, "@query option %.*s needs a value", shown(opt), opt.base);
        kl_str_t v = w[i + 1];
        if ((is_def && has_def) || (is_min && q->has_min) || (is_max && q->has_max) ||
            (is_one && has_one_of))
            return fail(p, line, "@query option %.*s given twice", shown(opt), opt.base);
        if (is_def) {
            def = v;
            has_def = true;
        } else if (is_one) {
            one_of = v;
            has_one_of = true;
        } else {
            int64_t n;
            if (q->type != KL_ROUTE_INT && q->type != KL_ROUTE_TEXT)
                return fail(p, line, "min/max apply to int and text parameters, not %s",
                            kl_routefile_type_name(q->type));
            if (!parse_i64(v, &n) || (q->type == KL_ROUTE_TEXT && n < 0))
                return fail(p, line, "bad number '%.*s' for %.*s", shown(v), v.base, shown(opt), opt.base);
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
        return fail(p, line, "min %lld is greater than max %lld", (long long)q->min, (long long)q->max);
    const char *why;
    if (has_one_of) {
        size_t n = 1;
        for (size_t k = 0; k < one_of.len; k++) n += one_of.base[k] == '|';
        if (n > KL_ROUTE_MAX_ONE_OF)
            return fail(p, line, "one-of has more than %d values", KL_ROUTE_MAX_ONE_OF);
        q->one_of = carve(p, n * sizeof(*q->one_of), sizeof(void *));
        if (q->one_of == NULL) return fail(p, line, "route file too complex");
        for (size_t a = 0;;) {
            size_t b = a;
            while (b < one_of.len && one_of.base[b] != '|') b++;
            kl_str_t v = {one_of.base + a, b - a};
            if (v.len == 0) return fail(p, line, "one-of has an empty value");
            if (!value_ok(q, v, &why))
                return fail(p, line, "one-of value '%.*s' %s", shown(v), v.base, why);
            DUP_OR_FAIL(q->one_of[q->n_one_of], p, v, line);
            q->n_one_of++;
            if (b == one_of.len) break;
            a = b + 1;
        }
    }
    if (has_def) {
        if (!value_ok(q, def, &why))
            return fail(p, line, "default '%.*s' %s", shown(def), def.base, why);
        bool listed = !has_one_of;
        for (size_t k = 0; k < q->n_one_of && !listed; k++) listed = kl_str_eq(def, q->one_of[k]);
        if (!listed) return fail(p, line, "default '%.*s' is not one of its one-of values", shown(def), def.base);
        DUP_OR_FAIL(q->default_value, p, def, line);
    }
    d->n_query++;
    return 0;
}

/* Checks a tag template's syntax ({name} / {auth.claim} references are resolved in
 * finish, when every declaration is known) and copies it. */
static int add_tag(parser_t *p, kl_str_t t, int line, const char **list, int *lines, size_t *n,
                   kl_route_ann_t k) {
    if (t.len == 0) return fail(p, line, "empty tag in %s", ann_names[k]);
    if (*n == KL_ROUTE_MAX_TAGS) return fail(p, line, "more than %d tags in %s", KL_ROUTE_MAX_TAGS, ann_names[k]);
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.base[i];
        if (c == '{') {
            const char *close = memchr(t.base + i, '}', t.len - i);
            kl_str_t ref = {t.base + i + 1, close != NULL ? (size_t)(close - t.base) - i - 1 : 0};
            kl_str_t name = ref;
            if (ref.len > 5 && memcmp(ref.base, "auth.", 5) == 0) name = (kl_str_t){ref.base + 5, ref.len - 5};
            if (close == NULL || !valid_name(name))
                return fail(p, line, "malformed reference in tag '%.*s': write {name} or {auth.claim}",
                            shown(t), t.base);
            i += ref.len + 1;
        } else if (!name_char(c) && c != ':' && c != '.' && c != '-' && c != '/') {
            return fail(p, line, "invalid character '%c' in tag '%.*s'", c >= 0x20 && c < 0x7f ? c : '?',
                        shown(t), t.base);
        }
    }
    DUP_OR_FAIL(list[*n], p, t, line);
    lines[*n] = line;
    (*n)++;
    return 0;
}

static int annotation(parser_t *p, const char *a, size_t n, int line) {
    kl_route_def_t *d = p->def;
    kl_str_t w[MAX_WORDS];
    size_t nw = 0;
    for (size_t i = 0; i < n;) {
        if (a[i] == ' ' || a[i] == '\t') {
            i++;
            continue;
        }
        if (nw == MAX_WORDS) return fail(p, line, "too many words in annotation");
        size_t j;
        if (a[i] == '"') { /* a quoted value: no escapes, may be empty or hold spaces */
            const char *close = memchr(a + i + 1, '"', n - i - 1);
            if (close == NULL) return fail(p, line, "unterminated \" in annotation");
            w[nw++] = (kl_str_t){a + i + 1, (size_t)(close - a) - i - 1};
            j = (size_t)(close - a) + 1;
            if (j < n && a[j] != ' ' && a[j] != '\t') return fail(p, line, "text after closing \"");
        } else {
            for (j = i; j < n && a[j] != ' ' && a[j] != '\t'; j++)
                ;
            w[nw++] = (kl_str_t){a + i, j - i};
        }
        i = j;
    }
    kl_str_t name = w[0]; /* starts with '@': the caller saw it */
    const kl_str_t *arg = w + 1;
    size_t na = nw - 1;
    int r;
    uint64_t v;

    if (kl_str_eq(name, "@route")) {
        if ((r = once(p, KL_ROUTE_ANN_ROUTE, line)) != 0) return r;
        return ann_route(p, arg, na, line);
    }
    if (kl_str_eq(name, "@query")) {
        if (d->ann_line[KL_ROUTE_ANN_QUERY] == 0) d->ann_line[KL_ROUTE_ANN_QUERY] = line;
        return ann_query(p, arg, na, line);
    }
    if (kl_str_eq(name, "@body")) {
        if ((r = once(p, KL_ROUTE_ANN_BODY, line)) != 0) return r;
        if (na == 0 || !kl_str_eq(arg[0], "json"))
            return fail(p, line, "@body takes json: @body json [max 64k]");
        d->has_body = true;
        if (na >= 2) {
            if (!kl_str_eq(arg[1], "max")) return extra(p, line, KL_ROUTE_ANN_BODY, arg[1]);
            if (na == 2 || !parse_size(arg[2], &d->body_max) || d->body_max > (1u << 30))
                return fail(p, line, "bad size '%.*s' for @body max (e.g. 65536, 64k, 1m)",
                            na == 2 ? 0 : shown(arg[2]), na == 2 ? "" : arg[2].base);
            if (na > 3) return extra(p, line, KL_ROUTE_ANN_BODY, arg[3]);
        }
        return 0;
    }
    if (kl_str_eq(name, "@auth")) {
        if ((r = once(p, KL_ROUTE_ANN_AUTH, line)) != 0) return r;
        if (na == 0 || (!kl_str_eq(arg[0], "required") && !kl_str_eq(arg[0], "optional")))
            return fail(p, line, "@auth takes required or optional");
        if (na > 1) return extra(p, line, KL_ROUTE_ANN_AUTH, arg[1]);
        d->auth = kl_str_eq(arg[0], "required") ? KL_ROUTE_AUTH_REQUIRED : KL_ROUTE_AUTH_OPTIONAL;
        return 0;
    }
    if (kl_str_eq(name, "@returns")) {
        if ((r = once(p, KL_ROUTE_ANN_RETURNS, line)) != 0) return r;
        if (na >= 1 && kl_str_eq(arg[0], "one"))
            d->returns = KL_ROUTE_RETURNS_ONE;
        else if (na >= 1 && kl_str_eq(arg[0], "many"))
            d->returns = KL_ROUTE_RETURNS_MANY;
        else if (na >= 1 && kl_str_eq(arg[0], "none"))
            d->returns = KL_ROUTE_RETURNS_NONE;
        else
            return fail(p, line, "@returns takes one, many or none");
        if (na >= 2) {
            int64_t st;
            if (!kl_str_eq(arg[1], "status")) return extra(p, line, KL_ROUTE_ANN_RETURNS, arg[1]);
            if (na == 2 || !parse_i64(arg[2], &st) || st < 200 || st > 299)
                return fail(p, line, "@returns status must be a 2xx status code");
            d->status = (int)st;
            p->status_set = true;
            if (na > 3) return extra(p, line, KL_ROUTE_ANN_RETURNS, arg[3]);
        }
        return 0;
    }
    if (kl_str_eq(name, "@cache")) {
        if ((r = once(p, KL_ROUTE_ANN_CACHE, line)) != 0) return r;
        if (na == 0 || !parse_duration(arg[0], &d->cache_ms))
            return fail(p, line, "bad duration '%.*s' for @cache (e.g. 500ms, 60s, 5m, 1h)",
                        na == 0 ? 0 : shown(arg[0]), na == 0 ? "" : arg[0].base);
        for (size_t i = 1; i < na; i++) {
            if (kl_str_eq(arg[i], "private") && !d->cache_private) {
                d->cache_private = true;
            } else if (kl_str_eq(arg[i], "swr") && d->swr_ms == 0) {
                if (i + 1 == na || !parse_duration(arg[i + 1], &d->swr_ms))
                    return fail(p, line, "bad duration for @cache swr (e.g. 30s)");
                i++;
            } else {
                return extra(p, line, KL_ROUTE_ANN_CACHE, arg[i]);
            }
        }
        return 0;
    }
    if (kl_str_eq(name, "@tags") || kl_str_eq(name, "@invalidates")) {
        bool tags = kl_str_eq(name, "@tags");
        kl_route_ann_t k = tags ? KL_ROUTE_ANN_TAGS : KL_ROUTE_ANN_INVALIDATES;
        if (d->ann_line[k] == 0) d->ann_line[k] = line;
        if (na == 0) return fail(p, line, "%s needs at least one tag", ann_names[k]);
        for (size_t i = 0; i < na; i++) {
            r = tags ? add_tag(p, arg[i], line, d->tags, p->tag_line, &d->n_tags, k)
                     : add_tag(p, arg[i], line, d->invalidates, p->inv_line, &d->n_invalidates, k);
            if (r != 0) return r;
        }
        return 0;
    }
    if (kl_str_eq(name, "@rate")) {
        static const struct {
            const char *name;
            uint64_t ms;
        } per[] = {{"sec", 1000}, {"s", 1000}, {"second", 1000}, {"min", 60000}, {"m", 60000},
                   {"minute", 60000}, {"hour", 3600000}, {"h", 3600000}};
        if ((r = once(p, KL_ROUTE_ANN_RATE, line)) != 0) return r;
        const char *slash = na == 0 ? NULL : memchr(arg[0].base, '/', arg[0].len);
        int64_t count;
        if (slash == NULL || !parse_i64((kl_str_t){arg[0].base, (size_t)(slash - arg[0].base)}, &count) ||
            count < 1 || count > 1000000000)
            return fail(p, line, "@rate takes N/sec, N/min or N/hour (e.g. 20/min)");
        kl_str_t unit = {slash + 1, arg[0].len - (size_t)(slash - arg[0].base) - 1};
        for (size_t i = 0; i < sizeof(per) / sizeof(per[0]) && d->rate_period_ms == 0; i++)
            if (kl_str_eq(unit, per[i].name)) d->rate_period_ms = per[i].ms;
        if (d->rate_period_ms == 0)
            return fail(p, line, "unknown @rate period '%.*s' (sec, min or hour)", shown(unit), unit.base);
        d->rate_count = (uint32_t)count;
        if (na > 1) return extra(p, line, KL_ROUTE_ANN_RATE, arg[1]);
        return 0;
    }
    if (kl_str_eq(name, "@timeout")) {
        if ((r = once(p, KL_ROUTE_ANN_TIMEOUT, line)) != 0) return r;
        if (na == 0 || !parse_duration(arg[0], &v))
            return fail(p, line, "bad duration '%.*s' for @timeout (e.g. 500ms, 2s, 1m)",
                        na == 0 ? 0 : shown(arg[0]), na == 0 ? "" : arg[0].base);
        d->timeout_ms = v;
        if (na > 1) return extra(p, line, KL_ROUTE_ANN_TIMEOUT, arg[1]);
        return 0;
    }
    return fail(p, line, "unknown annotation '%.*s'", shown(name), name.base);
}

/* ---- the SQL ------------------------------------------------------------------------ */

static void emit(parser_t *p, const char *s, size_t n) {
    /* sql_cap covers the worst case (every ":x" becoming "$64"), so this never truncates */
    if (n > p->sql_cap - p->sql_len) n = p->sql_cap - p->sql_len;
    memcpy(p->sql + p->sql_len, s, n);
    p->sql_len += n;
}

/* Copies a quoted run (string literal or quoted identifier) starting at s[*i] == q. */
static int copy_quoted(parser_t *p, size_t *i, int *line, char q, bool backslash) {
    const char *s = p->text;
    size_t n = p->len, j = *i + 1;
    int start = *line;
    for (;;) {
        if (j >= n)
            return fail(p, start, q == '"' ? "unterminated quoted identifier" : "unterminated string literal");
        char c = s[j];
        if (c == '\0') return fail(p, *line, "NUL byte in file");
        if (backslash && c == '\\' && j + 1 < n) {
            if (s[j + 1] == '\n') (*line)++;
            j += 2;
            continue;
        }
        if (c == q) {
            if (j + 1 < n && s[j + 1] == q) { /* doubled quote: an escaped quote */
                j += 2;
                continue;
            }
            j++;
            break;
        }
        if (c == '\n') (*line)++;
        j++;
    }
    emit(p, s + *i, j - *i);
    *i = j;
    return 0;
}

/* A named parameter at s[*i] == ':' followed by a name start: emit its $n. */
static int use_param(parser_t *p, size_t *i, int line) {
    const char *s = p->text;
    size_t n = p->len, j = *i + 1;
    while (j < n && name_char((unsigned char)s[j])) j++;
    kl_str_t name = {s + *i + 1, j - *i - 1};
    bool dotted = j + 1 < n && s[j] == '.' && name_start((unsigned char)s[j + 1]);
    if (kl_str_eq(name, "auth")) {
        if (!dotted) return fail(p, line, ":auth needs a claim name, e.g. :auth.sub");
        for (j += 1; j < n && name_char((unsigned char)s[j]); j++)
            ;
        name.len = j - *i - 1;
    } else if (kl_str_eq(name, "body") && dotted) {
        return fail(p, line, ":body.<field> is not supported: use (:body::jsonb)->>'field'");
    }
    size_t k = 0;
    while (k < p->def->n_params && !str_eq(p->pnames[k], name)) k++;
    if (k == p->def->n_params) {
        if (k == KL_ROUTE_MAX_PARAMS)
            return fail(p, line, "more than %d distinct parameters", KL_ROUTE_MAX_PARAMS);
        p->pnames[k] = name;
        p->def->params[k].line = line;
        p->def->params[k].index = -1;
        p->def->n_params++;
    }
    char num[8];
    int len = snprintf(num, sizeof(num), "$%zu", k + 1);
    emit(p, num, (size_t)len);
    *i = j;
    return 0;
}

static int lex(parser_t *p) {
    const char *s = p->text;
    size_t n = p->len, i = 0;
    int line = 1, semi_line = 0;
    bool code = false; /* the current line holds SQL before this point */
    bool ended = false; /* the statement's ';' was seen: only comments may follow */
    int r;

    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) i = 3; /* a UTF-8 BOM */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0') return fail(p, line, "NUL byte in file");
        if (c == '\n') {
            if (!ended) emit(p, "\n", 1);
            line++;
            code = false;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            if (!ended) emit(p, s + i, 1);
            i++;
            continue;
        }
        if (c == '-' && i + 1 < n && s[i + 1] == '-') {
            const char *nl = memchr(s + i, '\n', n - i);
            size_t e = nl != NULL ? (size_t)(nl - s) : n;
            if (memchr(s + i, '\0', e - i) != NULL) return fail(p, line, "NUL byte in file");
            size_t a = i + 2;
            while (a < e && (s[a] == ' ' || s[a] == '\t')) a++;
            if (a < e && s[a] == '@') {
                if (code) return fail(p, line, "annotation after SQL on the same line: give it its own line");
                size_t b = e;
                while (b > a && (s[b - 1] == '\r' || s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
                if ((r = annotation(p, s + a, b - a, line)) != 0) return r;
            }
            i = e; /* the comment goes; its newline stays, so lines keep their numbers */
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            int start = line, depth = 1;
            size_t j = i + 2;
            if (!ended) emit(p, " ", 1); /* a comment separates the tokens around it */
            while (j < n && depth > 0) {
                if (s[j] == '\0') return fail(p, line, "NUL byte in file");
                if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
                    depth--;
                    j += 2;
                } else if (s[j] == '/' && j + 1 < n && s[j + 1] == '*') {
                    depth++;
                    j += 2;
                } else {
                    if (s[j] == '\n') {
                        line++;
                        if (!ended) emit(p, "\n", 1);
                    }
                    j++;
                }
            }
            if (depth > 0) return fail(p, start, "unterminated /* comment");
            code = true;
            i = j;
            continue;
        }
        if (ended)
            return fail(p, line, "more than one SQL statement (the first ends with ';' on line %d); "
                                 "put multi-step logic in a SQL function", semi_line);
        code = true;
        if (c == '\'') {
            /* E'...' takes backslash escapes; the E must start a token (not end a word) */
            bool e = i >= 1 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                     (i < 2 || !sql_ident_char((unsigned char)s[i - 2]));
            if ((r = copy_quoted(p, &i, &line, '\'', e)) != 0) return r;
        } else if (c == '"') {
            if ((r = copy_quoted(p, &i, &line, '"', false)) != 0) return r;
        } else if (c == '$') {
            if (i > 0 && sql_ident_char((unsigned char)s[i - 1])) { /* inside an identifier: a$b */
                emit(p, s + i, 1);
                i++;
                continue;
            }
            if (i + 1 < n && is_digit((unsigned char)s[i + 1]))
                return fail(p, line, "positional parameter $%c: use named parameters (:name)", s[i + 1]);
            size_t j = i + 1;
            if (j < n && sql_ident_start((unsigned char)s[j]))
                while (j < n && sql_ident_char((unsigned char)s[j]) && s[j] != '$') j++;
            if (j < n && s[j] == '$') { /* $tag$ ... $tag$: copied untouched */
                size_t tag = j + 1 - i;
                const char *end = memmem(s + j + 1, n - j - 1, s + i, tag);
                if (end == NULL) return fail(p, line, "unterminated dollar-quoted string %.*s", (int)tag, s + i);
                size_t stop = (size_t)(end - s) + tag;
                for (size_t k = i; k < stop; k++) {
                    if (s[k] == '\0') return fail(p, line, "NUL byte in file");
                    line += s[k] == '\n';
                }
                emit(p, s + i, stop - i);
                i = stop;
            } else {
                emit(p, s + i, 1);
                i++;
            }
        } else if (c == ':') {
            if (i + 1 < n && s[i + 1] == ':') { /* a cast */
                emit(p, "::", 2);
                i += 2;
            } else if (i + 1 < n && name_start((unsigned char)s[i + 1])) {
                if ((r = use_param(p, &i, line)) != 0) return r;
            } else {
                emit(p, ":", 1);
                i++;
            }
        } else if (c == ';') {
            ended = true;
            semi_line = line;
            i++;
        } else {
            emit(p, s + i, 1);
            i++;
        }
    }
    return 0;
}

/* ---- whole-file checks -------------------------------------------------------------- */

static int find_segment(const kl_route_def_t *d, kl_str_t name) {
    for (size_t k = 0; k < d->n_segments; k++)
        if (d->segments[k].name != NULL && kl_str_eq(name, d->segments[k].name)) return (int)k;
    return -1;
}

static int find_query(const kl_route_def_t *d, kl_str_t name) {
    for (size_t k = 0; k < d->n_query; k++)
        if (kl_str_eq(name, d->query[k].name)) return (int)k;
    return -1;
}

static int check_refs(parser_t *p, const char *tag, int line, kl_route_ann_t k) {
    for (const char *c = strchr(tag, '{'); c != NULL; c = strchr(c + 1, '{')) {
        const char *close = strchr(c, '}'); /* add_tag checked that it is there */
        kl_str_t ref = {c + 1, (size_t)(close - c) - 1};
        if (ref.len > 5 && memcmp(ref.base, "auth.", 5) == 0) {
            if (p->def->auth == KL_ROUTE_AUTH_NONE)
                return fail(p, line, "%s tag '%s' uses {%.*s} but the route has no @auth", ann_names[k],
                            tag, shown(ref), ref.base);
        } else if (find_segment(p->def, ref) < 0 && find_query(p->def, ref) < 0) {
            return fail(p, line, "%s tag '%s' uses {%.*s}: no such path or @query parameter",
                        ann_names[k], tag, shown(ref), ref.base);
        }
    }
    return 0;
}

static int finish(parser_t *p) {
    kl_route_def_t *d = p->def;
    int r;
    if (d->ann_line[KL_ROUTE_ANN_ROUTE] == 0)
        return fail(p, 1, "no @route annotation (e.g. -- @route GET /api/things/{id:int})");
    int route_line = d->ann_line[KL_ROUTE_ANN_ROUTE];

    for (size_t k = 0; k < d->n_query; k++)
        if (find_segment(d, cstr(d->query[k].name)) >= 0)
            return fail(p, d->query[k].line, "@query %s has the name of a path parameter", d->query[k].name);

    /* trim: the statement starts at its first token; count the lines skipped */
    size_t a = 0, b = p->sql_len;
    d->sql_line = 1;
    while (a < b && (p->sql[a] == ' ' || p->sql[a] == '\t' || p->sql[a] == '\n' || p->sql[a] == '\r' ||
                     p->sql[a] == '\f' || p->sql[a] == '\v')) {
        d->sql_line += p->sql[a] == '\n';
        a++;
    }
    while (b > a && (p->sql[b - 1] == ' ' || p->sql[b - 1] == '\t' || p->sql[b - 1] == '\n' ||
                     p->sql[b - 1] == '\r' || p->sql[b - 1] == '\f' || p->sql[b - 1] == '\v'))
        b--;
    if (a == b) return fail(p, route_line, "no SQL statement");
    memmove(p->sql, p->sql + a, b - a);
    p->sql[b - a] = '\0';
    d->sql = p->sql;
    d->sql_len = b - a;

    bool body_used = false;
    for (size_t k = 0; k < d->n_params; k++) {
        kl_route_param_t *pa = &d->params[k];
        kl_str_t name = p->pnames[k];
        int at;
        if (kl_str_eq(name, "body")) {
            if (!d->has_body) return fail(p, pa->line, ":body is used but the route has no @body json");
            pa->source = KL_ROUTE_FROM_BODY;
            pa->type = KL_ROUTE_JSON;
            body_used = true;
        } else if (name.len > 5 && memcmp(name.base, "auth.", 5) == 0) {
            if (d->auth == KL_ROUTE_AUTH_NONE)
                return fail(p, pa->line, ":%.*s is used but the route has no @auth", shown(name), name.base);
            pa->source = KL_ROUTE_FROM_AUTH;
            pa->type = KL_ROUTE_TEXT;
            name = (kl_str_t){name.base + 5, name.len - 5};
        } else if ((at = find_segment(d, name)) >= 0) {
            pa->source = KL_ROUTE_FROM_PATH;
            pa->type = d->segments[at].type;
            pa->index = at;
            d->segments[at].param = (int)k;
        } else if ((at = find_query(d, name)) >= 0) {
            pa->source = KL_ROUTE_FROM_QUERY;
            pa->type = d->query[at].type;
            pa->index = at;
            d->query[at].param = (int)k;
        } else {
            return fail(p, pa->line, "parameter :%.*s is not declared (no {%.*s} in the path, no @query %.*s)",
                        shown(name), name.base, shown(name), name.base, shown(name), name.base);
        }
        DUP_OR_FAIL(pa->name, p, name, pa->line);
    }
    for (size_t k = 0; k < d->n_segments; k++)
        if (d->segments[k].name != NULL && d->segments[k].param < 0)
            return fail(p, route_line, "path parameter {%s} is not used in the SQL", d->segments[k].name);
    for (size_t k = 0; k < d->n_query; k++)
        if (d->query[k].param < 0)
            return fail(p, d->query[k].line, "@query %s is not used in the SQL", d->query[k].name);
    if (d->has_body && !body_used)
        return fail(p, d->ann_line[KL_ROUTE_ANN_BODY], "@body is declared but :body is not used in the SQL");

    if (d->has_body && d->method == KL_ROUTE_GET)
        return fail(p, d->ann_line[KL_ROUTE_ANN_BODY], "a GET route takes no @body");
    if (d->cache_ms > 0 && d->method != KL_ROUTE_GET)
        return fail(p, d->ann_line[KL_ROUTE_ANN_CACHE], "@cache applies to GET routes only");
    if (d->cache_private && d->auth == KL_ROUTE_AUTH_NONE)
        return fail(p, d->ann_line[KL_ROUTE_ANN_CACHE], "@cache private needs @auth (the key is the subject)");
    if (d->n_tags > 0 && d->cache_ms == 0)
        return fail(p, d->ann_line[KL_ROUTE_ANN_TAGS], "@tags without @cache: tags label cached responses");
    for (size_t k = 0; k < d->n_tags; k++)
        if ((r = check_refs(p, d->tags[k], p->tag_line[k], KL_ROUTE_ANN_TAGS)) != 0) return r;
    for (size_t k = 0; k < d->n_invalidates; k++)
        if ((r = check_refs(p, d->invalidates[k], p->inv_line[k], KL_ROUTE_ANN_INVALIDATES)) != 0) return r;
    if (!p->status_set) d->status = d->returns == KL_ROUTE_RETURNS_NONE ? 204 : 200;
    return 0;
}

/* ---- API ---------------------------------------------------------------------------- */

int kl_routefile_parse(const char *filename, const char *text, size_t len, kl_route_def_t *out,
                       char *err, size_t errlen) {
    parser_t p = {.file = filename, .text = text, .len = len, .def = out, .err = err, .errlen = errlen};
    int r;
    memset(out, 0, sizeof(*out));
    if (errlen > 0) err[0] = '\0';
    if (len > KL_ROUTEFILE_MAX_LEN) return fail(&p, 1, "file larger than %u bytes", KL_ROUTEFILE_MAX_LEN);

    /* Everything the def points to fits in: the file name, the statement (each ":x" may
     * become "$64": at most 3/2 of the file), and copies of annotation words (each at most
     * twice, plus NULs and one-of pointer arrays). */
    size_t fname = strlen(filename) + 1;
    p.sql_cap = len + len / 2 + 16;
    p.cap = fname + p.sql_cap + 1 + 4 * len + KL_ROUTE_MAX_QUERY * KL_ROUTE_MAX_ONE_OF * sizeof(void *) + 1024;
    if ((p.mem = malloc(p.cap)) == NULL) return -ENOMEM;
    out->_mem = p.mem;
    out->file = dup(&p, (kl_str_t){filename, fname - 1});
    p.sql = carve(&p, p.sql_cap + 1, 1);
    if ((r = lex(&p)) != 0 || (r = finish(&p)) != 0) goto error;
    return 0;

error:
    kl_routefile_free(out);
    return r;
}

void kl_routefile_free(kl_route_def_t *def) {
    free(def->_mem);
    memset(def, 0, sizeof(*def));
}

int kl_routefile_sql_line(const kl_route_def_t *def, long pos) {
    int line = def->sql_line;
    long ch = 0;
    if (pos < 1 || def->sql == NULL) return def->sql_line;
    for (size_t i = 0; i < def->sql_len; i++) {
        unsigned char c = (unsigned char)def->sql[i];
        if ((c & 0xC0) != 0x80 && ++ch == pos) return line; /* PostgreSQL counts characters */
        line += c == '\n';
    }
    return line;
}

bool kl_routefile_conflicts(const kl_route_def_t *a, const kl_route_def_t *b) {
    if (a->method != b->method || a->n_segments != b->n_segments) return false;
    for (size_t k = 0; k < a->n_segments; k++) {
        const kl_route_segment_t *x = &a->segments[k], *y = &b->segments[k];
        if (x->literal != NULL && y->literal != NULL) {
            if (strcmp(x->literal, y->literal) != 0) return false;
        } else if (x->literal != NULL || y->literal != NULL || x->type != y->type) {
            return false;
        }
    }
    return true;
}

const char *kl_routefile_type_name(kl_route_type_t type) {
    switch (type) {
    case KL_ROUTE_TEXT: return "text";
    case KL_ROUTE_INT: return "int";
    case KL_ROUTE_UUID: return "uuid";
    case KL_ROUTE_BOOL: return "bool";
    case KL_ROUTE_JSON: return "json";
    }
    return "?";
}

const char *kl_routefile_ann_name(kl_route_ann_t ann) {
    return (unsigned)ann < KL_ROUTE_ANN_COUNT_ ? ann_names[ann] : "@?";
}
