/* tags.c - libFuzzer driver for cache tags (src/app/tags.c): kl_tags_expand, kl_tags_join
 * and kl_tags_next, with a route def parsed from a fixed route file and the parameter
 * values a client controls.
 *
 * Input format: pieces separated by NUL bytes. Piece i (i < n_params) is the value bound
 * for $(i + 1) (a missing piece: no value, NULL); the pieces after those are extra
 * templates, expanded like the route's own. The whole input up to its first NUL is also
 * walked with kl_tags_next as a list. Values may hold any byte but NUL, '\n' (the
 * separator) included.
 *
 * Checked with abort() (structure only: the bytes a value turns into may change with the
 * escaping rule): no expansion holds the separator; expanding twice gives the same text; a
 * template's text before its first '{' and after its last '}' is kept around the expansion;
 * a reference to a value of letters and digits only becomes exactly that value; kl_tags_join
 * is the expansions joined with the separator; kl_tags_next walks a joined list back into
 * exactly its non-empty expansions, in order, and any list into maximal separator-free,
 * non-empty runs that cover every other byte. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/routefile.h"
#include "app/tags.h"
#include "core/arena.h"

static const char route[] =
    "-- @route GET /t/{id:int}/{slug}\n"
    "-- @query q text default \"\"\n"
    "-- @query u uuid default 123e4567-e89b-12d3-a456-426614174000\n"
    "-- @auth optional\n"
    "-- @cache 60s private\n"
    "-- @tags t:{id} s:{slug}/{q} {q}{slug} plain all:{id}:{q}:{u} who:{auth.sub}\n"
    "-- @invalidates t:{id} {slug}\n"
    "SELECT :id::bigint, :slug, :q, :u::uuid, :auth.sub\n";

#define MAX_TPL (2 * KL_ROUTE_MAX_TAGS + 8)

static kl_route_def_t def;
static kl_recycler_t recycler;

/* The value of the path or query parameter a reference names, or NULL for any other
 * reference (what those become is not this driver's to pin down). */
static const char *lookup(const char *const *values, const char *name, size_t len) {
    for (size_t i = 0; i < def.n_params; i++)
        if ((def.params[i].source == KL_ROUTE_FROM_PATH || def.params[i].source == KL_ROUTE_FROM_QUERY) &&
            strlen(def.params[i].name) == len && memcmp(def.params[i].name, name, len) == 0)
            return values[i] ? values[i] : "";
    return NULL;
}

static int alnum_only(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || !isalnum((unsigned char)*s)) return 0;
    return 1;
}

/* The expansion when every reference names a path or query parameter whose value is
 * letters and digits only (no escaping rule has a reason to touch those); else NULL. */
