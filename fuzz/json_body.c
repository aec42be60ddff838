/* json_body.c - libFuzzer driver for request bodies: the strict JSON reader
 * (src/proto/json_read.c) and the @field validation built on it (src/app/sql_body.c).
 *
 * Input format: the body, as a client sends it.
 *
 * Checked with abort():
 *  - kl_json_validate returns a type or -EINVAL with an offset within the input and a reason.
 *  - A valid object walks (kl_json_members_next) into members whose names and values lie in
 *    the input, whose value type is what its first byte says, whose names decode (as
 *    kl_json_string decodes them) to distinct byte strings, each found again by kl_json_find;
 *    a valid non-object walks into nothing. Round trip: the object rebuilt from the walk
 *    ("{" + raw name ":" value "," ... "}") is valid and walks into the same members.
 *  - Every string value decodes with NUL allowed; refused without NUL exactly when its
 *    decoding holds a NUL byte; never longer than its JSON text minus the quotes.
 *  - kl_sql_body_check on a fixed route with a field of every type (once strict, once with
 *    allow-extra) returns 0 or -EINVAL with a message; when it accepts, the body is a valid
 *    object, every required field is present and not null, every member is a declared field
 *    (unless allow-extra), each bound value is NULL exactly when its member is absent or null,
 *    and is otherwise a NUL-free C string that satisfies its field: text decoded and within
 *    maxlen characters (one-of respected), integers and numbers the member's text within
 *    bounds, bool "true"/"false", uuid and timestamptz their grammars, json the raw text. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/routefile.h"
#include "app/sql_body.h"
#include "core/arena.h"
#include "proto/datetime.h"
#include "proto/json_read.h"
#include "proto/url.h"

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "json_body: check failed at line %d: %s\n", __LINE__, #c);         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static const char route_fmt[] =
    "-- @route POST /f\n"
    "-- @body json %s\n"
    "-- @field t text optional maxlen 10\n"
    "-- @field r text required\n"
    "-- @field i int optional min -5 max 5\n"
    "-- @field b bigint optional\n"
    "-- @field n numeric optional min 0 max 100\n"
    "-- @field ok bool optional\n"
    "-- @field u uuid optional\n"
    "-- @field at timestamptz optional\n"
    "-- @field j json optional\n"
    "-- @field s text optional one-of a|bb|c\n"
    "SELECT :body.t, :body.r, :body.i, :body.b, :body.n, :body.ok, :body.u, :body.at, :body.j, :body.s\n";

static kl_route_def_t strict, extra;
static kl_recycler_t recycler;

static void parse_route(kl_route_def_t *d, const char *opts) {
    char text[1024], err[256];
    int n = snprintf(text, sizeof(text), route_fmt, opts);
    if (kl_routefile_parse("fuzz.sql", text, (size_t)n, d, err, sizeof(err)) != 0) {
        fprintf(stderr, "json_body: the fixed route does not parse: %s\n", err);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    parse_route(&strict, "max 64k");
    parse_route(&extra, "max 64k allow-extra");
    kl_recycler_init(&recycler, 64 * 1024, 4);
    return 0;
}

static bool in(const char *base, size_t len, kl_str_t s) { return s.base >= base && s.base + s.len <= base + len; }

/* Decodes the string token tok (quotes included) with NUL allowed into a malloc'd buffer. */
static char *decoded(kl_str_t tok, size_t *n) {
    char *out = malloc(tok.len + 1);
    ssize_t r = kl_json_string(tok.base, tok.len, out, tok.len, true);
    CHECK(r >= 0 && (size_t)r + 2 <= tok.len);
    *n = (size_t)r;
    return out;
}

/* The decoded name of member m: its raw text between quotes, decoded. */
static char *member_name(const kl_json_member_t *m, size_t *n) {
    kl_str_t tok = {m->name.base - 1, m->name.len + 2};
    char *s = decoded(tok, n);
    CHECK(*n == m->name_len);
    return s;
}

#define MAX_WALK 2048

