/* scenario.c - scenario file parsing and request rendering; see scenario.h. */
#include "scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { CTX_PATH, CTX_HEADER, CTX_BODY } ctx_t;

typedef struct {
    kb_scenario_t *sc;
    const char *name;
    unsigned line;
    char *err;
    size_t errcap;
} parser_t;

__attribute__((format(printf, 2, 3))) static int fail(parser_t *p, const char *fmt, ...) {
    int n = snprintf(p->err, p->errcap, "%s:%u: ", p->name, p->line);
    if (n >= 0 && (size_t)n < p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Grows *arr so that index `used` is valid. The arrays are bounded by the file size. */
static int grow(void **arr, size_t *cap, size_t used, size_t elem) {
    if (used < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *n = realloc(*arr, ncap * elem);
    if (!n) return -ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

static bool is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool char_ok(ctx_t ctx, unsigned char c) {
    switch (ctx) {
    case CTX_PATH: return c > 0x20 && c < 0x7f;
    case CTX_HEADER: return c == '\t' || (c >= 0x20 && c != 0x7f);
    case CTX_BODY: return true;
    }
    return false;
}

static const char *ctx_name(ctx_t ctx) {
    return ctx == CTX_PATH ? "path" : ctx == CTX_HEADER ? "header value" : "body";
}

static int add_part(parser_t *p, kb_part_t part) {
    kb_scenario_t *sc = p->sc;
    if (grow((void **)&sc->parts, &sc->_cap_parts, sc->nparts, sizeof *sc->parts) < 0) return -ENOMEM;
    sc->parts[sc->nparts++] = part;
    return 0;
}

static int add_text(parser_t *p, uint32_t off, uint32_t len) {
    if (!len) return 0;
    return add_part(p, (kb_part_t){.kind = KB_PART_TEXT, .span = {off, len}});
}

static bool parse_i64(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == len) return false;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (((uint64_t)INT64_MAX + 1) - d) / 10) return false;
        v = v * 10 + d;
    }
    if (!neg && v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* {int:LO:HI} with s pointing after "{int:" and len bytes before the '}'. */
static int parse_int_tmpl(parser_t *p, const char *s, size_t len) {
    const char *colon = memchr(s, ':', len);
    int64_t lo, hi;
    if (!colon || !parse_i64(s, (size_t)(colon - s), &lo) ||
        !parse_i64(colon + 1, len - (size_t)(colon - s) - 1, &hi))
        return fail(p, "bad {int:LO:HI} '{int:%.*s}': LO and HI must be integers", (int)len, s);
    if (lo > hi) return fail(p, "bad {int:%.*s}: LO is greater than HI", (int)len, s);
    return add_part(p, (kb_part_t){.kind = KB_PART_INT, .lo = lo, .hi = hi});
}

/* {list:a,b,c} with off pointing after "{list:" and len bytes before the '}'. */
static int parse_list_tmpl(parser_t *p, uint32_t off, uint32_t len, ctx_t ctx) {
    kb_scenario_t *sc = p->sc;
    const char *t = sc->text;
    uint32_t first = (uint32_t)sc->nitems, start = off, end = off + len;
    for (uint32_t i = off;; i++) {
        if (i == end || t[i] == ',') {
            if (i == start) return fail(p, "empty item in {list:%.*s}", (int)len, t + off);
            if (grow((void **)&sc->items, &sc->_cap_items, sc->nitems, sizeof *sc->items) < 0) return -ENOMEM;
            sc->items[sc->nitems++] = (kb_span_t){start, i - start};
            if (i == end) break;
            start = i + 1;
            continue;
        }
        if (!char_ok(ctx, (unsigned char)t[i]))
            return fail(p, "character 0x%02x not allowed in a %s (in {list:...})", (unsigned char)t[i], ctx_name(ctx));
    }
    return add_part(p, (kb_part_t){.kind = KB_PART_LIST, .first_item = first, .nitems = (uint32_t)sc->nitems - first});
}

/* {env:NAME} with s pointing after "{env:" and len bytes before the '}': the variable's value,
 * copied into sc->env now, so the run does not depend on the environment changing. */
static int parse_env_tmpl(parser_t *p, const char *s, size_t len, ctx_t ctx) {
    kb_scenario_t *sc = p->sc;
    char name[128];
    bool ok = len > 0 && len < sizeof name && !(s[0] >= '0' && s[0] <= '9');
    for (size_t i = 0; ok && i < len; i++)
        ok = s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z');
    if (!ok) return fail(p, "bad {env:NAME} '{env:%.*s}': NAME is letters, digits and '_'", (int)(len < 200 ? len : 200), s);
    memcpy(name, s, len);
    name[len] = 0;
    const char *v = getenv(name);
    if (!v) return fail(p, "{env:%s}: the environment variable %s is not set", name, name);
    size_t vlen = strlen(v);
    if (vlen > KB_SC_MAX_FILE || sc->env_len + vlen > KB_SC_MAX_FILE)
        return fail(p, "{env:%s}: the environment values used exceed %u bytes", name, KB_SC_MAX_FILE);
    for (size_t i = 0; i < vlen; i++)
        if (!char_ok(ctx, (unsigned char)v[i]))
            return fail(p, "{env:%s}: character 0x%02x not allowed in a %s", name, (unsigned char)v[i], ctx_name(ctx));
    if (sc->env_len + vlen > sc->_cap_env) {
        size_t ncap = (sc->env_len + vlen) * 2 + 64;
        char *n = realloc(sc->env, ncap);
        if (!n) return -ENOMEM;
        sc->env = n;
        sc->_cap_env = ncap;
    }
    if (vlen) memcpy(sc->env + sc->env_len, v, vlen);
    kb_part_t part = {.kind = KB_PART_ENV, .span = {(uint32_t)sc->env_len, (uint32_t)vlen}};
    sc->env_len += vlen;
    return add_part(p, part);
}

/* Parses text[off .. off+len) as a template into consecutive parts. */
static int parse_tmpl(parser_t *p, uint32_t off, uint32_t len, ctx_t ctx, kb_tmpl_t *out) {
    const char *t = p->sc->text;
    uint32_t i = off, end = off + len, lit = off;
    int rc;
    out->first = (uint32_t)p->sc->nparts;
    while (i < end) {
        if (t[i] == '{' && i + 1 < end && t[i + 1] == '{') {
            /* "{{": keep the first brace as text, skip the second */
            if ((rc = add_text(p, lit, i + 1 - lit)) < 0) return rc;
            i += 2;
            lit = i;
            continue;
        }
        bool is_int = t[i] == '{' && end - i >= 5 && memcmp(t + i + 1, "int:", 4) == 0;
        bool is_list = t[i] == '{' && end - i >= 6 && memcmp(t + i + 1, "list:", 5) == 0;
        bool is_env = t[i] == '{' && end - i >= 5 && memcmp(t + i + 1, "env:", 4) == 0;
        if (is_int || is_list || is_env) {
            const char *kind = is_int ? "int" : is_list ? "list" : "env";
            const char *close = memchr(t + i, '}', end - i);
            if (!close) return fail(p, "unterminated {%s:...} (missing '}')", kind);
            if ((rc = add_text(p, lit, i - lit)) < 0) return rc;
            uint32_t inner = i + 2 + (uint32_t)strlen(kind), ilen = (uint32_t)(close - t) - inner;
            rc = is_int    ? parse_int_tmpl(p, t + inner, ilen)
                 : is_list ? parse_list_tmpl(p, inner, ilen, ctx)
                           : parse_env_tmpl(p, t + inner, ilen, ctx);
            if (rc < 0) return rc;
            i = (uint32_t)(close - t) + 1;
            lit = i;
            continue;
        }
        if (!char_ok(ctx, (unsigned char)t[i]))
            return fail(p, "character 0x%02x not allowed in a %s", (unsigned char)t[i], ctx_name(ctx));
        i++;
    }
    if ((rc = add_text(p, lit, i - lit)) < 0) return rc;
    out->n = (uint32_t)p->sc->nparts - out->first;
    return 0;
}

static bool span_ieq(const kb_scenario_t *sc, kb_span_t s, const char *c) {
    return strlen(c) == s.len && strncasecmp(sc->text + s.off, c, s.len) == 0;
}

static uint32_t skip_ws(const char *t, uint32_t i, uint32_t end) {
    while (i < end && (t[i] == ' ' || t[i] == '\t')) i++;
    return i;
}

static uint32_t token_end(const char *t, uint32_t i, uint32_t end) {
    while (i < end && t[i] != ' ' && t[i] != '\t') i++;
    return i;
}

static int parse_request(parser_t *p, uint32_t i, uint32_t end) {
    kb_scenario_t *sc = p->sc;
    const char *t = sc->text;
    if (sc->nreqs == KB_SC_MAX_REQUESTS) return fail(p, "more than %d requests", KB_SC_MAX_REQUESTS);
    kb_request_t rq = {.line = p->line, .first_header = (uint32_t)sc->nheaders};

    uint32_t w0 = i, w1 = token_end(t, i, end);
    uint64_t w = 0;
    for (uint32_t k = w0; k < w1; k++) {
        if (t[k] < '0' || t[k] > '9' || w > KB_SC_MAX_WEIGHT) { w = 0; break; }
        w = w * 10 + (uint64_t)(t[k] - '0');
    }
    if (w0 == w1 || w == 0 || w > KB_SC_MAX_WEIGHT)
        return fail(p, "expected 'request WEIGHT METHOD PATH' with WEIGHT an integer in 1..%d", KB_SC_MAX_WEIGHT);
    rq.weight = (uint32_t)w;

    uint32_t m0 = skip_ws(t, w1, end), m1 = token_end(t, m0, end);
    if (m0 == m1) return fail(p, "expected a method after the weight");
    if (m1 - m0 > 32) return fail(p, "method longer than 32 characters");
    for (uint32_t k = m0; k < m1; k++)
        if (!is_tchar((unsigned char)t[k])) return fail(p, "bad character in method '%.*s'", (int)(m1 - m0), t + m0);
    rq.method = (kb_span_t){m0, m1 - m0};
    rq.is_head = m1 - m0 == 4 && memcmp(t + m0, "HEAD", 4) == 0;

    uint32_t p0 = skip_ws(t, m1, end), p1 = token_end(t, p0, end);
    if (p0 == p1) return fail(p, "expected a path after the method");
    if (t[p0] != '/' && !(p1 - p0 == 1 && t[p0] == '*'))
        return fail(p, "path must start with '/' (origin-form), got '%.*s'", (int)(p1 - p0), t + p0);
    uint32_t after = skip_ws(t, p1, end);
    if (after != end)
        return fail(p, "unexpected '%.*s' after the path (no spaces in a path; the version is always HTTP/1.1)",
                    (int)(end - after), t + after);
    rq.path_text = (kb_span_t){p0, p1 - p0};
    int rc = parse_tmpl(p, p0, p1 - p0, CTX_PATH, &rq.path);
    if (rc < 0) return rc;
    if (grow((void **)&sc->reqs, &sc->_cap_reqs, sc->nreqs, sizeof *sc->reqs) < 0) return -ENOMEM;
    sc->reqs[sc->nreqs++] = rq;
    return 0;
}

static int parse_header(parser_t *p, uint32_t i, uint32_t end, bool global) {
    kb_scenario_t *sc = p->sc;
    const char *t = sc->text;
    uint32_t n0 = i, n1 = i;
    while (n1 < end && is_tchar((unsigned char)t[n1])) n1++;
    if (n0 == n1 || n1 == end || t[n1] != ':')
        return fail(p, "expected 'header Name: value' (a token, then ':' with no space before it)");
    kb_sc_header_t h = {.name = {n0, n1 - n0}};
    if (span_ieq(sc, h.name, "content-length") || span_ieq(sc, h.name, "transfer-encoding"))
        return fail(p, "%.*s is set by keel-bench from the body", (int)(n1 - n0), t + n0);
    uint32_t v0 = skip_ws(t, n1 + 1, end), v1 = end;
    while (v1 > v0 && (t[v1 - 1] == ' ' || t[v1 - 1] == '\t')) v1--;
    int rc = parse_tmpl(p, v0, v1 - v0, CTX_HEADER, &h.value);
    if (rc < 0) return rc;
    if (global) {
        if (sc->nglobals == KB_SC_MAX_HEADERS) return fail(p, "more than %d global headers", KB_SC_MAX_HEADERS);
        if (grow((void **)&sc->globals, &sc->_cap_globals, sc->nglobals, sizeof *sc->globals) < 0) return -ENOMEM;
        sc->globals[sc->nglobals++] = h;
        return 0;
    }
    kb_request_t *rq = &sc->reqs[sc->nreqs - 1];
    if (rq->has_body) return fail(p, "header after body: put a request's headers before its body");
    if (rq->nheaders == KB_SC_MAX_HEADERS) return fail(p, "more than %d headers on one request", KB_SC_MAX_HEADERS);
    if (grow((void **)&sc->headers, &sc->_cap_headers, sc->nheaders, sizeof *sc->headers) < 0) return -ENOMEM;
    /* indented lines only ever attach to the last request, so its headers stay contiguous */
    sc->headers[sc->nheaders++] = h;
    rq->nheaders++;
    return 0;
}

static int parse_body(parser_t *p, uint32_t i, uint32_t end) {
    kb_scenario_t *sc = p->sc;
    kb_request_t *rq = &sc->reqs[sc->nreqs - 1];
    int rc;
    if (rq->has_body) {
        /* a body is one run of parts; a second line extends it only if nothing came between */
        if (rq->body.first + rq->body.n != sc->nparts)
            return fail(p, "body lines of one request must be consecutive");
        if ((rc = add_part(p, (kb_part_t){.kind = KB_PART_NEWLINE})) < 0) return rc;
        kb_tmpl_t more;
        if ((rc = parse_tmpl(p, i, end - i, CTX_BODY, &more)) < 0) return rc;
        rq->body.n += 1 + more.n;
        return 0;
    }
    rq->has_body = true;
    return parse_tmpl(p, i, end - i, CTX_BODY, &rq->body);
}

static int parse_line(parser_t *p, uint32_t start, uint32_t end) {
    const char *t = p->sc->text;
    uint32_t i = skip_ws(t, start, end);
    bool indented = i > start;
    if (i == end || t[i] == '#') return 0;
    uint32_t k1 = token_end(t, i, end);
    uint32_t klen = k1 - i;
    const char *kw = t + i;
    if (klen == 7 && !memcmp(kw, "request", 7)) {
        if (indented) return fail(p, "'request' must start at the beginning of the line");
        return parse_request(p, skip_ws(t, k1, end), end);
    }
    if (klen == 6 && !memcmp(kw, "header", 6)) {
        if (indented && !p->sc->nreqs) return fail(p, "indented 'header' before any request (unindent it to send it with every request)");
        return parse_header(p, skip_ws(t, k1, end), end, !indented);
    }
    if (klen == 4 && !memcmp(kw, "name", 4)) {
        if (!indented || !p->sc->nreqs) return fail(p, "'name' belongs to a request: indent it under one");
        kb_request_t *rq = &p->sc->reqs[p->sc->nreqs - 1];
        uint32_t n0 = skip_ws(t, k1, end), n1 = end;
        while (n1 > n0 && (t[n1 - 1] == ' ' || t[n1 - 1] == '\t')) n1--;
        if (n0 == n1) return fail(p, "expected 'name TEXT'");
        if (rq->name.len) return fail(p, "a second 'name' for one request");
        for (uint32_t k = n0; k < n1; k++)
            if (!char_ok(CTX_HEADER, (unsigned char)t[k])) return fail(p, "character 0x%02x not allowed in a name", (unsigned char)t[k]);
        rq->name = (kb_span_t){n0, n1 - n0};
        return 0;
    }
    if (klen == 4 && !memcmp(kw, "body", 4)) {
        if (!indented || !p->sc->nreqs) return fail(p, "'body' belongs to a request: indent it under one");
        /* exactly one separator: further leading spaces are part of the body */
        return parse_body(p, k1 < end ? k1 + 1 : end, end);
    }
    return fail(p, "unknown directive '%.*s' (expected request, header, body or name)", (int)klen, kw);
}

/* The route name of rq: its `name`, else METHOD and PATH as written; cut to fit. */
static void route_name(const kb_scenario_t *sc, const kb_request_t *rq, char out[KB_SC_MAX_ROUTE_NAME + 1]) {
    if (rq->name.len)
        snprintf(out, KB_SC_MAX_ROUTE_NAME + 1, "%.*s", (int)rq->name.len, sc->text + rq->name.off);
    else
        snprintf(out, KB_SC_MAX_ROUTE_NAME + 1, "%.*s %.*s", (int)rq->method.len, sc->text + rq->method.off,
                 (int)rq->path_text.len, sc->text + rq->path_text.off);
}

/* Gives every request its route: lines with one name share it; past KB_SC_MAX_ROUTES names,
 * the last route holds every further one. At most 1000 x 64 name comparisons. */
static int group_routes(kb_scenario_t *sc) {
    sc->routes = calloc(KB_SC_MAX_ROUTES, sizeof *sc->routes);
    if (!sc->routes) return -ENOMEM;
    char name[KB_SC_MAX_ROUTE_NAME + 1];
    for (size_t r = 0; r < sc->nreqs; r++) {
        kb_request_t *rq = &sc->reqs[r];
        route_name(sc, rq, name);
        size_t k = 0;
        while (k < sc->nroutes && strcmp(sc->routes[k].name, name)) k++;
        if (k == sc->nroutes) {
            if (sc->nroutes == KB_SC_MAX_ROUTES) {
                k = KB_SC_MAX_ROUTES - 1;
                if (!sc->routes_merged)
                    snprintf(sc->routes[k].name, sizeof sc->routes[k].name, "(every other request line)");
                sc->routes_merged = true;
            } else {
                memcpy(sc->routes[k].name, name, sizeof name);
                sc->routes[k].line = rq->line;
                sc->nroutes++;
            }
        }
        sc->routes[k].nreqs++;
        rq->route = (uint32_t)k;
    }
    return 0;
}

void kb_scenario_free(kb_scenario_t *sc) {
    free(sc->text);
    free(sc->parts);
    free(sc->items);
    free(sc->headers);
    free(sc->globals);
    free(sc->reqs);
    free(sc->routes);
    free(sc->env);
    memset(sc, 0, sizeof *sc);
}

int kb_scenario_parse(kb_scenario_t *sc, const char *name, const char *text, size_t len, char *err,
                      size_t errcap) {
    parser_t p = {.sc = sc, .name = name, .err = err, .errcap = errcap};
    int rc = 0;
    memset(sc, 0, sizeof *sc);
    if (len > KB_SC_MAX_FILE) {
        snprintf(err, errcap, "%s: larger than %u bytes", name, KB_SC_MAX_FILE);
        return -EINVAL;
    }
    sc->text = malloc(len + 1);
    if (!sc->text) return -ENOMEM;
    memcpy(sc->text, text, len);
    sc->text[len] = 0;
    sc->text_len = len;

    uint32_t pos = 0;
    while (pos < len) {
        p.line++;
        const char *nl = memchr(sc->text + pos, '\n', len - pos);
        uint32_t eol = nl ? (uint32_t)(nl - sc->text) : (uint32_t)len, end = eol;
        if (memchr(sc->text + pos, 0, eol - pos)) {
            rc = fail(&p, "NUL byte");
            goto err;
        }
        if (end > pos && sc->text[end - 1] == '\r') end--;
        if ((rc = parse_line(&p, pos, end)) < 0) goto err;
        pos = eol + 1;
    }
    if (!sc->nreqs) {
        snprintf(err, errcap, "%s:%u: no 'request' line", name, p.line ? p.line : 1);
        rc = -EINVAL;
        goto err;
    }

    bool global_host = false;
    for (size_t g = 0; g < sc->nglobals; g++) global_host |= span_ieq(sc, sc->globals[g].name, "host");
    uint64_t cum = 0;
    for (size_t r = 0; r < sc->nreqs; r++) {
        kb_request_t *rq = &sc->reqs[r];
        cum += rq->weight;
        rq->cum_weight = cum;
        rq->sets_host = global_host;
        for (uint32_t h = 0; h < rq->nheaders; h++) {
            kb_span_t n = sc->headers[rq->first_header + h].name;
            if (span_ieq(sc, n, "host")) rq->sets_host = true;
            for (size_t g = 0; g < sc->nglobals; g++) {
                kb_span_t gn = sc->globals[g].name;
                if (gn.len == n.len && !strncasecmp(sc->text + gn.off, sc->text + n.off, n.len))
                    rq->globals_skip |= (uint64_t)1 << g;
            }
        }
    }
    sc->total_weight = cum;
    if ((rc = group_routes(sc)) < 0) goto err;
    return 0;
err:
    if (rc == -ENOMEM) snprintf(err, errcap, "%s: out of memory", name);
    kb_scenario_free(sc);
    return rc;
}

int kb_scenario_load(kb_scenario_t *sc, const char *path, char *err, size_t errcap) {
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    struct stat st;
    memset(sc, 0, sizeof *sc);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errcap, "%s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > KB_SC_MAX_FILE) {
        snprintf(err, errcap, "%s: not a regular file of at most %u bytes", path, KB_SC_MAX_FILE);
        rc = -EINVAL;
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size + 1);
    if (!buf) {
        rc = -ENOMEM;
        snprintf(err, errcap, "%s: out of memory", path);
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            snprintf(err, errcap, "%s: read: %s", path, strerror(-rc));
            goto out;
        }
        got += (size_t)n;
    }
    rc = kb_scenario_parse(sc, path, buf, size, err, errcap);
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

const kb_request_t *kb_scenario_pick(const kb_scenario_t *sc, uint64_t *rng) {
    if (sc->nreqs == 1) return &sc->reqs[0];
    uint64_t r = kb_rand(rng) % sc->total_weight;
    size_t lo = 0, hi = sc->nreqs - 1;
    while (lo < hi) { /* first request whose cumulative weight exceeds r */
        size_t mid = lo + (hi - lo) / 2;
        if (sc->reqs[mid].cum_weight > r) hi = mid;
        else lo = mid + 1;
    }
    return &sc->reqs[lo];
}

typedef struct {
    char *out;
    size_t cap, len;
} wbuf_t;

static void put(wbuf_t *w, const char *s, size_t n) {
    if (w->len < w->cap) memcpy(w->out + w->len, s, n < w->cap - w->len ? n : w->cap - w->len);
    w->len += n;
}

static void puts_(wbuf_t *w, const char *s) { put(w, s, strlen(s)); }

static void put_tmpl(const kb_scenario_t *sc, kb_tmpl_t t, uint64_t *rng, wbuf_t *w) {
    for (uint32_t i = 0; i < t.n; i++) {
        const kb_part_t *pt = &sc->parts[t.first + i];
        switch (pt->kind) {
        case KB_PART_TEXT: put(w, sc->text + pt->span.off, pt->span.len); break;
        case KB_PART_NEWLINE: put(w, "\n", 1); break;
        case KB_PART_ENV: put(w, sc->env + pt->span.off, pt->span.len); break;
        case KB_PART_INT: {
            uint64_t span = (uint64_t)pt->hi - (uint64_t)pt->lo + 1; /* 0: the whole 64-bit range */
            uint64_t r = kb_rand(rng);
            char num[24];
            int n = snprintf(num, sizeof num, "%lld", (long long)((uint64_t)pt->lo + (span ? r % span : r)));
            put(w, num, (size_t)n);
            break;
        }
        case KB_PART_LIST: {
            kb_span_t it = sc->items[pt->first_item + kb_rand(rng) % pt->nitems];
            put(w, sc->text + it.off, it.len);
            break;
        }
        }
    }
}

size_t kb_scenario_render(const kb_scenario_t *sc, const kb_request_t *rq, const char *host, uint64_t *rng,
                          char *out, size_t cap) {
    wbuf_t w = {out, cap, 0};
    put(&w, sc->text + rq->method.off, rq->method.len);
    put(&w, " ", 1);
    put_tmpl(sc, rq->path, rng, &w);
    puts_(&w, " HTTP/1.1\r\n");
    if (!rq->sets_host) {
        puts_(&w, "Host: ");
        puts_(&w, host);
        puts_(&w, "\r\n");
    }
    for (size_t g = 0; g < sc->nglobals; g++) {
        if (rq->globals_skip >> g & 1) continue;
        put(&w, sc->text + sc->globals[g].name.off, sc->globals[g].name.len);
        puts_(&w, ": ");
        put_tmpl(sc, sc->globals[g].value, rng, &w);
        puts_(&w, "\r\n");
    }
    for (uint32_t h = 0; h < rq->nheaders; h++) {
        const kb_sc_header_t *hd = &sc->headers[rq->first_header + h];
        put(&w, sc->text + hd->name.off, hd->name.len);
        puts_(&w, ": ");
        put_tmpl(sc, hd->value, rng, &w);
        puts_(&w, "\r\n");
    }
    const char *m = sc->text + rq->method.off;
    size_t ml = rq->method.len;
    bool wants_length = (ml == 4 && !memcmp(m, "POST", 4)) || (ml == 3 && !memcmp(m, "PUT", 3)) ||
                        (ml == 5 && !memcmp(m, "PATCH", 5));
    if (rq->has_body || wants_length) {
        /* the length must precede the body: measure it with a copy of the random state, then
         * render it for real from the same state so both passes draw the same values */
        size_t blen = 0;
        if (rq->has_body) {
            uint64_t probe = *rng;
            wbuf_t count = {NULL, 0, 0};
            put_tmpl(sc, rq->body, &probe, &count);
            blen = count.len;
        }
        char num[48];
        int n = snprintf(num, sizeof num, "Content-Length: %zu\r\n", blen);
        put(&w, num, (size_t)n);
    }
    puts_(&w, "\r\n");
    if (rq->has_body) put_tmpl(sc, rq->body, rng, &w);
    return w.len;
}
