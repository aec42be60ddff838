/* test_routefile.c - the route-file parser: every annotation form, every error class, the
 * SQL rewriting edge cases, the example application's routes and the test fixtures.
 * Inputs end at a PROT_NONE page (kt_guard_copy). Runs with cwd = the repository root. */
#include <errno.h>
#include <stdint.h>

#include "app/routefile.h"
#include "kt.h"

static char err[512];

/* Parses text (ending at a guard page) as file "t.sql"; returns the parser's result. */
static int parse(const char *text, kl_route_def_t *d) {
    size_t len = strlen(text);
    char *g = kt_guard_copy(text, len);
    int r = kl_routefile_parse("t.sql", g, len, d, err, sizeof(err));
    kt_guard_free(g, len);
    return r;
}

#define PARSE_OK(text, d)                                                                      \
    do {                                                                                       \
        int r_ = parse((text), (d));                                                           \
        if (r_ != 0) fprintf(stderr, "  unexpected error: %s\n", err);                         \
        KT_EQ(r_, 0);                                                                          \
    } while (0)

/* Expects -EINVAL with err starting "t.sql:LINE: " and containing want. */
#define PARSE_ERR(text, line, want)                                                            \
    do {                                                                                       \
        kl_route_def_t d_;                                                                     \
        char pre_[32];                                                                         \
        int r_ = parse((text), &d_);                                                           \
        snprintf(pre_, sizeof(pre_), "t.sql:%d: ", (line));                                     \
        KT_EQ(r_, -EINVAL);                                                                    \
        if (strncmp(err, pre_, strlen(pre_)) != 0 || strstr(err, (want)) == NULL) {            \
            fprintf(stderr, "  %s:%d: got \"%s\", want \"%s...%s\"\n", __FILE__, __LINE__, err, \
                    pre_, (want));                                                             \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
        KT_CHECK(d_.sql == NULL && d_._mem == NULL);                                           \
        if (r_ == 0) kl_routefile_free(&d_);                                                   \
    } while (0)

#define SQL_IS(d, want) KT_STREQ((d).sql, (d).sql_len, (want))

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Parses a file of the repository; NULL (and a failed check) when it cannot. */
static int parse_file(const char *path, kl_route_def_t *d) {
    size_t len;
    char *text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "  cannot read %s (run from the repository root)\n", path);
        kt_failed_checks_++;
        memset(d, 0, sizeof(*d));
        return -ENOENT;
    }
    char *g = kt_guard_copy(text, len);
    int r = kl_routefile_parse(path, g, len, d, err, sizeof(err));
    kt_guard_free(g, len);
    free(text);
    return r;
}

/* ---- the basics ------------------------------------------------------------------- */

static void test_minimal(void) {
    kl_route_def_t d;
    PARSE_OK("-- @primary\n-- @route GET /ping\nSELECT 1", &d); /* before @route: checked after */
    KT_CHECK(d.primary);
    kl_routefile_free(&d);
    PARSE_OK("-- @route GET /ping\nSELECT 1", &d);
    KT_CHECK(!d.primary);
    KT_EQ(d.method, KL_ROUTE_GET);
    KT_CHECK(strcmp(d.method_name, "GET") == 0);
    KT_CHECK(strcmp(d.path, "/ping") == 0);
    KT_CHECK(strcmp(d.file, "t.sql") == 0);
    KT_EQ(d.n_segments, 1);
    KT_CHECK(strcmp(d.segments[0].literal, "ping") == 0 && d.segments[0].name == NULL);
    KT_EQ(d.segments[0].param, -1);
    SQL_IS(d, "SELECT 1");
    KT_EQ(d.sql_line, 2);
    KT_EQ(d.n_params, 0);
    KT_EQ(d.returns, KL_ROUTE_RETURNS_ONE);
    KT_EQ(d.status, 200);
    KT_EQ(d.auth, KL_ROUTE_AUTH_NONE);
    KT_EQ(d.cache_ms, 0);
    KT_EQ(d.rate_count, 0);
    KT_EQ(d.timeout_ms, 0);
    KT_CHECK(!d.has_body);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_ROUTE], 1);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_CACHE], 0);
    kl_routefile_free(&d);
    KT_CHECK(d._mem == NULL && d.sql == NULL);
    kl_routefile_free(&d); /* twice is fine */

    PARSE_OK("-- @route DELETE /\nSELECT 1;\n", &d);
    KT_EQ(d.method, KL_ROUTE_DELETE);
    KT_EQ(d.n_segments, 0);
    SQL_IS(d, "SELECT 1");
    kl_routefile_free(&d);

    /* annotations may follow the SQL, with tabs, CRLF line ends and a BOM */
    PARSE_OK("\xEF\xBB\xBFSELECT 1;\r\n--\t@route\tPATCH\t/a\r\n--@returns none\r\n", &d);
    KT_EQ(d.method, KL_ROUTE_PATCH);
    KT_EQ(d.returns, KL_ROUTE_RETURNS_NONE);
    KT_EQ(d.status, 204);
    SQL_IS(d, "SELECT 1");
    KT_EQ(d.ann_line[KL_ROUTE_ANN_ROUTE], 2);
    kl_routefile_free(&d);
}

static void test_path_params(void) {
    kl_route_def_t d;
    PARSE_OK("-- @route GET /api/x/{id:int}/y/{slug}/{u:uuid}/z-1.b~c\n"
             "SELECT f(:u::uuid, :id::bigint, :slug, :id)",
             &d);
    KT_EQ(d.n_segments, 7);
    KT_CHECK(strcmp(d.segments[0].literal, "api") == 0);
    KT_CHECK(strcmp(d.segments[2].name, "id") == 0 && d.segments[2].literal == NULL);
    KT_EQ(d.segments[2].type, KL_ROUTE_INT);
    KT_CHECK(strcmp(d.segments[4].name, "slug") == 0);
    KT_EQ(d.segments[4].type, KL_ROUTE_TEXT);
    KT_EQ(d.segments[5].type, KL_ROUTE_UUID);
    KT_CHECK(strcmp(d.segments[6].literal, "z-1.b~c") == 0);
    SQL_IS(d, "SELECT f($1::uuid, $2::bigint, $3, $2)");
    KT_EQ(d.n_params, 3);
    KT_EQ(d.params[0].source, KL_ROUTE_FROM_PATH);
    KT_CHECK(strcmp(d.params[0].name, "u") == 0);
    KT_EQ(d.params[0].type, KL_ROUTE_UUID);
    KT_EQ(d.params[0].index, 5);
    KT_EQ(d.params[1].index, 2);
    KT_EQ(d.params[1].type, KL_ROUTE_INT);
    KT_EQ(d.params[2].index, 4);
    KT_EQ(d.segments[5].param, 0);
    KT_EQ(d.segments[2].param, 1);
    KT_EQ(d.segments[4].param, 2);
    KT_EQ(d.params[0].line, 2);
    kl_routefile_free(&d);
}

static void test_query_forms(void) {
    kl_route_def_t d;
    PARSE_OK("-- @route GET /q\n"
             "-- @query status text default open one-of open|in_progress|completed\n"
             "-- @query limit int default 20 min 1 max 100\n"
             "-- @query q text min 1 max 200\n"
             "-- @query before int default -5 min -10\n"
             "-- @query flag bool default false\n"
             "-- @query who uuid default 123e4567-E89B-12d3-a456-426614174000\n"
             "-- @query note text default \"two words\"\n"
             "-- @query empty text default \"\"\n"
             "-- @query size int one-of 10|20|50\n"
             "SELECT :status, :limit, :q, :before, :flag, :who, :note, :empty, :size",
             &d);
    KT_EQ(d.n_query, 9);
    const kl_route_query_t *q = d.query;
    KT_CHECK(strcmp(q[0].name, "status") == 0 && q[0].type == KL_ROUTE_TEXT);
    KT_CHECK(strcmp(q[0].default_value, "open") == 0);
    KT_EQ(q[0].n_one_of, 3);
    KT_CHECK(strcmp(q[0].one_of[0], "open") == 0 && strcmp(q[0].one_of[2], "completed") == 0);
    KT_EQ(q[0].line, 2);
    KT_CHECK(q[1].type == KL_ROUTE_INT && q[1].has_min && q[1].has_max);
    KT_EQ(q[1].min, 1);
    KT_EQ(q[1].max, 100);
    KT_CHECK(q[2].default_value == NULL); /* required */
    KT_CHECK(q[2].has_min && q[2].min == 1 && q[2].max == 200);
    KT_EQ(q[3].min, -10);
    KT_CHECK(!q[3].has_max);
    KT_CHECK(strcmp(q[3].default_value, "-5") == 0);
    KT_CHECK(q[4].type == KL_ROUTE_BOOL && strcmp(q[4].default_value, "false") == 0);
    KT_EQ(q[5].type, KL_ROUTE_UUID);
    KT_CHECK(strcmp(q[6].default_value, "two words") == 0);
    KT_CHECK(strcmp(q[7].default_value, "") == 0);
    KT_EQ(q[8].n_one_of, 3);
    KT_CHECK(q[8].default_value == NULL && q[1].one_of == NULL);
    KT_EQ(d.n_params, 9);
    for (size_t i = 0; i < 9; i++) {
        KT_EQ(d.params[i].source, KL_ROUTE_FROM_QUERY);
        KT_EQ(d.params[i].index, (int)i);
        KT_EQ(d.query[i].param, (int)i);
        KT_EQ(d.params[i].type, d.query[i].type);
    }
    SQL_IS(d, "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9");
    KT_EQ(d.ann_line[KL_ROUTE_ANN_QUERY], 2);
    kl_routefile_free(&d);
}

