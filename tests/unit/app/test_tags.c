#include "app/tags.h"

#include <errno.h>

#include "kt.h"

/* A route with a path parameter {id}, query parameters q and v, and the given @tags. */
static kl_recycler_t rc;
static kl_arena_t a;
static kl_route_def_t d;
static const char *values[3];
static kl_tags_src_t src = {.def = &d, .values = values};

static void route(const char *tags) {
    char f[512], err[256];
    snprintf(f, sizeof(f),
             "-- @route GET /b/{id}\n-- @query q text default x\n-- @query v text default y\n-- @cache 10s\n"
             "-- @tags %s\nSELECT :id, :q, :v",
             tags);
    kl_routefile_free(&d);
    memset(&d, 0, sizeof(d));
    KT_EQ(kl_routefile_parse("t.sql", f, strlen(f), &d, err, sizeof(err)), 0);
}

static void set(const char *id, const char *q, const char *v) {
    values[d.segments[1].param] = id;
    values[d.query[0].param] = q;
    values[d.query[1].param] = v;
}

static const char *tag(size_t i) { return kl_tags_expand(&a, &src, d.tags[i]); }

static bool is_digest(const char *t) {
    if (strlen(t) != KL_TAGS_DIGEST_LEN || t[0] != '#') return false;
    for (int i = 1; i < KL_TAGS_DIGEST_LEN; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f'))) return false;
    return true;
}

static char *repeat(char c, size_t n) {
    char *s = kl_arena_alloc(&a, n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void tags_expand_parameters(void) {
    route("bounty:{id} list:{q}:x plain {id}-{v}");
    set("42", "open", "");
    KT_CHECK(!strcmp(tag(0), "bounty:42"));
    KT_CHECK(!strcmp(tag(1), "list:open:x"));
    KT_CHECK(!strcmp(tag(2), "plain"));
    KT_CHECK(!strcmp(tag(3), "42-")); /* an empty value expands to nothing */
    KT_CHECK(!strcmp(kl_tags_join(&a, &src, d.tags, d.n_tags), "bounty:42\nlist:open:x\nplain\n42-"));
    values[d.segments[1].param] = NULL; /* SQL NULL: nothing */
    KT_CHECK(!strcmp(tag(0), "bounty:"));
}

static void values_are_escaped(void) {
    route("list:{q}:x {q}");
    set("1", "in\nprogress", "");
    KT_CHECK(!strcmp(tag(0), "list:in%0Aprogress:x")); /* the separator never leaks into a tag */
    set("1", "a%b*c#d\x01" "e\x7f" "f/g h:\xc3\xa9", "");
    KT_CHECK(!strcmp(tag(0), "list:a%25b%2Ac%23d%01e%7Ff/g h:\xc3\xa9:x"));
    /* '%' itself is encoded: a value that looks encoded stays distinct from the bytes it names */
    set("1", "%2A", "");
    const char *looks = tag(1);
    KT_CHECK(!strcmp(looks, "%252A"));
    set("1", "*", "");
    KT_CHECK(strcmp(looks, tag(1)) != 0);
}

static void star_never_expands_to_evict_all(void) {
    route("{q} {q}{v}");
    const char *stars[] = {"*", "**", "\n*", "*\n", "\n*\n"};
    for (size_t i = 0; i < sizeof(stars) / sizeof(*stars); i++) {
        set("1", stars[i], "");
        for (size_t t = 0; t < d.n_tags; t++) {
            const char *x = tag(t);
            KT_CHECK(strcmp(x, "*") != 0 && strchr(x, '*') == NULL && strchr(x, KL_TAGS_SEP) == NULL);
        }
        const char *joined = kl_tags_join(&a, &src, d.tags, d.n_tags), *c = joined;
        kl_str_t t;
        size_t n = 0;
        while (kl_tags_next(&c, &t)) {
            KT_CHECK(!(t.len == 1 && t.base[0] == '*'));
            n++;
        }
        KT_EQ(n, d.n_tags); /* one tag per template, never split by a value */
    }
    set("1", "*", "");
    KT_CHECK(!strcmp(tag(0), "%2A"));
}

static void long_tags_become_digests(void) {
    route("item:{q} {q} {v}");
    /* at the limit: kept as text; one byte over: the digest */
    set("1", repeat('a', KL_TAGS_MAX - 5), repeat('b', KL_TAGS_MAX + 1));
    KT_EQ(strlen(tag(0)), KL_TAGS_MAX);
    KT_CHECK(!strncmp(tag(0), "item:aaa", 8));
    KT_CHECK(is_digest(tag(1)) == false && strlen(tag(1)) == KL_TAGS_MAX - 5);
    KT_CHECK(is_digest(tag(2)));
    /* escaping counts: 67 '*' are 201 bytes once encoded */
    set("1", repeat('*', 66), repeat('*', 67));
    KT_EQ(strlen(tag(1)), 198);
    KT_CHECK(is_digest(tag(2)));
    /* the digest is over the whole escaped tag: 128 bits of its SHA-256, here of "%2A" x 67
     * (Python: hashlib.sha256(b'%2A' * 67).hexdigest()[:32]) */
    KT_CHECK(!strcmp(tag(2), "#c154678fa5bac2434258a604023776a0"));
    /* an 8 KB value: a fixed-size tag, never anywhere near the NOTIFY limit */
    set("1", repeat('L', 8000), "");
    KT_CHECK(is_digest(tag(0)) && is_digest(tag(1)));
    KT_CHECK(strlen(kl_tags_join(&a, &src, d.tags, d.n_tags)) == 2 * KL_TAGS_DIGEST_LEN + 1 + 1);
}

static void equal_long_tags_match(void) {
    route("name:{q} name:{v} was:{q}");
    char *x = repeat('L', 5000), *y = repeat('L', 5000);
    set("1", x, y); /* other buffers, same text */
    KT_CHECK(is_digest(tag(0)));
    KT_CHECK(!strcmp(tag(0), tag(1))); /* same expansion: same digest, so @tags and @invalidates meet */
    KT_CHECK(strcmp(tag(0), tag(2)) != 0); /* another literal: another tag */
    y[4999] = 'M';
    KT_CHECK(strcmp(tag(0), tag(1)) != 0); /* one byte apart: apart */
    y[4999] = 'L';
    y[0] = 'M';
    KT_CHECK(strcmp(tag(0), tag(1)) != 0);
}

static void digest_form_cannot_be_forged(void) {
    route("{q} {v}");
    set("1", repeat('L', 300), "");
    const char *digest = kl_arena_strndup(&a, tag(0), KL_TAGS_DIGEST_LEN);
    KT_CHECK(is_digest(digest));
    set("1", repeat('L', 300), digest); /* a client sends the digest as a value */
    KT_CHECK(tag(1)[0] == '%' && strcmp(tag(1), digest) != 0);
}

static void tag_lists_iterate(void) {
    const char *list = "\nbounty:42\n\nlist:x\nplain\n", *c = list;
    kl_str_t t;
    KT_CHECK(kl_tags_next(&c, &t));
    KT_STREQ(t.base, t.len, "bounty:42");
    KT_CHECK(kl_tags_next(&c, &t)); /* empty elements are skipped */
    KT_STREQ(t.base, t.len, "list:x");
    KT_CHECK(kl_tags_next(&c, &t));
    KT_STREQ(t.base, t.len, "plain");
    KT_CHECK(!kl_tags_next(&c, &t));
    KT_CHECK(!kl_tags_next(&c, &t)); /* stays at the end */
    c = "";
    KT_CHECK(!kl_tags_next(&c, &t));
}

/* {auth.claim}: a private entry tagged per user is evicted by that user's own writes only. */
static void auth_claims(void) {
    char f[512], err[256];
    kl_route_def_t ad;
    memset(&ad, 0, sizeof(ad));
    snprintf(f, sizeof(f), "-- @route GET /me\n-- @auth required\n-- @cache 10s private\n"
                           "-- @tags wallet:{auth.sub} t:{auth.tenant}\nSELECT 1");
    KT_EQ(kl_routefile_parse("a.sql", f, strlen(f), &ad, err, sizeof(err)), 0);
    kl_jwt_claims_t c;
    memset(&c, 0, sizeof(c));
    static const char storage[] = "sub\0user-7\0role\0x*y";
    memcpy(c._storage, storage, sizeof(storage));
    c.count = 2;
    c._name[0] = 0, c._value[0] = 4, c._type[0] = KL_JWT_STRING;
    c._name[1] = 11, c._value[1] = 16, c._type[1] = KL_JWT_STRING;
    kl_tags_src_t as = {.def = &ad, .values = values, .claims = &c};
    KT_CHECK(!strcmp(kl_tags_expand(&a, &as, ad.tags[0]), "wallet:user-7"));
    KT_CHECK(!strcmp(kl_tags_expand(&a, &as, ad.tags[1]), "t:")); /* absent claim: nothing */
    as.claims = NULL; /* anonymous */
    KT_CHECK(!strcmp(kl_tags_expand(&a, &as, ad.tags[0]), "wallet:"));
    kl_routefile_free(&ad);
}

/* {body.field}: a write invalidates what its validated body names (the other side of a
 * transfer), whether or not its SQL binds that field. */
static void body_fields(void) {
    char f[512], err[256];
    kl_route_def_t bd;
    memset(&bd, 0, sizeof(bd));
    snprintf(f, sizeof(f), "-- @route POST /t\n-- @body json\n-- @field to int required\n"
                           "-- @field note text optional\n-- @invalidates user:{body.to} n:{body.note}\nSELECT :body::jsonb");
    if (kl_routefile_parse("b.sql", f, strlen(f), &bd, err, sizeof(err)) != 0) {
        fprintf(stderr, "  %s\n", err);
        KT_CHECK(0);
        return;
    }
    const char *fv[2] = {"42", NULL};
    kl_tags_src_t bs = {.def = &bd, .values = values, .fields = fv};
    KT_CHECK(!strcmp(kl_tags_expand(&a, &bs, bd.invalidates[0]), "user:42"));
    KT_CHECK(!strcmp(kl_tags_expand(&a, &bs, bd.invalidates[1]), "n:")); /* absent optional field */
    kl_routefile_free(&bd);
    snprintf(f, sizeof(f), "-- @route POST /t\n-- @body json\n-- @invalidates user:{body.to}\nSELECT :body::jsonb");
    KT_EQ(kl_routefile_parse("b.sql", f, strlen(f), &bd, err, sizeof(err)), -EINVAL);
    KT_CHECK(!strcmp(err, "b.sql:3: @invalidates tag 'user:{body.to}' uses {body.to}: no such @field"));
}

int main(void) {
    kl_recycler_init(&rc, 4096, 1);
    kl_arena_init(&a, &rc);
    KT_RUN(tags_expand_parameters);
    KT_RUN(values_are_escaped);
    KT_RUN(star_never_expands_to_evict_all);
    KT_RUN(long_tags_become_digests);
    KT_RUN(equal_long_tags_match);
    KT_RUN(digest_form_cannot_be_forged);
    KT_RUN(tag_lists_iterate);
    KT_RUN(auth_claims);
    KT_RUN(body_fields);
    kl_routefile_free(&d);
    kl_arena_reset(&a);
    kl_recycler_destroy(&rc);
    return KT_DONE();
}
