/* routefile_lex.c - the route file's lexer and the parse state (see routefile_lex.h).
 *
 * The lexer copies the statement into p->sql as it goes; sql_cap is sized for the worst
 * case (every ":x" becoming "$64"), so writing never needs to grow or fail. */
#include "app/routefile_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kl_routefile_lex_fail(kl_routefile_parser_t *p, int line, const char *fmt, ...) {
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

int kl_routefile_lex_shown(kl_str_t s) { return s.len > 60 ? 60 : (int)s.len; }

void *kl_routefile_lex_carve(kl_routefile_parser_t *p, size_t n, size_t align) {
    size_t at = (p->used + align - 1) & ~(align - 1);
    if (at > p->cap || n > p->cap - at) return NULL;
    p->used = at + n;
    return p->mem + at;
}

const char *kl_routefile_lex_dup(kl_routefile_parser_t *p, kl_str_t s) {
    char *d = kl_routefile_lex_carve(p, s.len + 1, 1);
    if (d == NULL) return NULL;
    memcpy(d, s.base, s.len);
    d[s.len] = '\0';
    return d;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
/* PostgreSQL identifiers: letters, '_', any byte >= 0x80; then also digits and '$'. */
static bool sql_ident_start(unsigned char c) { return is_alpha(c) || c == '_' || c >= 0x80; }
bool kl_routefile_lex_sql_ident_char(unsigned char c) { return sql_ident_start(c) || is_digit(c) || c == '$'; }

bool kl_routefile_lex_name_start(unsigned char c) { return is_alpha(c) || c == '_'; }
bool kl_routefile_lex_name_char(unsigned char c) { return kl_routefile_lex_name_start(c) || is_digit(c); }

bool kl_routefile_lex_valid_name(kl_str_t s) {
    if (s.len == 0 || !kl_routefile_lex_name_start((unsigned char)s.base[0])) return false;
    for (size_t i = 1; i < s.len; i++)
        if (!kl_routefile_lex_name_char((unsigned char)s.base[i])) return false;
    return true;
}

static bool str_eq(kl_str_t a, kl_str_t b) { return a.len == b.len && memcmp(a.base, b.base, a.len) == 0; }

static void emit(kl_routefile_parser_t *p, const char *s, size_t n) {
    /* sql_cap covers the worst case (every ":x" becoming "$64"), so this never truncates */
    if (n > p->sql_cap - p->sql_len) n = p->sql_cap - p->sql_len;
    memcpy(p->sql + p->sql_len, s, n);
    p->sql_len += n;
}

/* Copies a quoted run (string literal or quoted identifier) starting at s[*i] == q. */
static int copy_quoted(kl_routefile_parser_t *p, size_t *i, int *line, char q, bool backslash) {
    const char *s = p->text;
    size_t n = p->len, j = *i + 1;
    int start = *line;
    for (;;) {
        if (j >= n)
            return kl_routefile_lex_fail(
                p, start, q == '"' ? "unterminated quoted identifier" : "unterminated string literal");
        char c = s[j];
        if (c == '\0') return kl_routefile_lex_fail(p, *line, "NUL byte in file");
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
static int use_param(kl_routefile_parser_t *p, size_t *i, int line) {
    const char *s = p->text;
    size_t n = p->len, j = *i + 1;
    while (j < n && kl_routefile_lex_name_char((unsigned char)s[j])) j++;
    kl_str_t name = {s + *i + 1, j - *i - 1};
    bool dotted = j + 1 < n && s[j] == '.' && kl_routefile_lex_name_start((unsigned char)s[j + 1]);
    if (kl_str_eq(name, "auth") && !dotted)
        return kl_routefile_lex_fail(p, line, ":auth needs a claim name, e.g. :auth.sub");
    if ((kl_str_eq(name, "auth") || kl_str_eq(name, "body")) && dotted) { /* :auth.claim, :body.field */
        for (j += 1; j < n && kl_routefile_lex_name_char((unsigned char)s[j]); j++)
            ;
        name.len = j - *i - 1;
    }
    size_t k = 0;
    while (k < p->def->n_params && !str_eq(p->pnames[k], name)) k++;
    if (k == p->def->n_params) {
        if (k == KL_ROUTE_MAX_PARAMS)
            return kl_routefile_lex_fail(p, line, "more than %d distinct parameters", KL_ROUTE_MAX_PARAMS);
        p->pnames[k] = name;
        p->def->params[k].line = line;
        p->def->params[k].index = -1;
        p->def->n_params++;
    }
    kl_route_def_t *d = p->def;
    if (d->n_param_uses < KL_ROUTE_MAX_PARAM_USES) d->param_use[d->n_param_uses] = (uint32_t)p->sql_len;
    if (d->n_param_uses++ == 0) d->params_cast = true;
    size_t c = j;
    while (c < n && (s[c] == ' ' || s[c] == '\t')) c++;
    if (c + 1 >= n || s[c] != ':' || s[c + 1] != ':') d->params_cast = false;
    char num[8];
    int len = snprintf(num, sizeof(num), "$%zu", k + 1);
    emit(p, num, (size_t)len);
    *i = j;
    return 0;
}

int kl_routefile_lex_file(kl_routefile_parser_t *p, kl_routefile_lex_annotation_fn annotation) {
    const char *s = p->text;
    size_t n = p->len, i = 0;
    int line = 1, semi_line = 0;
    bool code = false; /* the current line holds SQL before this point */
    bool ended = false; /* the statement's ';' was seen: only comments may follow */
    int r;

    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) i = 3; /* a UTF-8 BOM */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0') return kl_routefile_lex_fail(p, line, "NUL byte in file");
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
            if (memchr(s + i, '\0', e - i) != NULL)
                return kl_routefile_lex_fail(p, line, "NUL byte in file");
            size_t a = i + 2;
            while (a < e && (s[a] == ' ' || s[a] == '\t')) a++;
            if (a < e && s[a] == '@') {
                if (code)
                    return kl_routefile_lex_fail(p, line,
                                                 "annotation after SQL on the same line: "
                                                 "give it its own line");
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
                if (s[j] == '\0') return kl_routefile_lex_fail(p, line, "NUL byte in file");
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
            if (depth > 0) return kl_routefile_lex_fail(p, start, "unterminated /* comment");
            code = true;
            i = j;
            continue;
        }
        if (ended)
            return kl_routefile_lex_fail(p, line,
                                         "more than one SQL statement (the first ends with ';' on line %d); "
                                         "put multi-step logic in a SQL function",
                                         semi_line);
        code = true;
        if (c == '\'') {
            /* E'...' takes backslash escapes; the E must start a token (not end a word) */
            bool e = i >= 1 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                     (i < 2 || !kl_routefile_lex_sql_ident_char((unsigned char)s[i - 2]));
            if ((r = copy_quoted(p, &i, &line, '\'', e)) != 0) return r;
        } else if (c == '"') {
            if ((r = copy_quoted(p, &i, &line, '"', false)) != 0) return r;
        } else if (c == '$') {
            if (i > 0 && kl_routefile_lex_sql_ident_char((unsigned char)s[i - 1])) { /* inside an identifier: a$b */
                emit(p, s + i, 1);
                i++;
                continue;
            }
            if (i + 1 < n && is_digit((unsigned char)s[i + 1]))
                return kl_routefile_lex_fail(
                    p, line, "positional parameter $%c: use named parameters (:name)", s[i + 1]);
            size_t j = i + 1;
            if (j < n && sql_ident_start((unsigned char)s[j]))
                while (j < n && kl_routefile_lex_sql_ident_char((unsigned char)s[j]) && s[j] != '$') j++;
            if (j < n && s[j] == '$') { /* $tag$ ... $tag$: copied untouched */
                size_t tag = j + 1 - i;
                const char *end = memmem(s + j + 1, n - j - 1, s + i, tag);
                if (end == NULL)
                    return kl_routefile_lex_fail(p, line, "unterminated dollar-quoted string %.*s", (int)tag,
                                                 s + i);
                size_t stop = (size_t)(end - s) + tag;
                for (size_t k = i; k < stop; k++) {
                    if (s[k] == '\0') return kl_routefile_lex_fail(p, line, "NUL byte in file");
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
            } else if (i + 1 < n && kl_routefile_lex_name_start((unsigned char)s[i + 1])) {
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