static void test_all_annotations(void) {
    kl_route_def_t d;
    PARSE_OK("-- @route   GET /api/things/{id:int}\n"
             "-- @query   v text default x\n"
             "-- @auth    optional\n"
             "-- @returns many status 206\n"
             "-- @cache   180s private swr 30s\n"
             "-- @tags    thing:{id} things user:{auth.sub}\n"
             "-- @tags    v:{v}\n"
             "-- @invalidates nothing:{id}\n"
             "-- @rate    20/min\n"
             "-- @timeout 500ms\n"
             "SELECT f(:id::bigint, :v, :auth.sub, :auth.role, :auth.sub)\n",
             &d);
    KT_EQ(d.auth, KL_ROUTE_AUTH_OPTIONAL);
    KT_EQ(d.returns, KL_ROUTE_RETURNS_MANY);
    KT_EQ(d.status, 206);
    KT_EQ(d.cache_ms, 180000);
    KT_CHECK(d.cache_private);
    KT_EQ(d.swr_ms, 30000);
    KT_EQ(d.n_tags, 4);
    KT_CHECK(strcmp(d.tags[0], "thing:{id}") == 0 && strcmp(d.tags[2], "user:{auth.sub}") == 0);
    KT_CHECK(strcmp(d.tags[3], "v:{v}") == 0);
    KT_EQ(d.n_invalidates, 1);
    KT_EQ(d.rate_count, 20);
    KT_EQ(d.rate_period_ms, 60000);
    KT_EQ(d.rate_burst, 0);
    KT_EQ(d.rate_per, KL_ROUTE_RATE_DEFAULT);
    KT_CHECK(d.rate_claim == NULL);
    KT_EQ(d.timeout_ms, 500);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_TAGS], 6);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_INVALIDATES], 8);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_TIMEOUT], 10);
    SQL_IS(d, "SELECT f($1::bigint, $2, $3, $4, $3)");
    KT_EQ(d.n_params, 4);
    KT_EQ(d.params[2].source, KL_ROUTE_FROM_AUTH);
    KT_CHECK(strcmp(d.params[2].name, "sub") == 0);
    KT_EQ(d.params[2].type, KL_ROUTE_TEXT);
    KT_CHECK(strcmp(d.params[3].name, "role") == 0);
    KT_EQ(d.params[2].index, -1);
    kl_routefile_free(&d);

    PARSE_OK("-- @route POST /api/things\n"
             "-- @body json max 64k\n"
             "-- @auth required\n"
             "-- @returns one status 201\n"
             "-- @invalidates things owner:{auth.sub}\n"
             "-- @rate 5/sec\n"
             "-- @timeout 2s\n"
             "SELECT thing_create(:auth.sub, :body::jsonb)",
             &d);
    KT_EQ(d.method, KL_ROUTE_POST);
    KT_CHECK(d.has_body);
    KT_EQ(d.body_max, 65536);
    KT_EQ(d.auth, KL_ROUTE_AUTH_REQUIRED);
    KT_EQ(d.status, 201);
    KT_EQ(d.n_invalidates, 2);
    KT_EQ(d.rate_period_ms, 1000);
    KT_EQ(d.timeout_ms, 2000);
    KT_EQ(d.params[1].source, KL_ROUTE_FROM_BODY);
    KT_EQ(d.params[1].type, KL_ROUTE_JSON);
    KT_CHECK(strcmp(d.params[1].name, "body") == 0);
    SQL_IS(d, "SELECT thing_create($1, $2::jsonb)");
    kl_routefile_free(&d);

    /* @rate's options, in either order */
    PARSE_OK("-- @route GET /x\n-- @auth optional\n-- @rate 100/hour per claim.org_id burst 10\nSELECT 1", &d);
    KT_EQ(d.rate_count, 100);
    KT_EQ(d.rate_period_ms, 3600000);
    KT_EQ(d.rate_burst, 10);
    KT_EQ(d.rate_per, KL_ROUTE_RATE_CLAIM);
    KT_CHECK(d.rate_claim != NULL && strcmp(d.rate_claim, "org_id") == 0);
    kl_routefile_free(&d);
    PARSE_OK("-- @route GET /x\n-- @rate 20/min burst 5 per ip\nSELECT 1", &d);
    KT_EQ(d.rate_burst, 5);
    KT_EQ(d.rate_per, KL_ROUTE_RATE_IP);
    kl_routefile_free(&d);
    PARSE_OK("-- @route GET /x\n-- @auth required\n-- @rate 1000000/s per sub\nSELECT 1", &d);
    KT_EQ(d.rate_count, 1000000);
    KT_EQ(d.rate_per, KL_ROUTE_RATE_SUB);
    kl_routefile_free(&d);

    /* the other spellings of sizes, durations and periods */
    static const struct {
        const char *ann;
        uint64_t v;
    } forms[] = {
        {"-- @body json max 1m\n", 1048576}, {"-- @body json max 100\n", 100},
        {"-- @body json\n", 0},              {"-- @timeout 5m\n", 300000},
        {"-- @timeout 1h\n", 3600000},       {"-- @rate 100/hour\n", 3600000},
        {"-- @rate 7/s\n", 1000},            {"-- @rate 7/m\n", 60000},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char text[256];
        bool body = strstr(forms[i].ann, "@body") != NULL;
        snprintf(text, sizeof(text), "-- @route PUT /x\n%sSELECT %s", forms[i].ann, body ? ":body" : "1");
        PARSE_OK(text, &d);
        uint64_t got = body ? d.body_max : strstr(forms[i].ann, "@rate") ? d.rate_period_ms : d.timeout_ms;
        if (got != forms[i].v) fprintf(stderr, "  form %zu: %s", i, forms[i].ann);
        KT_EQ(got, forms[i].v);
        kl_routefile_free(&d);
    }
}

/* ---- the SQL rewriting ------------------------------------------------------------ */

/* Rewrites sql under decl (annotations), expecting want and nparams distinct parameters. */
static void rewrite_decl(const char *decl, const char *sql, const char *want, size_t nparams) {
    char text[2048];
    kl_route_def_t d;
    snprintf(text, sizeof(text), "%s%s", decl, sql);
    int r = parse(text, &d);
    if (r != 0) fprintf(stderr, "  %s: %s\n", sql, err);
    KT_EQ(r, 0);
    if (r != 0) return;
    KT_STREQ(d.sql, d.sql_len, want);
    KT_EQ(d.n_params, nparams);
    kl_routefile_free(&d);
}

/* :a is a path parameter; :auth.<anything> may be used or not */
static void rewrite(const char *sql, const char *want, size_t nparams) {
    rewrite_decl("-- @route POST /r/{a}\n-- @auth required\n", sql, want, nparams);
}

static void test_rewrite_literals(void) {
    rewrite("SELECT :a, ':b', :auth.b", "SELECT $1, ':b', $2", 2);
    rewrite("SELECT 'it''s :b', :a", "SELECT 'it''s :b', $1", 1);
    rewrite("SELECT E'\\' :b', :a", "SELECT E'\\' :b', $1", 1); /* E'...' escapes with \ */
    rewrite("SELECT e'x\\\\', :a", "SELECT e'x\\\\', $1", 1);
    rewrite("SELECT '\\', :a", "SELECT '\\', $1", 1); /* standard strings: \ is a character */
    rewrite("SELECT U&'\\0041 :b', B'01', X'ff', :a", "SELECT U&'\\0041 :b', B'01', X'ff', $1", 1);
    rewrite("SELECT \":b\", \"x\"\":b\", :a", "SELECT \":b\", \"x\"\":b\", $1", 1);
    rewrite("SELECT 'multi\n:b\nline', :a", "SELECT 'multi\n:b\nline', $1", 1);
    rewrite("SELECT :a::bigint, x::text, :auth.b::int[]", "SELECT $1::bigint, x::text, $2::int[]", 2);
    rewrite("SELECT :a + :auth.b + :a * :a", "SELECT $1 + $2 + $1 * $1", 2);
    rewrite("SELECT arr[1 : 2], :a", "SELECT arr[1 : 2], $1", 1);
    rewrite_decl("-- @route POST /r\n-- @body json\n-- @auth required\n",
                 "SELECT :body::jsonb->>'x', :auth.sub, :auth.sub_2", "SELECT $1::jsonb->>'x', $2, $3", 3);
    rewrite_decl("-- @route GET /r\n-- @query q text\n", "SELECT :q, ':q' || :q", "SELECT $1, ':q' || $1", 1);
}

