/* routefile.c - one annotated SQL route file -> kl_route_def_t (see routefile.h).
 *
 * The parser's three parts:
 *   routefile_lex.c          the parse state, and the one pass over the file: splits it the
 *                            way PostgreSQL's scanner does, writes the statement with $n in
 *                            place of :name, hands each annotation comment to
 *   routefile_annotations.c  the table of annotations and one parse function for each;
 *   routefile.c (this file)  the entry point, and a second, short pass (finish) that resolves
 *                            every $n to its declaration and checks what can only be checked
 *                            once the whole file is read (annotations may follow the SQL).
 *
 * Memory: kl_routefile_parse mallocs one block sized from the file's length up front;
 * every string in the def is carved from it (nothing ever grows), so an error anywhere is
 * one free. */
#include "app/routefile.h"

#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "app/routefile_annotations.h"
#include "app/routefile_lex.h"
#include "core/str.h"

static kl_str_t cstr(const char *s) { return (kl_str_t){s, strlen(s)}; }

/* ---- the statement's own bound on its rows -------------------------------------------- */

static bool sql_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool sql_word(char c) { return kl_routefile_lex_sql_ident_char((unsigned char)c); }
static const char *skip_space(const char *s) {
    while (sql_space(*s)) s++;
    return s;
}

/* A LIMIT or OFFSET value at s: a number, or $n (an optional ::type after either). *v is the
 * number, or an int @query's max, else -1 (not known). Returns the end, NULL when s is not
 * such a value. */
static const char *row_count(const kl_route_def_t *d, const char *s, int64_t *v) {
    *v = -1;
    if (*s >= '0' && *s <= '9') {
        int64_t x = 0;
        for (; *s >= '0' && *s <= '9'; s++) x = x < INT64_MAX / 10 - 9 ? x * 10 + (*s - '0') : INT64_MAX;
        *v = x;
    } else if (*s == '$' && s[1] >= '1' && s[1] <= '9') {
        size_t k = 0;
        for (s++; *s >= '0' && *s <= '9' && k < 1000; s++) k = k * 10 + (size_t)(*s - '0');
        const kl_route_param_t *pa = k >= 1 && k <= d->n_params ? &d->params[k - 1] : NULL;
        /* a @query always has a value (its default, or a 400): never NULL, LIMIT ALL */
        if (pa && pa->source == KL_ROUTE_FROM_QUERY && d->query[pa->index].type == KL_ROUTE_INT &&
            d->query[pa->index].has_max)
            *v = d->query[pa->index].max;
    } else {
        return NULL;
    }
    const char *t = skip_space(s);
    if (t[0] == ':' && t[1] == ':') { /* a cast: ::int, ::bigint */
        for (t = skip_space(t + 2), s = t; sql_word(*s);) s++;
        if (s == t) return NULL;
    }
    return sql_word(*s) ? NULL : s;
}

/* kl_route_def_t.rows_max. The statement's last tokens must be LIMIT and its value (then
 * at most an OFFSET and its value): no ')' or anything else after them, so the LIMIT is the
 * whole statement's (of a UNION's too), not a subquery's. Comments are gone from d->sql and a
 * string or quoted name would be something else after them, so a scan from the last "limit"
 * is enough; anything it does not know is "not bounded", which only costs speed (db.h). */