/* The JSON reader on a document that validated as type. */
static void check_document(const char *s, size_t len, int type) {
    kl_json_iter_t it;
    kl_json_member_t m, again;
    bool object = kl_json_members(&it, s, len);
    CHECK(object == (type == KL_JSON_OBJECT));
    if (!object) {
        CHECK(!kl_json_members_next(&it, &m, NULL, 0));
        return;
    }
    static kl_json_member_t ms[MAX_WALK];
    static char *names[MAX_WALK];
    static size_t name_lens[MAX_WALK];
    size_t count = 0, rebuilt_len = 2;
    char small[8];
    while (kl_json_members_next(&it, &m, small, sizeof(small))) {
        CHECK(count < MAX_WALK && count < KL_JSON_MAX_MEMBERS);
        CHECK(in(s, len, m.name) && in(s, len, m.value) && m.value.len > 0);
        CHECK(m.name.base[-1] == '"' && m.name.base[m.name.len] == '"');
        char c = m.value.base[0];
        kl_json_type_t want = c == '{' ? KL_JSON_OBJECT : c == '[' ? KL_JSON_ARRAY : c == '"' ? KL_JSON_STRING
                            : c == 't' ? KL_JSON_TRUE : c == 'f' ? KL_JSON_FALSE : c == 'n' ? KL_JSON_NULL
                                                                                  : KL_JSON_NUMBER;
        CHECK(m.type == want);
        /* a member's value stands alone as a document of its type (an object value's own
         * names may repeat: only the top level's must be unique) */
        kl_json_error_t e;
        int vt = kl_json_validate(m.value.base, m.value.len, &e);
        CHECK(vt == (int)m.type || (m.type == KL_JSON_OBJECT && vt == -EINVAL &&
                                    (strstr(e.reason, "duplicate") || strstr(e.reason, "too many"))));
        names[count] = member_name(&m, &name_lens[count]);
        CHECK(memcmp(small, names[count], name_lens[count] < sizeof(small) ? name_lens[count] : sizeof(small)) == 0);
        if (m.type == KL_JSON_STRING) {
            size_t dn;
            char *d = decoded(m.value, &dn);
            char *tmp = malloc(m.value.len + 1);
            ssize_t r = kl_json_string(m.value.base, m.value.len, tmp, m.value.len, false);
            CHECK(memchr(d, '\0', dn) ? r == -EILSEQ : r == (ssize_t)dn && memcmp(tmp, d, dn) == 0);
            free(tmp);
            free(d);
        }
        ms[count++] = m;
        rebuilt_len += m.name.len + 4 + m.value.len;
    }
    for (size_t a = 0; a < count; a++) {
        for (size_t b = a + 1; b < count && count <= 64; b++)
            CHECK(name_lens[a] != name_lens[b] || memcmp(names[a], names[b], name_lens[a]) != 0);
        CHECK(kl_json_find(s, len, names[a], name_lens[a], &again));
        CHECK(again.value.base == ms[a].value.base && again.value.len == ms[a].value.len);
    }
    /* round trip: the members rebuilt without the whitespace between them */
    char *rb = malloc(rebuilt_len), *o = rb;
    *o++ = '{';
    for (size_t a = 0; a < count; a++) {
        if (a) *o++ = ',';
        *o++ = '"';
        memcpy(o, ms[a].name.base, ms[a].name.len), o += ms[a].name.len;
        *o++ = '"', *o++ = ':';
        memcpy(o, ms[a].value.base, ms[a].value.len), o += ms[a].value.len;
    }
    *o++ = '}';
    CHECK(kl_json_validate(rb, (size_t)(o - rb), NULL) == KL_JSON_OBJECT);
    kl_json_members(&it, rb, (size_t)(o - rb));
    for (size_t a = 0; a < count; a++) {
        CHECK(kl_json_members_next(&it, &m, NULL, 0));
        CHECK(m.type == ms[a].type && m.name_len == ms[a].name_len);
        CHECK(m.value.len == ms[a].value.len && memcmp(m.value.base, ms[a].value.base, m.value.len) == 0);
    }
    CHECK(!kl_json_members_next(&it, &m, NULL, 0));
    free(rb);
    for (size_t a = 0; a < count; a++) free(names[a]);
}