static void test_rewrite_comments(void) {
    rewrite("SELECT :a -- :b here\n, 1", "SELECT $1 \n, 1", 1);
    rewrite("SELECT /* :b /* nested :b */ still :b */ :a", "SELECT   $1", 1);
    rewrite("SELECT/**/:a", "SELECT $1", 1);
    rewrite("SELECT /* two\nlines */ :a", "SELECT  \n $1", 1); /* the newline stays */
    rewrite("SELECT :a; -- a trailing comment\n/* and a block */\n", "SELECT $1", 1);
    rewrite("SELECT :a;\n-- @returns one\n", "SELECT $1", 1); /* annotations after ';' */
    rewrite("SELECT 1 - -:a", "SELECT 1 - -$1", 1);
}

static void test_rewrite_dollar(void) {
    rewrite("SELECT $$ :b $$, :a", "SELECT $$ :b $$, $1", 1);
    rewrite("SELECT $fn$ :b $$ :b $$ ; $fn$, :a", "SELECT $fn$ :b $$ :b $$ ; $fn$, $1", 1);
    rewrite("SELECT $a$x$b$y$a$||:a", "SELECT $a$x$b$y$a$||$1", 1);
    rewrite("SELECT a$b, c$$, :a", "SELECT a$b, c$$, $1", 1); /* '$' inside identifiers */
    rewrite("SELECT $_1$ ; $_1$, :a", "SELECT $_1$ ; $_1$, $1", 1);
    rewrite("SELECT $ :a", "SELECT $ $1", 1);
    rewrite("SELECT ';', :a", "SELECT ';', $1", 1);
}

static void test_sql_lines(void) {
    kl_route_def_t d;
    PARSE_OK("-- a description\n"         /* 1 */
             "-- @route GET /x/{id:int}\n" /* 2 */
             "\n"                          /* 3 */
             "SELECT 'é' ||\n"             /* 4: é is one character, two bytes */
             "  /* c\n"                    /* 5 */
             "  */ x\n"                    /* 6 */
             "FROM nope WHERE id = :id::bigint;\n", /* 7 */
             &d);
    KT_EQ(d.sql_line, 4);
    SQL_IS(d, "SELECT 'é' ||\n   \n x\nFROM nope WHERE id = $1::bigint");
    KT_EQ(kl_routefile_sql_line(&d, 1), 4);
    KT_EQ(kl_routefile_sql_line(&d, 13), 4); /* the last '|' */
    KT_EQ(kl_routefile_sql_line(&d, 14), 4); /* its newline */
    KT_EQ(kl_routefile_sql_line(&d, 15), 5);
    KT_EQ(kl_routefile_sql_line(&d, 20), 6); /* "x" */
    KT_EQ(kl_routefile_sql_line(&d, 27), 7); /* "nope" */
    KT_EQ(kl_routefile_sql_line(&d, 0), 4);
    KT_EQ(kl_routefile_sql_line(&d, -3), 4);
    KT_EQ(kl_routefile_sql_line(&d, 100000), 7);
    KT_EQ(d.params[0].line, 7);
    kl_routefile_free(&d);
}


/* ---- body fields and @location ------------------------------------------------------ */

static void test_fields(void) {
    kl_route_def_t d;
    PARSE_OK("-- @route POST /api/bounties\n"
             "-- @body json max 16k allow-extra\n"
             "-- @field title text required minlen 1 maxlen 200\n"
             "-- @field amount_cents bigint required min 1 max 100000000\n"
             "-- @field location text optional maxlen 200\n"
             "-- @field status text optional one-of open|in_progress\n"
             "-- @field n int optional min -5\n"
             "-- @field ok bool optional\n"
             "-- @field price numeric required max 1000\n"
             "-- @field ref uuid optional\n"
             "-- @field due timestamptz optional\n"
             "-- @field meta json optional\n"
             "-- @returns one status 201\n"
             "-- @location /api/bounties/{id}\n"
             "SELECT f(:body.title, :body.amount_cents::bigint, :body.location, :body.title, :body.status,\n"
             "         :body.n, :body.ok, :body.price, :body.ref, :body.due, :body.meta::jsonb)",
             &d);
    KT_CHECK(d.has_body && d.body_allow_extra);
    KT_EQ(d.body_max, 16384);
    KT_EQ(d.n_fields, 10);
    const kl_route_field_t *f = d.fields;
    KT_CHECK(strcmp(f[0].name, "title") == 0 && f[0].type == KL_FIELD_TEXT && f[0].required);
    KT_EQ(f[0].minlen, 1);
    KT_EQ(f[0].maxlen, 200);
    KT_CHECK(!f[0].has_min && !f[0].has_max);
    KT_EQ(f[0].line, 3);
    KT_CHECK(f[1].type == KL_FIELD_BIGINT && f[1].has_min && f[1].min == 1 && f[1].has_max && f[1].max == 100000000);
    KT_CHECK(!f[2].required && f[2].maxlen == 200 && f[2].minlen == -1);
    KT_EQ(f[3].n_one_of, 2);
    KT_CHECK(strcmp(f[3].one_of[0], "open") == 0 && strcmp(f[3].one_of[1], "in_progress") == 0);
    KT_CHECK(f[4].type == KL_FIELD_INT && f[4].has_min && f[4].min == -5 && !f[4].has_max);
    KT_EQ(f[5].type, KL_FIELD_BOOL);
    KT_CHECK(f[6].type == KL_FIELD_NUMERIC && f[6].has_max && f[6].max == 1000 && f[6].required);
    KT_EQ(f[7].type, KL_FIELD_UUID);
    KT_EQ(f[8].type, KL_FIELD_TIMESTAMPTZ);
    KT_EQ(f[9].type, KL_FIELD_JSON);
    KT_CHECK(strcmp(d.location, "/api/bounties/{id}") == 0);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_FIELD], 3);
    KT_EQ(d.ann_line[KL_ROUTE_ANN_LOCATION], 14);
    /* :body.title twice is one parameter; each field points at its $n and back */
    SQL_IS(d, "SELECT f($1, $2::bigint, $3, $1, $4,\n         $5, $6, $7, $8, $9, $10::jsonb)");
    KT_EQ(d.n_params, 10);
    for (size_t k = 0; k < d.n_fields; k++) {
        KT_CHECK(d.fields[k].param >= 0 && (size_t)d.fields[k].param < d.n_params);
        const kl_route_param_t *pa = &d.params[d.fields[k].param];
        KT_EQ(pa->source, KL_ROUTE_FROM_FIELD);
        KT_EQ(pa->index, (int)k);
        KT_CHECK(strcmp(pa->name, d.fields[k].name) == 0);
    }
    kl_routefile_free(&d);

    /* fields that only validate what the SQL reads from the whole body */
    PARSE_OK("-- @route PUT /x\n-- @body json\n-- @field a int required\n-- @field b text optional\n"
             "SELECT (:body::jsonb)->>'a'",
             &d);
    KT_EQ(d.n_fields, 2);
    KT_EQ(d.fields[0].param, -1);
    KT_EQ(d.fields[1].param, -1);
    KT_EQ(d.n_params, 1);
    kl_routefile_free(&d);

    /* both :body and fields; the options in any order; @returns none with a body */
    PARSE_OK("-- @route PATCH /x/{id:int}\n-- @body json allow-extra max 1k\n"
             "-- @field t text maxlen 3 optional one-of ab|c\n-- @returns none\n"
             "SELECT g(:id::bigint, :body.t, :body::jsonb)",
             &d);
    KT_CHECK(d.body_allow_extra && d.body_max == 1024);
    KT_CHECK(!d.fields[0].required && d.fields[0].maxlen == 3 && d.fields[0].n_one_of == 2);
    KT_EQ(d.params[1].source, KL_ROUTE_FROM_FIELD);
    KT_EQ(d.params[2].source, KL_ROUTE_FROM_BODY);
    KT_EQ(d.status, 204);
    KT_CHECK(d.location == NULL);
    kl_routefile_free(&d);

    /* a quoted one-of value may hold spaces; a length counts characters, not bytes */
    PARSE_OK("-- @route POST /x\n-- @body json\n-- @field s text required maxlen 3 one-of \"\xc3\xa9\xc3\xa9|a b\"\n"
             "SELECT :body.s",
             &d);
    KT_EQ(d.fields[0].n_one_of, 2);
    KT_CHECK(strcmp(d.fields[0].one_of[1], "a b") == 0);
    kl_routefile_free(&d);

    /* int bounds at the edges of int32; bigint at int64's */
    PARSE_OK("-- @route POST /x\n-- @body json\n-- @field a int required min -2147483648 max 2147483647\n"
             "-- @field b bigint required min -9223372036854775808 max 9223372036854775807\n"
             "SELECT :body.a, :body.b",
             &d);
    KT_EQ(d.fields[0].min, INT32_MIN);
    KT_EQ(d.fields[1].min, INT64_MIN);
    kl_routefile_free(&d);
    /* annotations may follow each other (and the SQL) in any order */
    PARSE_OK("SELECT :body.a\n-- @field a int required\n-- @body json\n-- @route POST /a\n", &d);
    KT_EQ(d.fields[0].param, 0);
    kl_routefile_free(&d);
    KT_CHECK(strcmp(kl_routefile_field_type_name(KL_FIELD_TIMESTAMPTZ), "timestamptz") == 0);
    KT_CHECK(strcmp(kl_routefile_ann_name(KL_ROUTE_ANN_FIELD), "@field") == 0);
}