static uint32_t rows_max(const kl_route_def_t *d) {
    const char *s = d->sql;
    size_t i = d->sql_len;
    while (i-- > 0 && (strncasecmp(s + i, "limit", 5) != 0 || (i > 0 && sql_word(s[i - 1])) || sql_word(s[i + 5])))
        ;
    if (i == SIZE_MAX) return 0;
    int64_t n, off;
    const char *t = row_count(d, skip_space(s + i + 5), &n);
    if (!t) return 0;
    t = skip_space(t);
    if (!strncasecmp(t, "offset", 6) && !sql_word(t[6]) && (t = row_count(d, skip_space(t + 6), &off)) != NULL)
        t = skip_space(t);
    return t && *t == '\0' && n > 0 && n <= UINT32_MAX ? (uint32_t)n : 0;
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

static int find_field(const kl_route_def_t *d, kl_str_t name) {
    for (size_t k = 0; k < d->n_fields; k++)
        if (kl_str_eq(name, d->fields[k].name)) return (int)k;
    return -1;
}

static int check_refs(kl_routefile_parser_t *p, const char *tag, int line, kl_route_ann_t k) {
    for (const char *c = strchr(tag, '{'); c != NULL; c = strchr(c + 1, '{')) {
        const char *close = strchr(c, '}'); /* add_tag (routefile_annotations.c) checked it */
        kl_str_t ref = {c + 1, (size_t)(close - c) - 1};
        if (ref.len > 5 && memcmp(ref.base, "auth.", 5) == 0) {
            if (p->def->auth == KL_ROUTE_AUTH_NONE)
                return kl_routefile_lex_fail(p, line, "%s tag '%s' uses {%.*s} but the route has no @auth",
                                             kl_routefile_ann_name(k), tag, kl_routefile_lex_shown(ref),
                                             ref.base);
        } else if (ref.len > 5 && memcmp(ref.base, "body.", 5) == 0) {
            if (find_field(p->def, (kl_str_t){ref.base + 5, ref.len - 5}) < 0)
                return kl_routefile_lex_fail(p, line, "%s tag '%s' uses {%.*s}: no such @field",
                                             kl_routefile_ann_name(k), tag, kl_routefile_lex_shown(ref),
                                             ref.base);
        } else if (find_segment(p->def, ref) < 0 && find_query(p->def, ref) < 0) {
            return kl_routefile_lex_fail(p, line, "%s tag '%s' uses {%.*s}: no such path or @query parameter",
                                         kl_routefile_ann_name(k), tag, kl_routefile_lex_shown(ref),
                                         ref.base);
        }
    }
    return 0;
}

static int finish(kl_routefile_parser_t *p) {
    kl_route_def_t *d = p->def;
    int r;
    if (d->ann_line[KL_ROUTE_ANN_ROUTE] == 0)
        return kl_routefile_lex_fail(p, 1, "no @route annotation (e.g. -- @route GET /api/things/{id:int})");
    int route_line = d->ann_line[KL_ROUTE_ANN_ROUTE];

    for (size_t k = 0; k < d->n_query; k++)
        if (find_segment(d, cstr(d->query[k].name)) >= 0)
            return kl_routefile_lex_fail(p, d->query[k].line, "@query %s has the name of a path parameter",
                                         d->query[k].name);

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
    if (a == b) return kl_routefile_lex_fail(p, route_line, "no SQL statement");
    memmove(p->sql, p->sql + a, b - a);
    p->sql[b - a] = '\0';
    for (size_t k = 0; k < d->n_param_uses && k < KL_ROUTE_MAX_PARAM_USES; k++) d->param_use[k] -= (uint32_t)a;
    d->sql = p->sql;
    d->sql_len = b - a;

    if (d->n_fields > 0 && !d->has_body)
        return kl_routefile_lex_fail(p, d->fields[0].line, "@field needs @body json");
    if (d->body_allow_extra && d->n_fields == 0)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_BODY],
                                     "@body allow-extra needs @field lines (without them no member is checked)");

    bool body_used = false, whole_body_used = false;
    for (size_t k = 0; k < d->n_params; k++) {
        kl_route_param_t *pa = &d->params[k];
        kl_str_t name = p->pnames[k];
        int at;
        if (kl_str_eq(name, "body")) {
            if (!d->has_body)
                return kl_routefile_lex_fail(p, pa->line, ":body is used but the route has no @body json");
            pa->source = KL_ROUTE_FROM_BODY;
            pa->type = KL_ROUTE_JSON;
            body_used = whole_body_used = true;
        } else if (name.len > 5 && memcmp(name.base, "body.", 5) == 0) {
            if (!d->has_body)
                return kl_routefile_lex_fail(p, pa->line, ":%.*s is used but the route has no @body json",
                                             kl_routefile_lex_shown(name), name.base);
            name = (kl_str_t){name.base + 5, name.len - 5};
            if ((at = find_field(d, name)) < 0)
                return kl_routefile_lex_fail(p, pa->line, "parameter :body.%.*s is not declared (no @field %.*s)",
                                             kl_routefile_lex_shown(name), name.base, kl_routefile_lex_shown(name),
                                             name.base);
            pa->source = KL_ROUTE_FROM_FIELD;
            pa->type = KL_ROUTE_TEXT;
            pa->index = at;
            d->fields[at].param = (int)k;
            body_used = true;
        } else if (name.len > 5 && memcmp(name.base, "auth.", 5) == 0) {
            if (d->auth == KL_ROUTE_AUTH_NONE)
                return kl_routefile_lex_fail(p, pa->line, ":%.*s is used but the route has no @auth",
                                             kl_routefile_lex_shown(name), name.base);
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
            return kl_routefile_lex_fail(
                p, pa->line, "parameter :%.*s is not declared (no {%.*s} in the path, no @query %.*s)",
                kl_routefile_lex_shown(name), name.base, kl_routefile_lex_shown(name), name.base,
                kl_routefile_lex_shown(name), name.base);
        }
        KL_ROUTEFILE_DUP_OR_FAIL(pa->name, p, name, pa->line);
    }
    for (size_t k = 0; k < d->n_segments; k++)
        if (d->segments[k].name != NULL && d->segments[k].param < 0)
            return kl_routefile_lex_fail(p, route_line, "path parameter {%s} is not used in the SQL",
                                         d->segments[k].name);
    for (size_t k = 0; k < d->n_query; k++)
        if (d->query[k].param < 0)
            return kl_routefile_lex_fail(p, d->query[k].line, "@query %s is not used in the SQL",
                                         d->query[k].name);
    if (d->has_body && !body_used)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_BODY],
                                     "@body is declared but neither :body nor a :body.<field> is used in the SQL");
    /* a field nobody reads would be validated and then dropped, unless the SQL reads the
     * whole body (then the field only checks what the SQL takes from the jsonb) */
    for (size_t k = 0; k < d->n_fields && !whole_body_used; k++)
        if (d->fields[k].param < 0)
            return kl_routefile_lex_fail(p, d->fields[k].line,
                                         "@field %s is not used in the SQL (bind it as :body.%s, or use :body)",
                                         d->fields[k].name, d->fields[k].name);
    if (d->location != NULL && d->method == KL_ROUTE_GET)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_LOCATION],
                                     "@location applies to POST, PUT, PATCH and DELETE routes");
    if (d->location != NULL && d->returns != KL_ROUTE_RETURNS_ONE)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_LOCATION],
                                     "@location needs @returns one (its {member}s come from the returned object)");

    if (d->has_body && d->method == KL_ROUTE_GET)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_BODY], "a GET route takes no @body");
    if (d->primary && d->method != KL_ROUTE_GET)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_PRIMARY],
                                     "@primary applies to GET routes only (every write runs on the primary)");
    if (d->cache_ms > 0 && d->method != KL_ROUTE_GET)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_CACHE], "@cache applies to GET routes only");
    if (d->cache_private && d->auth == KL_ROUTE_AUTH_NONE)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_CACHE],
                                     "@cache private needs @auth (the key is the subject)");
    /* A cache fill runs with its first requester's claims (and role): only a key holding the
     * subject keeps one user's answer from another, in keel and in any shared cache. */
    if (d->cache_ms > 0 && d->auth != KL_ROUTE_AUTH_NONE && d->cache_public)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_CACHE],
                                     "@cache public cannot be used with @auth: one user's answer would be "
                                     "stored for others (use @cache ... private)");
    if (d->cache_ms > 0 && d->auth != KL_ROUTE_AUTH_NONE && !d->cache_private)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_CACHE],
                                     "@cache on an @auth route must be private (@cache TTL private): the "
                                     "answer depends on who asks");
    if ((d->rate_per == KL_ROUTE_RATE_SUB || d->rate_per == KL_ROUTE_RATE_CLAIM) && d->auth == KL_ROUTE_AUTH_NONE)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_RATE],
                                     "@rate per %s needs @auth (it counts by the token)",
                                     d->rate_per == KL_ROUTE_RATE_SUB ? "sub" : "claim");
    if (d->n_tags > 0 && d->cache_ms == 0)
        return kl_routefile_lex_fail(p, d->ann_line[KL_ROUTE_ANN_TAGS],
                                     "@tags without @cache: tags label cached responses");
    for (size_t k = 0; k < d->n_tags; k++)
        if ((r = check_refs(p, d->tags[k], p->tag_line[k], KL_ROUTE_ANN_TAGS)) != 0) return r;
    for (size_t k = 0; k < d->n_invalidates; k++)
        if ((r = check_refs(p, d->invalidates[k], p->inv_line[k], KL_ROUTE_ANN_INVALIDATES)) != 0) return r;
    if (d->idempotent != KL_ROUTE_IDEMPOTENT_NO) {
        int at = d->ann_line[KL_ROUTE_ANN_IDEMPOTENT];
        if (d->method == KL_ROUTE_GET) return kl_routefile_lex_fail(p, at, "@idempotent applies to writes, not GET");
        if (d->returns == KL_ROUTE_RETURNS_MANY)
            return kl_routefile_lex_fail(p, at, "@idempotent needs @returns one or none (its response is stored)");
    }
    if (!p->status_set) d->status = d->returns == KL_ROUTE_RETURNS_NONE ? 204 : 200;
    d->rows_max = rows_max(d);
    return 0;
}