static char *plain_expansion(const char *const *values, const char *tpl) {
    size_t longest = 0, refs = 0;
    for (size_t i = 0; i < def.n_params; i++)
        if (values[i] && strlen(values[i]) > longest) longest = strlen(values[i]);
    for (const char *p = tpl; *p; p++) refs += *p == '{';
    char *out = malloc(strlen(tpl) + 1 + refs * longest), *o = out;
    for (const char *p = tpl; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close) {
            const char *v = lookup(values, p + 1, (size_t)(close - p - 1));
            if (!v || !alnum_only(v)) {
                free(out);
                return NULL;
            }
            o = stpcpy(o, v);
            p = close + 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void check_expansion(kl_arena_t *a, const char *const *values, const char *tpl, const char *e) {
    if (strchr(e, KL_TAGS_SEP)) abort();
    if (strcmp(kl_tags_expand(a, &(kl_tags_src_t){.def = &def, .values = values}, tpl), e) != 0) abort();
    if (strchr(tpl, KL_TAGS_SEP)) return; /* a separator in a template is dropped: no affixes to keep */
    if (strlen(e) > KL_TAGS_MAX) abort();
    bool digest = strlen(e) == KL_TAGS_DIGEST_LEN && e[0] == '#';
    for (size_t i = 1; digest && e[i]; i++) digest = (e[i] >= '0' && e[i] <= '9') || (e[i] >= 'a' && e[i] <= 'f');
    /* too long to carry: the digest form ('#' is escaped in values; route files allow no '#'
     * in templates, though this driver's own templates may hold one) */
    if (digest && strcmp(e, tpl) != 0) return;
    const char *open = strchr(tpl, '{'), *close = strrchr(tpl, '}');
    if (!open || !close || close < open) {
        if (strcmp(e, tpl) != 0) abort(); /* no reference: the template is the tag */
        return;
    }
    size_t pre = (size_t)(open - tpl), post = strlen(close + 1), elen = strlen(e);
    if (elen < pre + post || memcmp(e, tpl, pre) != 0 || strcmp(e + elen - post, close + 1) != 0) abort();
    char *plain = plain_expansion(values, tpl);
    if (plain && strcmp(plain, e) != 0) abort();
    free(plain);
}

/* Walks list with kl_tags_next: maximal non-empty separator-free runs covering the rest. */
static void check_walk(const char *list) {
    const char *cursor = list, *prev_end = list;
    kl_str_t tag;
    while (kl_tags_next(&cursor, &tag)) {
        if (tag.len == 0 || tag.base < prev_end || memchr(tag.base, KL_TAGS_SEP, tag.len)) abort();
        for (const char *p = prev_end; p < tag.base; p++)
            if (*p != KL_TAGS_SEP) abort(); /* only separators between tags */
        if (tag.base[tag.len] != KL_TAGS_SEP && tag.base[tag.len] != '\0') abort();
        if (cursor != tag.base + tag.len) abort();
        prev_end = cursor;
    }
    for (const char *p = prev_end; *p; p++)
        if (*p != KL_TAGS_SEP) abort();
    if (*cursor != '\0' || kl_tags_next(&cursor, &tag)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!def.sql) {
        char err[256];
        if (kl_routefile_parse("tags.sql", route, sizeof route - 1, &def, err, sizeof err) != 0) abort();
        kl_recycler_init(&recycler, 256, 4); /* small chunks: most strings get an allocation of their own */
    }
    /* the pieces, NUL-terminated in a copy of the input */
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *values[KL_ROUTE_MAX_PARAMS] = {0}, *tpl[MAX_TPL];
    size_t n_tpl = 0, piece = 0;
    for (size_t at = 0; at <= size && n_tpl < MAX_TPL - def.n_tags - def.n_invalidates; piece++) {
        const char *s = buf + at;
        if (piece < def.n_params) values[piece] = s;
        else tpl[n_tpl++] = s;
        at += strlen(s) + 1;
    }
    for (size_t i = 0; i < def.n_tags; i++) tpl[n_tpl++] = def.tags[i];
    for (size_t i = 0; i < def.n_invalidates; i++) tpl[n_tpl++] = def.invalidates[i];

    kl_arena_t a;
    kl_arena_init(&a, &recycler);
    const char *e[MAX_TPL];
    for (size_t i = 0; i < n_tpl; i++) {
        e[i] = kl_tags_expand(&a, &(kl_tags_src_t){.def = &def, .values = values}, tpl[i]);
        check_expansion(&a, values, tpl[i], e[i]);
    }

    /* join the whole list, then the route's own @tags, and walk each back */
    for (int round = 0; round < 2; round++) {
        const char *const *list = round ? (const char *const *)def.tags : tpl;
        const char *const *exp = round ? e + n_tpl - def.n_tags - def.n_invalidates : e;
        size_t n = round ? def.n_tags : n_tpl;
        const char *joined = kl_tags_join(&a, &(kl_tags_src_t){.def = &def, .values = values}, list, n);
        const char *p = joined;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(exp[i]);
            if (strncmp(p, exp[i], l) != 0) abort();
            p += l;
            if (i + 1 < n && *p++ != KL_TAGS_SEP) abort();
        }
        if (*p != '\0') abort();
        const char *cursor = joined;
        kl_str_t tag;
        for (size_t i = 0; i < n; i++) {
            if (exp[i][0] == '\0') continue;
            if (!kl_tags_next(&cursor, &tag) || tag.len != strlen(exp[i]) || memcmp(tag.base, exp[i], tag.len) != 0)
                abort();
        }
        if (kl_tags_next(&cursor, &tag)) abort();
    }
    check_walk(buf);
    kl_arena_reset(&a);
    free(buf);
    return 0;
}