static void test_err_fields(void) {
#define B "-- @route POST /a\n-- @body json\n"
    PARSE_ERR(B "-- @field\nSELECT :body", 3, "@field needs a name, a type and required or optional");
    PARSE_ERR(B "-- @field a\nSELECT :body", 3, "@field needs a name, a type and required or optional");
    PARSE_ERR(B "-- @field 1a int required\nSELECT :body", 3, "invalid @field name '1a' (letters, digits and _)");
    PARSE_ERR(B "-- @field a-b int required\nSELECT :body", 3, "invalid @field name 'a-b'");
    PARSE_ERR(B "-- @field a234567890123456789012345678901234567890123456789012345678901234 int required\n"
                "SELECT :body",
              3, "is longer than 63 characters");
    PARSE_ERR(B "-- @field a int required\n-- @field a text optional\nSELECT :body", 4,
              "duplicate @field a (first at line 3)");
    PARSE_ERR(B "-- @field a integer required\nSELECT :body", 3,
              "unknown type 'integer' for @field a (text, int, bigint, bool, numeric, uuid, timestamptz or json)");
    PARSE_ERR(B "-- @field a int\nSELECT :body", 3, "@field a needs required or optional");
    PARSE_ERR(B "-- @field a int max 5\nSELECT :body", 3, "@field a needs required or optional");
    PARSE_ERR(B "-- @field a int required optional\nSELECT :body", 3, "@field a is either required or optional, once");
    PARSE_ERR(B "-- @field a int required required\nSELECT :body", 3, "either required or optional");
    PARSE_ERR(B "-- @field a int required default 1\nSELECT :body", 3,
              "unknown @field option 'default' (required, optional, min, max, minlen, maxlen or one-of)");
    PARSE_ERR(B "-- @field a int required min\nSELECT :body", 3, "@field option min needs a value");
    PARSE_ERR(B "-- @field a int required min 1 min 2\nSELECT :body", 3, "@field option min given twice");
    PARSE_ERR(B "-- @field a text required maxlen 1 maxlen 2\nSELECT :body", 3, "@field option maxlen given twice");
    PARSE_ERR(B "-- @field a text required one-of x one-of y\nSELECT :body", 3, "@field option one-of given twice");
    PARSE_ERR(B "-- @field a text required max 5\nSELECT :body", 3,
              "min/max apply to int, bigint and numeric fields, not text (use minlen/maxlen)");
    PARSE_ERR(B "-- @field a bool required min 0\nSELECT :body", 3,
              "min/max apply to int, bigint and numeric fields, not bool");
    PARSE_ERR(B "-- @field a int required maxlen 5\nSELECT :body", 3, "minlen/maxlen apply to text fields, not int");
    PARSE_ERR(B "-- @field a uuid required one-of x|y\nSELECT :body", 3, "one-of applies to text fields, not uuid");
    PARSE_ERR(B "-- @field a int required min x\nSELECT :body", 3, "bad number 'x' for min");
    PARSE_ERR(B "-- @field a int required max 2147483648\nSELECT :body", 3,
              "bad number '2147483648' for max (an int holds -2147483648 to 2147483647)");
    PARSE_ERR(B "-- @field a int required min -2147483649\nSELECT :body", 3, "bad number '-2147483649' for min");
    PARSE_ERR(B "-- @field a bigint required max 9223372036854775808\nSELECT :body", 3, "bad number");
    PARSE_ERR(B "-- @field a numeric required min 0.5\nSELECT :body", 3, "bad number '0.5' for min");
    PARSE_ERR(B "-- @field a text required maxlen -1\nSELECT :body", 3, "bad number '-1' for maxlen");
    PARSE_ERR(B "-- @field a int required min 5 max 1\nSELECT :body", 3, "min 5 is greater than max 1");
    PARSE_ERR(B "-- @field a text required minlen 5 maxlen 1\nSELECT :body", 3, "minlen 5 is greater than maxlen 1");
    PARSE_ERR(B "-- @field a text required one-of x||y\nSELECT :body", 3, "one-of has an empty value");
    PARSE_ERR(B "-- @field a text required maxlen 2 one-of ab|abc\nSELECT :body", 3,
              "one-of value 'abc' has a length outside minlen/maxlen");
    PARSE_ERR(B "-- @field a text required minlen 2 one-of a|ab\nSELECT :body", 3,
              "one-of value 'a' has a length outside minlen/maxlen");
    PARSE_ERR(B "-- @field s text required one-of "
                "a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|aa|bb|cc|dd|ee|ff|gg\nSELECT :body",
              3, "one-of has more than 32 values");
    /* whole-file rules */
    PARSE_ERR("-- @route POST /a\n-- @field a int required\nSELECT 1", 2, "@field needs @body json");
    PARSE_ERR("-- @route POST /a\nSELECT :body.a", 2, ":body.a is used but the route has no @body json");
    PARSE_ERR(B "-- @field a int required\nSELECT :body.a, :body.b", 4,
              "parameter :body.b is not declared (no @field b)");
    PARSE_ERR(B "-- @field a int required\n-- @field b int optional\nSELECT :body.a", 4,
              "@field b is not used in the SQL (bind it as :body.b, or use :body)");
    PARSE_ERR("-- @route POST /a\n-- @body json allow-extra\nSELECT :body", 2,
              "@body allow-extra needs @field lines (without them no member is checked)");
    PARSE_ERR(B "-- @field a int required\n-- @field b int optional\n-- @field c int optional\n"
                "-- @field d int optional\nSELECT :body.a, :body.b, :body.c",
              6, "@field d is not used in the SQL");
    /* 33 fields */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), B);
    for (int i = 0; i < 33; i++) n += (size_t)snprintf(text + n, sizeof(text) - n, "-- @field f%d int optional\n", i);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "SELECT :body");
    KT_CHECK(n < sizeof(text));
    PARSE_ERR(text, 35, "more than 32 @field lines");
    /* @body's own words */
    PARSE_ERR("-- @route POST /a\n-- @body json allow-extra allow-extra\nSELECT :body", 2,
              "unexpected 'allow-extra' after @body");
    PARSE_ERR("-- @route POST /a\n-- @body json max 1k max 2k\nSELECT :body", 2, "unexpected 'max' after @body");
    PARSE_ERR("-- @route POST /a\n-- @body json extra\nSELECT :body", 2, "unexpected 'extra' after @body");
    PARSE_ERR("-- @route POST /a\n-- @body json allow-extra max\nSELECT :body", 2, "bad size '' for @body max");
#undef B
}