/* ---- API ---------------------------------------------------------------------------- */

int kl_routefile_parse(const char *filename, const char *text, size_t len, kl_route_def_t *out,
                       char *err, size_t errlen) {
    kl_routefile_parser_t p = {.file = filename, .text = text, .len = len, .def = out,
                               .err = err, .errlen = errlen};
    int r;
    memset(out, 0, sizeof(*out));
    if (errlen > 0) err[0] = '\0';
    if (len > KL_ROUTEFILE_MAX_LEN)
        return kl_routefile_lex_fail(&p, 1, "file larger than %u bytes", KL_ROUTEFILE_MAX_LEN);

    /* Everything the def points to fits in: the file name, the statement (each ":x" may
     * become "$64": at most 3/2 of the file), and copies of annotation words (each at most
     * twice, plus NULs and one-of pointer arrays). */
    size_t fname = strlen(filename) + 1;
    p.sql_cap = len + len / 2 + 16;
    p.cap = fname + p.sql_cap + 1 + 4 * len +
            (KL_ROUTE_MAX_QUERY + KL_ROUTE_MAX_FIELDS) * KL_ROUTE_MAX_ONE_OF * sizeof(void *) + 1024;
    if ((p.mem = malloc(p.cap)) == NULL) return -ENOMEM;
    out->_mem = p.mem;
    out->file = kl_routefile_lex_dup(&p, (kl_str_t){filename, fname - 1});
    p.sql = kl_routefile_lex_carve(&p, p.sql_cap + 1, 1);
    if ((r = kl_routefile_lex_file(&p, kl_routefile_annotations_parse)) != 0 || (r = finish(&p)) != 0)
        goto error;
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

const char *kl_routefile_field_type_name(kl_route_field_type_t type) {
    switch (type) {
    case KL_FIELD_TEXT: return "text";
    case KL_FIELD_INT: return "int";
    case KL_FIELD_BIGINT: return "bigint";
    case KL_FIELD_BOOL: return "bool";
    case KL_FIELD_NUMERIC: return "numeric";
    case KL_FIELD_UUID: return "uuid";
    case KL_FIELD_TIMESTAMPTZ: return "timestamptz";
    case KL_FIELD_JSON: return "json";
    }
    return "?";
}

const char *kl_routefile_ann_name(kl_route_ann_t ann) {
    return (unsigned)ann < KL_ROUTE_ANN_COUNT_ ? kl_routefile_annotations_table[ann].name : "@?";
}