static int64_t chars(const char *s) {
    int64_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* What kl_sql_body_check accepted against route d. */
static void check_accepted(const kl_route_def_t *d, const char *s, size_t len, const char **vals) {
    CHECK(kl_json_validate(s, len, NULL) == KL_JSON_OBJECT);
    kl_json_iter_t it;
    kl_json_member_t m;
    char name[80];
    kl_json_members(&it, s, len);
    while (kl_json_members_next(&it, &m, name, sizeof(name))) {
        bool declared = false;
        for (size_t k = 0; k < d->n_fields; k++)
            declared |= m.name_len == strlen(d->fields[k].name) && memcmp(name, d->fields[k].name, m.name_len) == 0;
        CHECK(declared || d->body_allow_extra);
    }
    for (size_t k = 0; k < d->n_fields; k++) {
        const kl_route_field_t *f = &d->fields[k];
        bool present = kl_json_find(s, len, f->name, strlen(f->name), &m) && m.type != KL_JSON_NULL;
        CHECK(present || !f->required);
        CHECK((vals[k] != NULL) == present);
        if (!present) continue;
        const char *v = vals[k];
        size_t vl = strlen(v);
        switch (f->type) {
        case KL_FIELD_TEXT:
        case KL_FIELD_UUID:
        case KL_FIELD_TIMESTAMPTZ: {
            CHECK(m.type == KL_JSON_STRING);
            size_t dn;
            char *dec = decoded(m.value, &dn);
            CHECK(dn == vl && memcmp(dec, v, vl) == 0); /* decoded, and no NUL cut it short */
            free(dec);
            if (f->type == KL_FIELD_UUID) CHECK(kl_value_uuid((kl_str_t){v, vl}));
            if (f->type == KL_FIELD_TIMESTAMPTZ) CHECK(kl_datetime_valid(v, vl));
            if (f->type == KL_FIELD_TEXT && f->maxlen >= 0) CHECK(chars(v) <= f->maxlen);
            if (f->type == KL_FIELD_TEXT && f->n_one_of) {
                bool listed = false;
                for (size_t j = 0; j < f->n_one_of; j++) listed |= strcmp(v, f->one_of[j]) == 0;
                CHECK(listed);
            }
            break;
        }
        case KL_FIELD_INT:
        case KL_FIELD_BIGINT: {
            CHECK(m.type == KL_JSON_NUMBER && vl == m.value.len && memcmp(v, m.value.base, vl) == 0);
            char *end;
            errno = 0;
            long long x = strtoll(v, &end, 10);
            CHECK(errno == 0 && *end == '\0');
            if (f->type == KL_FIELD_INT) CHECK(x >= INT32_MIN && x <= INT32_MAX);
            if (f->has_min) CHECK(x >= f->min);
            if (f->has_max) CHECK(x <= f->max);
            break;
        }
        case KL_FIELD_NUMERIC:
            CHECK(m.type == KL_JSON_NUMBER && vl == m.value.len && memcmp(v, m.value.base, vl) == 0);
            if (f->has_min) CHECK(kl_json_number_cmp(v, vl, f->min) >= 0);
            if (f->has_max) CHECK(kl_json_number_cmp(v, vl, f->max) <= 0);
            break;
        case KL_FIELD_BOOL:
            CHECK(strcmp(v, m.type == KL_JSON_TRUE ? "true" : "false") == 0);
            CHECK(m.type == KL_JSON_TRUE || m.type == KL_JSON_FALSE);
            break;
        case KL_FIELD_JSON:
            CHECK(vl == m.value.len && memcmp(v, m.value.base, vl) == 0);
            break;
        }
    }
}

static void check_fields(const kl_route_def_t *d, const char *s, size_t len) {
    kl_arena_t a;
    kl_arena_init(&a, &recycler);
    const char *vals[KL_ROUTE_MAX_FIELDS];
    char msg[512];
    msg[0] = '\0';
    int r = kl_sql_body_check(&a, d, (kl_str_t){s, len}, vals, msg, sizeof(msg));
    if (r == 0) {
        check_accepted(d, s, len, vals);
    } else {
        CHECK(r == -EINVAL);
        CHECK(strncmp(msg, "body field '", 12) == 0 || strncmp(msg, "the request body ", 17) == 0);
    }
    kl_arena_reset(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so ASan sees any read past the end */
    char *s = malloc(size ? size : 1);
    if (size) memcpy(s, data, size);
    kl_json_error_t e = {0};
    int type = kl_json_validate(s, size, &e);
    if (type > 0) {
        CHECK(type >= KL_JSON_OBJECT && type <= KL_JSON_NULL);
        check_document(s, size, type);
    } else {
        CHECK(type == -EINVAL && e.reason != NULL && e.offset <= size);
        /* walking bytes that did not validate stays inside them and ends */
        kl_json_iter_t it;
        kl_json_member_t m;
        int steps = 0;
        kl_json_members(&it, s, size);
        while (kl_json_members_next(&it, &m, NULL, 0)) {
            CHECK(in(s, size, m.value) && ++steps <= (int)size);
        }
    }
    check_fields(&strict, s, size);
    check_fields(&extra, s, size);
    free(s);
    return 0;
}