static void test_err_location(void) {
    PARSE_ERR("-- @route POST /a\n-- @location\nSELECT 1", 2,
              "@location needs a path template: @location /api/things/{id}");
    PARSE_ERR("-- @route POST /a\n-- @location /a/{id} /b\nSELECT 1", 2, "unexpected '/b' after @location");
    PARSE_ERR("-- @route POST /a\n-- @location a/{id}\nSELECT 1", 2, "@location 'a/{id}' must start with '/'");
    PARSE_ERR("-- @route POST /a\n-- @location \"\"\nSELECT 1", 2, "@location '' must start with '/'");
    PARSE_ERR("-- @route POST /a\n-- @location /a/{id\nSELECT 1", 2,
              "malformed reference in @location '/a/{id': write {member}");
    PARSE_ERR("-- @route POST /a\n-- @location /a/{}\nSELECT 1", 2, "malformed reference in @location");
    PARSE_ERR("-- @route POST /a\n-- @location /a/{x.y}\nSELECT 1", 2, "malformed reference in @location");
    PARSE_ERR("-- @route POST /a\n-- @location /a?x={id}\nSELECT 1", 2, "invalid character '?' in @location '/a?x={id}'");
    PARSE_ERR("-- @route POST /a\n-- @location /a/}\nSELECT 1", 2, "invalid character '}'");
    PARSE_ERR("-- @route POST /a\n-- @location /a\n-- @location /b\nSELECT 1", 3, "duplicate @location (first at line 2)");
    PARSE_ERR("-- @route POST /a\n-- @returns many status 201\n-- @location /a/{id}\nSELECT 1", 3,
              "@location needs @returns one (its {member}s come from the returned object)");
    PARSE_ERR("-- @route DELETE /a\n-- @location /a/{id}\n-- @returns none\nSELECT 1", 2, "@location needs @returns one");
    PARSE_ERR("-- @route GET /a\n-- @location /a/{id}\nSELECT 1", 2,
              "@location applies to POST, PUT, PATCH and DELETE routes");
    kl_route_def_t d;
    PARSE_OK("-- @route PUT /a\n-- @location /static/path.x-y~z\nSELECT 1", &d);
    KT_CHECK(strcmp(d.location, "/static/path.x-y~z") == 0);
    kl_routefile_free(&d);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_err_annotations(void) {
    PARSE_ERR("-- @route GET /x\n-- @cahce 60s\nSELECT 1", 2, "unknown annotation '@cahce'");
    PARSE_ERR("-- @route GET /x\n-- @\nSELECT 1", 2, "unknown annotation '@'");
    PARSE_ERR("-- @Route GET /x\nSELECT 1", 1, "unknown annotation '@Route'");
    PARSE_ERR("SELECT 1", 1, "no @route annotation");
    PARSE_ERR("-- just a comment\nSELECT 1", 1, "no @route");
    PARSE_ERR("-- @route GET /x\n-- @route GET /y\nSELECT 1", 2, "duplicate @route (first at line 1)");
    PARSE_ERR("-- @route GET /x\n-- @cache 1s\n-- @cache 2s\nSELECT 1", 3, "duplicate @cache (first at line 2)");
    PARSE_ERR("-- @route GET /x\n-- @auth required\n-- @auth optional\nSELECT 1", 3, "duplicate @auth");
    PARSE_ERR("-- @route GET /x\n-- @returns one\n-- @returns many\nSELECT 1", 3, "duplicate @returns");
    PARSE_ERR("-- @route GET /x\n-- @rate 1/s\n-- @rate 2/s\nSELECT 1", 3, "duplicate @rate");
    PARSE_ERR("-- @route GET /x\n-- @timeout 1s\n-- @timeout 1s\nSELECT 1", 3, "duplicate @timeout");
    PARSE_ERR("-- @route POST /x\n-- @primary\nSELECT 1", 2, "@primary applies to GET routes only");
    PARSE_ERR("-- @route GET /x\n-- @primary always\nSELECT 1", 2, "unexpected 'always' after @primary");
    PARSE_ERR("-- @route PUT /x\n-- @body json\n-- @body json\nSELECT :body", 3, "duplicate @body");
    PARSE_ERR("-- @route GET /x\n-- @query a int\n-- @query a text\nSELECT :a", 3,
              "duplicate @query a (first at line 2)");
    PARSE_ERR("SELECT 1 -- @route GET /x\n", 1, "annotation after SQL on the same line");
    PARSE_ERR("-- @route GET /x extra\nSELECT 1", 1, "unexpected 'extra' after @route");
    PARSE_ERR("-- @route GET\nSELECT 1", 1, "@route needs a method and a path");
    PARSE_ERR("-- @route GET /x\n-- @auth maybe\nSELECT 1", 2, "@auth takes required or optional");
    PARSE_ERR("-- @route GET /x\n-- @auth required now\nSELECT 1", 2, "unexpected 'now'");
    PARSE_ERR("-- @route GET /x\n-- @returns some\nSELECT 1", 2, "@returns takes one, many or none");
    PARSE_ERR("-- @route GET /x\n-- @returns one status\nSELECT 1", 2, "2xx");
    PARSE_ERR("-- @route GET /x\n-- @returns one status 404\nSELECT 1", 2, "2xx");
    PARSE_ERR("-- @route GET /x\n-- @returns one code 201\nSELECT 1", 2, "unexpected 'code'");
    PARSE_ERR("-- @route PUT /x\n-- @body xml\nSELECT :body", 2, "@body takes json");
    PARSE_ERR("-- @route PUT /x\n-- @body json min 1\nSELECT :body", 2, "unexpected 'min'");
    PARSE_ERR("-- @route GET /x\n-- @cache 60s shared\nSELECT 1", 2, "unexpected 'shared' after @cache");
    PARSE_ERR("-- @route GET /x\n-- @cache 60s public private\nSELECT 1", 2, "unexpected 'private' after @cache");
    PARSE_ERR("-- @route GET /x\n-- @cache 60s swr\nSELECT 1", 2, "bad duration for @cache swr");
    PARSE_ERR("-- @route GET /x\n-- @tags\nSELECT 1", 2, "@tags needs at least one tag");
    PARSE_ERR("-- @route GET /x\n-- @query a text default \"x\nSELECT :a", 2, "unterminated \"");
    PARSE_ERR("-- @route GET /x\n-- @query a text default \"x\"y\nSELECT :a", 2, "text after closing \"");
}

static void test_err_methods_paths(void) {
    PARSE_ERR("-- @route get /x\nSELECT 1", 1, "unknown method 'get'");
    PARSE_ERR("-- @route OPTIONS /x\nSELECT 1", 1, "unknown method 'OPTIONS' (GET, POST, PUT, PATCH or DELETE)");
    PARSE_ERR("-- @route GET x\nSELECT 1", 1, "path 'x' must start with '/'");
    PARSE_ERR("-- @route GET /a//b\nSELECT 1", 1, "empty segment");
    PARSE_ERR("-- @route GET /a/\nSELECT 1", 1, "must not end with '/'");
    PARSE_ERR("-- @route GET /a/{id\nSELECT 1", 1, "malformed path parameter '{id'");
    PARSE_ERR("-- @route GET /a/{}\nSELECT 1", 1, "malformed path parameter '{}'");
    PARSE_ERR("-- @route GET /a/{1x}\nSELECT 1", 1, "malformed path parameter");
    PARSE_ERR("-- @route GET /a/x{id}\nSELECT 1", 1, "invalid character '{'");
    PARSE_ERR("-- @route GET /a/{id}x\nSELECT 1", 1, "malformed path parameter");
    PARSE_ERR("-- @route GET /a/b?x=1\nSELECT 1", 1, "invalid character '?'");
    PARSE_ERR("-- @route GET /a/../b\nSELECT 1", 1, "dot segment");
    PARSE_ERR("-- @route GET /a/{id:int}/{id}\nSELECT :id", 1, "duplicate path parameter {id}");
    PARSE_ERR("-- @route GET /a/{body}\nSELECT :body", 1, "'body' is reserved");
    PARSE_ERR("-- @route GET /1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17\nSELECT 1", 1, "more than 16 segments");
}

static void test_err_types_numbers(void) {
    PARSE_ERR("-- @route GET /a/{id:integer}\nSELECT :id", 1,
              "unknown type 'integer' for path parameter {id} (int, text or uuid)");
    PARSE_ERR("-- @route GET /a/{id:bool}\nSELECT :id", 1, "unknown type 'bool'");
    PARSE_ERR("-- @route GET /a\n-- @query n int4\nSELECT :n", 2, "unknown type 'int4' for @query n");
    PARSE_ERR("-- @route GET /a\n-- @query n json\nSELECT :n", 2, "unknown type 'json'");
    PARSE_ERR("-- @route GET /a\n-- @query n\nSELECT :n", 2, "@query needs a name and a type");
    PARSE_ERR("-- @route GET /a\n-- @query 1n int\nSELECT 1", 2, "invalid @query name '1n'");
    PARSE_ERR("-- @route GET /a\n-- @query auth text\nSELECT 1", 2, "'auth' is reserved");
    PARSE_ERR("-- @route GET /a\n-- @query n int min abc\nSELECT :n", 2, "bad number 'abc' for min");
    PARSE_ERR("-- @route GET /a\n-- @query n int max 99999999999999999999\nSELECT :n", 2, "bad number");
    PARSE_ERR("-- @route GET /a\n-- @query n text min -1\nSELECT :n", 2, "bad number '-1'");
    PARSE_ERR("-- @route GET /a\n-- @query n uuid min 1\nSELECT :n", 2, "min/max apply to int and text");
    PARSE_ERR("-- @route GET /a\n-- @query n int min\nSELECT :n", 2, "option min needs a value");
    PARSE_ERR("-- @route GET /a\n-- @query n int min 1 min 2\nSELECT :n", 2, "option min given twice");
    PARSE_ERR("-- @route GET /a\n-- @query n int size 2\nSELECT :n", 2, "unknown @query option 'size'");
    PARSE_ERR("-- @route GET /a\n-- @query n int min 10 max 5\nSELECT :n", 2, "min 10 is greater than max 5");
    PARSE_ERR("-- @route GET /a\n-- @query n int default x\nSELECT :n", 2, "default 'x' is not an int");
    PARSE_ERR("-- @route GET /a\n-- @query n int default 0 min 1\nSELECT :n", 2, "default '0' is outside min/max");
    PARSE_ERR("-- @route GET /a\n-- @query n int max 3 default 4\nSELECT :n", 2, "outside min/max");
    PARSE_ERR("-- @route GET /a\n-- @query n text default abcd max 3\nSELECT :n", 2, "length outside min/max");
    PARSE_ERR("-- @route GET /a\n-- @query s text default x one-of a|b\nSELECT :s", 2,
              "default 'x' is not one of its one-of values");
    PARSE_ERR("-- @route GET /a\n-- @query s text one-of a||b\nSELECT :s", 2, "one-of has an empty value");
    PARSE_ERR("-- @route GET /a\n-- @query s int one-of 1|x\nSELECT :s", 2, "one-of value 'x' is not an int");
    PARSE_ERR("-- @route GET /a\n-- @query s int max 5 one-of 1|9\nSELECT :s", 2, "one-of value '9' is outside");
    PARSE_ERR("-- @route GET /a\n-- @query b bool default yes\nSELECT :b", 2, "is not true or false");
    PARSE_ERR("-- @route GET /a\n-- @query u uuid default 123\nSELECT :u", 2, "is not a uuid");
    PARSE_ERR("-- @route GET /a\n-- @query s text one-of "
              "a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|aa|bb|cc|dd|ee|ff|gg\nSELECT :s",
              2, "one-of has more than 32 values");
    PARSE_ERR("-- @route GET /a\n-- @cache 10\nSELECT 1", 2, "bad duration '10' for @cache");
    PARSE_ERR("-- @route GET /a\n-- @cache 0s\nSELECT 1", 2, "bad duration '0s'");
    PARSE_ERR("-- @route GET /a\n-- @cache 5d\nSELECT 1", 2, "bad duration '5d'");
    PARSE_ERR("-- @route GET /a\n-- @cache 9999999999999s\nSELECT 1", 2, "bad duration");
    PARSE_ERR("-- @route GET /a\n-- @cache\nSELECT 1", 2, "bad duration");
    PARSE_ERR("-- @route GET /a\n-- @timeout 1.5s\nSELECT 1", 2, "bad duration '1.5s' for @timeout");
    PARSE_ERR("-- @route GET /a\n-- @timeout -1s\nSELECT 1", 2, "bad duration");
    PARSE_ERR("-- @route GET /a\n-- @rate 20\nSELECT 1", 2, "@rate takes N/sec");
    PARSE_ERR("-- @route GET /a\n-- @rate x/min\nSELECT 1", 2, "@rate takes N/sec");
    PARSE_ERR("-- @route GET /a\n-- @rate 0/min\nSELECT 1", 2, "@rate takes N/sec");
    PARSE_ERR("-- @route GET /a\n-- @rate 5/day\nSELECT 1", 2, "unknown @rate period 'day'");
    PARSE_ERR("-- @route GET /a\n-- @rate 1000001/s\nSELECT 1", 2, "N from 1 to 1000000");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min burst\nSELECT 1", 2, "@rate burst needs a number");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min burst 20\nSELECT 1", 2, "@rate burst must be from 1 to 19");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min burst 0\nSELECT 1", 2, "@rate burst must be from 1 to 19");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min burst x\nSELECT 1", 2, "@rate burst must be");
    PARSE_ERR("-- @route GET /a\n-- @rate 1000000/s burst 1\nSELECT 1", 2, "is under 1 ms");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min burst 5 burst 6\nSELECT 1", 2, "unexpected 'burst' after @rate");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per ip per ip\nSELECT 1", 2, "unexpected 'per' after @rate");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per\nSELECT 1", 2, "@rate per takes ip, sub or claim.NAME");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per host\nSELECT 1", 2, "not 'host'");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per claim.\nSELECT 1", 2, "not 'claim.'");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per claim.a-b\nSELECT 1", 2, "not 'claim.a-b'");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min every ip\nSELECT 1", 2, "unexpected 'every' after @rate");
    PARSE_ERR("-- @route GET /a\n-- @rate 20/min per sub\nSELECT 1", 2, "@rate per sub needs @auth");
    PARSE_ERR("-- @route GET /a\n\n-- @rate 20/min per claim.org\nSELECT 1", 3, "@rate per claim needs @auth");
    PARSE_ERR("-- @route PUT /a\n-- @body json max 0\nSELECT :body", 2, "bad size '0' for @body max");
    PARSE_ERR("-- @route PUT /a\n-- @body json max 64kb\nSELECT :body", 2, "bad size '64kb'");
    PARSE_ERR("-- @route PUT /a\n-- @body json max 2048m\nSELECT :body", 2, "bad size");
    PARSE_ERR("-- @route PUT /a\n-- @body json max\nSELECT :body", 2, "bad size");
}

static void test_err_params(void) {
    PARSE_ERR("-- @route GET /a\n\nSELECT :limit", 3,
              "parameter :limit is not declared (no {limit} in the path, no @query limit)");
    PARSE_ERR("-- @route GET /a/{id:int}\n-- @returns one\nSELECT 1", 1,
              "path parameter {id} is not used in the SQL");
    PARSE_ERR("-- @route GET /a\n-- @query limit int default 10\nSELECT 1", 2, "@query limit is not used in the SQL");
    PARSE_ERR("-- @route POST /a\nSELECT :body", 2, ":body is used but the route has no @body json");
    PARSE_ERR("-- @route POST /a\n-- @body json\nSELECT 1", 2,
              "@body is declared but neither :body nor a :body.<field> is used in the SQL");
    PARSE_ERR("-- @route GET /a\nSELECT :auth.sub", 2, ":auth.sub is used but the route has no @auth");
    PARSE_ERR("-- @route GET /a\n-- @auth required\nSELECT :auth", 3, ":auth needs a claim name");
    PARSE_ERR("-- @route GET /a\n-- @auth required\nSELECT :auth.", 3, ":auth needs a claim name");
    PARSE_ERR("-- @route POST /a\n-- @body json\nSELECT :body.name", 3,
              "parameter :body.name is not declared (no @field name)");
    PARSE_ERR("-- @route GET /a/{x}\n-- @query x text\nSELECT :x", 2, "@query x has the name of a path parameter");
    PARSE_ERR("-- @route GET /a\nSELECT $1", 2, "positional parameter $1: use named parameters");
    PARSE_ERR("-- @route GET /a\nSELECT 1;\nSELECT 2", 3, "more than one SQL statement (the first ends with ';' on line 2)");
    PARSE_ERR("-- @route GET /a\nSELECT 1; SELECT 2;", 2, "more than one SQL statement");
    PARSE_ERR("-- @route GET /a\nSELECT 1;;", 2, "more than one SQL statement");
    PARSE_ERR("-- @route GET /a\n", 1, "no SQL statement");
    PARSE_ERR("-- @route GET /a\n  /* only a comment */ ;\n", 1, "no SQL statement");
    /* 65 distinct parameters */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "-- @route GET /a\n");
    for (int i = 0; i < 65; i++) n += (size_t)snprintf(text + n, sizeof(text) - n, "-- @query p%d int\n", i);
    KT_CHECK(n < sizeof(text));
    PARSE_ERR(text, 34, "more than 32 @query parameters");
    n = (size_t)snprintf(text, sizeof(text), "-- @route GET /a\n-- @auth required\nSELECT 1");
    for (int i = 0; i < 65; i++) n += (size_t)snprintf(text + n, sizeof(text) - n, ", :auth.c%d", i);
    PARSE_ERR(text, 3, "more than 64 distinct parameters");
}

static void test_err_lexing(void) {
    PARSE_ERR("-- @route GET /a\nSELECT 'abc\n\n", 2, "unterminated string literal");
    PARSE_ERR("-- @route GET /a\nSELECT E'abc\\'\n", 2, "unterminated string literal");
    PARSE_ERR("-- @route GET /a\nSELECT 'x', E'\\", 2, "unterminated string literal");
    PARSE_ERR("-- @route GET /a\n\nSELECT \"abc\n", 3, "unterminated quoted identifier");
    PARSE_ERR("-- @route GET /a\nSELECT /* x /* y */\n\n", 2, "unterminated /* comment");
    PARSE_ERR("-- @route GET /a\nSELECT $x$ abc $y$\n", 2, "unterminated dollar-quoted string $x$");
    PARSE_ERR("-- @route GET /a\nSELECT $$", 2, "unterminated dollar-quoted string $$");
    PARSE_ERR("-- @route GET /a\nSELECT '", 2, "unterminated string literal");
    static const char nul[] = "-- @route GET /a\nSELECT 1\0 x";
    kl_route_def_t d;
    char *g = kt_guard_copy(nul, sizeof(nul) - 1);
    KT_EQ(kl_routefile_parse("t.sql", g, sizeof(nul) - 1, &d, err, sizeof(err)), -EINVAL);
    KT_CHECK(strstr(err, "t.sql:2: NUL byte") != NULL);
    kt_guard_free(g, sizeof(nul) - 1);
    /* the size limit is checked before anything is read */
    KT_EQ(kl_routefile_parse("big.sql", "", (size_t)KL_ROUTEFILE_MAX_LEN + 1, &d, err, sizeof(err)), -EINVAL);
    KT_CHECK(strstr(err, "big.sql:1: file larger than") != NULL);
}

static void test_err_semantics(void) {
    PARSE_ERR("-- @route GET /a\n-- @body json\nSELECT :body", 2, "a GET route takes no @body");
    PARSE_ERR("-- @route POST /a\n-- @cache 60s\nSELECT 1", 2, "@cache applies to GET routes only");
    PARSE_ERR("-- @route GET /a\n-- @cache 60s private\nSELECT 1", 2, "@cache private needs @auth");
    /* an @auth route's answer depends on who asks: only a private cache may keep it */
    PARSE_ERR("-- @route GET /a\n-- @auth required\n-- @cache 60s\nSELECT 1", 3,
              "@cache on an @auth route must be private");
    PARSE_ERR("-- @route GET /a\n-- @cache 60s\n-- @auth optional\nSELECT 1", 2,
              "@cache on an @auth route must be private");
    PARSE_ERR("-- @route GET /a\n-- @auth required\n-- @cache 60s public swr 5s\nSELECT 1", 3,
              "@cache public cannot be used with @auth");
    {
        kl_route_def_t d;
        PARSE_OK("-- @route GET /a\n-- @cache 60s public\nSELECT 1", &d); /* public: the default, said */
        KT_CHECK(d.cache_public && !d.cache_private && d.cache_ms == 60000);
        kl_routefile_free(&d);
        PARSE_OK("-- @route GET /a\n-- @auth optional\n-- @cache 60s private\nSELECT 1", &d);
        KT_CHECK(d.cache_private && !d.cache_public);
        kl_routefile_free(&d);
    }
    PARSE_ERR("-- @route GET /a\n-- @tags a\nSELECT 1", 2, "@tags without @cache");
    PARSE_ERR("-- @route GET /a\n-- @cache 1s\n-- @tags a:{id}\nSELECT 1", 3,
              "@tags tag 'a:{id}' uses {id}: no such path or @query parameter");
    PARSE_ERR("-- @route GET /a\n-- @cache 1s\n-- @tags a:{auth.sub}\nSELECT 1", 3, "but the route has no @auth");
    PARSE_ERR("-- @route POST /a\n-- @invalidates u:{x}\nSELECT 1", 2, "@invalidates tag 'u:{x}' uses {x}");
    PARSE_ERR("-- @route POST /a\n-- @invalidates u:{x\nSELECT 1", 2, "malformed reference in tag 'u:{x'");
    PARSE_ERR("-- @route POST /a\n-- @invalidates u:{}\nSELECT 1", 2, "malformed reference");
    PARSE_ERR("-- @route POST /a\n-- @invalidates u:{auth.}\nSELECT 1", 2, "malformed reference");
    PARSE_ERR("-- @route POST /a\n-- @invalidates a,b\nSELECT 1", 2, "invalid character ',' in tag 'a,b'");
    PARSE_ERR("-- @route POST /a\n-- @invalidates \"\"\nSELECT 1", 2, "empty tag in @invalidates");
    PARSE_ERR("-- @route POST /a\n-- @invalidates a b c d e f g h i j k l m n o p q\nSELECT 1", 2,
              "more than 16 tags");
}

static void test_err_buffer(void) {
    kl_route_def_t d;
    char small[12];
    memset(small, 'Z', sizeof(small));
    const char *text = "-- @route GET /a\n-- @cahce 1s\nSELECT 1";
    KT_EQ(kl_routefile_parse("t.sql", text, strlen(text), &d, small, 8), -EINVAL);
    KT_CHECK(strcmp(small, "t.sql:2") == 0); /* truncated, terminated, nothing written past 8 */
    KT_CHECK(small[8] == 'Z');
    KT_EQ(kl_routefile_parse("t.sql", text, strlen(text), &d, NULL, 0), -EINVAL);
}

/* ---- the example application and the fixtures ------------------------------------- */

/* ---- rows_max: the statement's own LIMIT (db.h, "Answers held") -------------------- */

/* rows_max of "-- @route GET /x\n" + decl + sql; a decl that starts with "-- @route" is the
 * route itself. */
static uint32_t rows_of(const char *decl, const char *sql) {
    char text[1024];
    snprintf(text, sizeof(text), "%s%s%s", strncmp(decl, "-- @route", 9) ? "-- @route GET /x\n" : "", decl, sql);
    kl_route_def_t d;
    PARSE_OK(text, &d);
    uint32_t n = d.rows_max;
    kl_routefile_free(&d);
    return n;
}

static void test_rows_max(void) {
    const char *n = "-- @query n int default 20 min 1 max 100\n", *nf = "-- @query n int default 20 min 1 max 100\n"
                                                                        "-- @query free int default 5\n";
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 10"), 10);
    KT_EQ(rows_of("", "select * from t\nlimit\t7 ;\n-- done\n"), 7);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 10 OFFSET 5000"), 10);
    KT_EQ(rows_of("", "SELECT * FROM t OFFSET 3 LIMIT 4"), 4);
    KT_EQ(rows_of(n, "SELECT * FROM t LIMIT :n"), 100); /* the @query's max */
    KT_EQ(rows_of(nf, "SELECT * FROM t LIMIT :n::int OFFSET :free"), 100);
    KT_EQ(rows_of(n, "SELECT * FROM t LIMIT :n :: integer"), 100);
    KT_EQ(rows_of("", "SELECT a FROM t UNION ALL SELECT b FROM u LIMIT 3"), 3); /* the whole UNION's */
    KT_EQ(rows_of("", "SELECT * FROM t /* LIMIT 1 */ LIMIT 2 -- LIMIT 1\n"), 2);
    /* not bounded by its own LIMIT: 0 */
    KT_EQ(rows_of("-- @route GET /x/{id:int}\n", "SELECT * FROM t WHERE id = :id::int"), 0);
    KT_EQ(rows_of("-- @route GET /x/{id:int}\n", "SELECT * FROM t LIMIT :id"), 0); /* a path parameter */
    KT_EQ(rows_of("-- @query free int default 5\n", "SELECT * FROM t LIMIT :free"), 0); /* no max */
    KT_EQ(rows_of("-- @query s text default a max 3\n", "SELECT * FROM t LIMIT :s::int"), 0); /* not an int */
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT ALL"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 0"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 2 * 5"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 5.5"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 99999999999999999999999"), 0);
    KT_EQ(rows_of("", "SELECT * FROM (SELECT * FROM t LIMIT 5) s"), 0); /* a subquery's */
    KT_EQ(rows_of("", "(SELECT * FROM t LIMIT 5) UNION ALL (SELECT * FROM u)"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 5 FOR UPDATE"), 0);
    KT_EQ(rows_of("", "SELECT 'x LIMIT 5'"), 0);
    KT_EQ(rows_of("", "SELECT $$ LIMIT 5$$"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t AS \"limit\""), 0);
    KT_EQ(rows_of("", "SELECT nolimit, 5 FROM t"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t LIMIT 5 OFFSET x"), 0);
    KT_EQ(rows_of("", "SELECT * FROM t FETCH FIRST 5 ROWS ONLY"), 0); /* not recognised: row by row */
}

static void test_example_routes(void) {
    kl_route_def_t d;
    if (parse_file("examples/bounties/routes/bounties_list.sql", &d) == 0) {
        KT_CHECK(strcmp(d.path, "/api/bounties") == 0);
        KT_EQ(d.returns, KL_ROUTE_RETURNS_MANY);
        KT_EQ(d.cache_ms, 60000);
        KT_EQ(d.n_query, 3);
        KT_EQ(d.n_params, 3);
        KT_CHECK(strcmp(d.query[0].default_value, "open") == 0 && d.query[0].n_one_of == 4);
        KT_CHECK(d.query[1].has_max && d.query[1].max == 100);
        KT_CHECK(strstr(d.sql, ":status") == NULL && strstr(d.sql, "$3::int") != NULL);
        KT_EQ(d.rows_max, 100); /* LIMIT :limit::int, max 100 */
        kl_routefile_free(&d);
    } else {
        fprintf(stderr, "  %s\n", err);
        kt_failed_checks_++;
    }
    if (parse_file("examples/bounties/routes/bounties_get.sql", &d) == 0) {
        KT_CHECK(strcmp(d.path, "/api/bounties/{id:int}") == 0);
        KT_EQ(d.segments[2].type, KL_ROUTE_INT);
        KT_EQ(d.returns, KL_ROUTE_RETURNS_ONE);
        KT_EQ(d.cache_ms, 180000);
        KT_EQ(d.n_params, 1);
        KT_CHECK(strstr(d.sql, "$1::bigint") != NULL);
        KT_EQ(d.rows_max, 1); /* LIMIT 1: one row, read whole */
        kl_routefile_free(&d);
    } else {
        fprintf(stderr, "  %s\n", err);
        kt_failed_checks_++;
    }
    if (parse_file("examples/bounties/routes/bounties_search.sql", &d) == 0) {
        KT_CHECK(strcmp(d.path, "/api/bounties/search") == 0);
        KT_CHECK(d.query[0].default_value == NULL); /* q is required */
        KT_EQ(d.rate_count, 20); /* the design's 20/min per client */
        KT_EQ(d.rate_period_ms, 60000);
        KT_EQ(d.cache_ms, 120000);
        KT_EQ(d.returns, KL_ROUTE_RETURNS_MANY);
        kl_routefile_free(&d);
    } else {
        fprintf(stderr, "  %s\n", err);
        kt_failed_checks_++;
    }
    if (parse_file("examples/bounties/routes/users_get.sql", &d) == 0) {
        KT_CHECK(strcmp(d.path, "/api/users/{id:int}") == 0);
        KT_EQ(d.cache_ms, 300000);
        kl_routefile_free(&d);
    } else {
        fprintf(stderr, "  %s\n", err);
        kt_failed_checks_++;
    }
    if (parse_file("examples/bounties/routes/users_stats.sql", &d) == 0) {
        KT_CHECK(strcmp(d.path, "/api/users/{id:int}/stats") == 0);
        KT_EQ(d.n_segments, 4);
        KT_EQ(d.cache_ms, 300000);
        kl_routefile_free(&d);
    } else {
        fprintf(stderr, "  %s\n", err);
        kt_failed_checks_++;
    }
}

/* The fixtures' READMEs say what keel must print; the parse-time classes print it here. */
static void expect_fixture_error(const char *dir, const char *file) {
    char path[256], readme[256];
    kl_route_def_t d;
    size_t len;
    snprintf(path, sizeof(path), "tests/fixtures/routes_bad/%s/%s", dir, file);
    snprintf(readme, sizeof(readme), "tests/fixtures/routes_bad/%s/README", dir);
    char *text = read_file(readme, &len);
    const char *want = text ? strstr(text, "print: ") : NULL;
    KT_CHECK(want != NULL);
    if (want == NULL) {
        free(text);
        return;
    }
    want += strlen("print: ");
    text[strcspn(text, "\n")] = '\0';
    KT_EQ(parse_file(path, &d), -EINVAL);
    if (strstr(err, want) == NULL) {
        fprintf(stderr, "  %s: got \"%s\", README wants \"%s\"\n", path, err, want);
        kt_failed_checks_++;
    }
    free(text);
}

static void test_fixtures(void) {
    static const char *const ok[] = {"widgets_get.sql", "widgets_list.sql", "sleep.sql", "widgets_set_price.sql"};
    kl_route_def_t d, e;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "tests/fixtures/routes_ok/%s", ok[i]);
        int r = parse_file(path, &d);
        if (r != 0) fprintf(stderr, "  %s\n", err);
        KT_EQ(r, 0);
        if (r == 0) kl_routefile_free(&d);
    }
    expect_fixture_error("unknown_annotation", "route.sql");
    expect_fixture_error("bad_type", "route.sql");
    expect_fixture_error("undeclared_param", "route.sql");
    expect_fixture_error("unused_param", "route.sql");
    /* these parse on their own: the loader and PostgreSQL refuse them */
    KT_EQ(parse_file("tests/fixtures/routes_bad/bad_sql/route.sql", &d), 0);
    kl_routefile_free(&d);
    KT_EQ(parse_file("tests/fixtures/routes_bad/duplicate_route/a.sql", &d), 0);
    KT_EQ(parse_file("tests/fixtures/routes_bad/duplicate_route/b.sql", &e), 0);
    KT_CHECK(kl_routefile_conflicts(&d, &e));
    kl_routefile_free(&d);
    kl_routefile_free(&e);
}

static void test_conflicts(void) {
    static const struct {
        const char *a, *b;
        bool conflict;
    } cases[] = {
        {"GET /a/{id:int}", "GET /a/{x:int}", true},
        {"GET /a/{id}", "GET /a/{x:text}", true},
        {"GET /a/b", "GET /a/b", true},
        {"GET /", "GET /", true},
        {"GET /a/{id:int}", "POST /a/{id:int}", false},
        {"GET /a/{id:int}", "GET /a/search", false},
        {"GET /a/{id:int}", "GET /a/{id:uuid}", false},
        {"GET /a/{id:int}", "GET /a/{id}", false},
        {"GET /a/{id:int}", "GET /a/{id:int}/b", false},
        {"GET /a/b", "GET /a/c", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char ta[128], tb[128];
        kl_route_def_t a, b;
        const char *sa = strchr(cases[i].a, '{') ? strchr(cases[i].a, '{') + 1 : NULL;
        const char *sb = strchr(cases[i].b, '{') ? strchr(cases[i].b, '{') + 1 : NULL;
        snprintf(ta, sizeof(ta), "-- @route %s\nSELECT %s%.*s", cases[i].a, sa ? ":" : "1",
                 sa ? (int)strcspn(sa, ":}") : 0, sa ? sa : "");
        snprintf(tb, sizeof(tb), "-- @route %s\nSELECT %s%.*s", cases[i].b, sb ? ":" : "1",
                 sb ? (int)strcspn(sb, ":}") : 0, sb ? sb : "");
        PARSE_OK(ta, &a);
        PARSE_OK(tb, &b);
        if (kl_routefile_conflicts(&a, &b) != cases[i].conflict || kl_routefile_conflicts(&b, &a) != cases[i].conflict) {
            fprintf(stderr, "  conflicts(%s, %s) != %d\n", cases[i].a, cases[i].b, cases[i].conflict);
            kt_failed_checks_++;
        }
        kl_routefile_free(&a);
        kl_routefile_free(&b);
    }
    KT_CHECK(strcmp(kl_routefile_type_name(KL_ROUTE_UUID), "uuid") == 0);
    KT_CHECK(strcmp(kl_routefile_ann_name(KL_ROUTE_ANN_INVALIDATES), "@invalidates") == 0);
}

/* Hostile input: random mixtures of the lexer's interesting pieces never crash, hang or
 * read past the end (the guard page), and always come back as 0 or -EINVAL. */
static void test_random_inputs(void) {
    static const char *const pieces[] = {
        "-- @route GET /x/{id:int}\n", "-- @query q text default a\n", "-- @cache 1s\n", "-- @tags t:{id}\n",
        "-- @", "--", "\n", "'", "''", "E'", "\\", "\"", "$$", "$a$", "$", "$1", "/*", "*/", ":", "::", ":id",
        ":q", ":auth.sub", ":body", ";", " ", "SELECT ", "{", "}", "\r", "\xc3\xa9", "@", "-- @body json\n",
        "-- @auth required\n", "-- @returns many status 201\n", "-- @rate 1/s\n", "-- @query",
        "-- @field f text optional\n", ":body.f", ":body.", "-- @location /x/{id}\n", "-- @body json allow-extra\n",
    };
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char buf[512];
    int ok = 0, bad = 0;
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int n = (int)(x % 24);
        for (int k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *pc = pieces[x % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t pl = strlen(pc);
            if (len + pl >= sizeof(buf)) break;
            memcpy(buf + len, pc, pl);
            len += pl;
        }
        kl_route_def_t d;
        char *g = kt_guard_copy(buf, len);
        int r = kl_routefile_parse("r.sql", g, len, &d, err, sizeof(err));
        kt_guard_free(g, len);
        if (r == 0) {
            ok++;
            KT_CHECK(d.sql != NULL && strlen(d.sql) == d.sql_len);
            kl_routefile_free(&d);
        } else {
            bad++;
            KT_EQ(r, -EINVAL);
            KT_CHECK(strncmp(err, "r.sql:", 6) == 0);
        }
    }
    KT_CHECK(ok > 0 && bad > 0);
}

int main(void) {
    KT_RUN(test_minimal);
    KT_RUN(test_path_params);
    KT_RUN(test_query_forms);
    KT_RUN(test_all_annotations);
    KT_RUN(test_rewrite_literals);
    KT_RUN(test_rewrite_comments);
    KT_RUN(test_rewrite_dollar);
    KT_RUN(test_sql_lines);
    KT_RUN(test_err_annotations);
    KT_RUN(test_err_methods_paths);
    KT_RUN(test_err_types_numbers);
    KT_RUN(test_err_params);
    KT_RUN(test_err_lexing);
    KT_RUN(test_err_semantics);
    KT_RUN(test_err_buffer);
    KT_RUN(test_fields);
    KT_RUN(test_err_fields);
    KT_RUN(test_err_location);
    KT_RUN(test_rows_max);
    KT_RUN(test_example_routes);
    KT_RUN(test_fixtures);
    KT_RUN(test_conflicts);
    KT_RUN(test_random_inputs);
    return KT_DONE();
}
