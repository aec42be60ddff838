/* test_sql_batch.c - the batch form of a route's statement (src/app/sql_batch.c): which
 * routes qualify, and the rewrite of each $n to the array element's column, leaving text that
 * only looks like a parameter (in literals, quoted names, dollar quotes) alone. */
#include <string.h>

#include "app/sql_batch.h"
#include "core/alloc.h"
#include "kt.h"

static int parse(const char *text, kl_route_def_t *d) {
    char err[512];
    int r = kl_routefile_parse("t.sql", text, strlen(text), d, err, sizeof(err));
    if (r < 0) fprintf(stderr, "  parse: %s\n", err);
    return r;
}

/* The batch SQL of text, or NULL when its route does not qualify. */
static char *batch_of(const char *text) {
    kl_route_def_t d;
    if (parse(text, &d) < 0) return NULL;
    char *s = kl_sql_batch_sql(&d);
    KT_EQ(s != NULL, kl_sql_batch_eligible(&d));
    kl_routefile_free(&d);
    return s;
}

#define FRAME1 "SELECT keel_q.*, keel_p.keel_ord FROM unnest($1::text[]) WITH ORDINALITY AS keel_p(keel_a1, keel_ord) CROSS JOIN LATERAL (\n"
#define TAIL "\n) AS keel_q ORDER BY keel_p.keel_ord"

static void expect(const char *text, const char *want) {
    char *s = batch_of(text);
    KT_CHECK(s != NULL);
    if (s && strcmp(s, want) != 0) {
        fprintf(stderr, "  %s:%d: got\n%s\nwant\n%s\n", __FILE__, __LINE__, s, want);
        kt_failed_checks_++;
    }
    kl_free(s);
}

static void test_rewrites_every_use(void) {
    expect("-- @route GET /a/{id:int}\nSELECT row_to_json(b) FROM b WHERE id = :id::bigint;\n",
           FRAME1 "SELECT row_to_json(b) FROM b WHERE id = keel_p.keel_a1::bigint" TAIL);
    /* a repeated name is one parameter; text that looks like one stays as written */
    expect("-- @route GET /a/{id:int}\nSELECT :id::int + :id ::int, ':id', \"a:id\", $q$ :id $1 $q$;\n",
           FRAME1 "SELECT keel_p.keel_a1::int + keel_p.keel_a1 ::int, ':id', \"a:id\", $q$ :id $1 $q$" TAIL);
    /* ten parameters: $10 is one use, not $1 then 0 */
    char *s = batch_of("-- @route GET /a/{a:int}\n"
                       "-- @query b int default 0\n-- @query c int default 0\n-- @query d int default 0\n"
                       "-- @query e int default 0\n-- @query f int default 0\n-- @query g int default 0\n"
                       "-- @query h int default 0\n-- @query i int default 0\n-- @query j int default 0\n"
                       "SELECT json_build_array(:a::int, :b::int, :c::int, :d::int, :e::int, :f::int, :g::int,"
                       " :h::int, :i::int, :j::int);\n");
    KT_CHECK(s && strstr(s, "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
                            "$7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS keel_p(keel_a1, "
                            "keel_a2, keel_a3, keel_a4, keel_a5, keel_a6, keel_a7, keel_a8, keel_a9, keel_a10, keel_ord)"));
    KT_CHECK(s && strstr(s, "keel_p.keel_a9::int, keel_p.keel_a10::int)\n) AS keel_q"));
    KT_CHECK(s && !strchr(strstr(s, "LATERAL"), '$'));
    kl_free(s);
    /* leading blank lines and comments are trimmed before the offsets are used */
    expect("\n\n-- a comment\n-- @route GET /a/{id:int}\n\n   SELECT :id::int;  \n",
           FRAME1 "SELECT keel_p.keel_a1::int" TAIL);
}

static void test_who_qualifies(void) {
    static const char *no[] = {
        /* a bare use takes its type from where it stands: a text element would not */
        "-- @route GET /a/{id:int}\nSELECT row_to_json(b) FROM b WHERE id = :id;\n",
        "-- @route GET /a/{id:int}\nSELECT :id::int, :id;\n",
        /* many rows: the ordinal keeps queries apart, not the order of one query's rows */
        "-- @route GET /a/{id:int}\n-- @returns many\nSELECT x FROM b WHERE id = :id::int ORDER BY x;\n",
        /* writes, and reads that carry something in their transaction */
        "-- @route POST /a/{id:int}\nSELECT f(:id::int);\n",
        "-- @route GET /a/{id:int}\n-- @timeout 5s\nSELECT f(:id::int);\n",
        "-- @route GET /a/{id:int}\n-- @auth required\nSELECT f(:id::int, :auth.sub::text);\n",
        /* no parameter: nothing to batch by */
        "-- @route GET /a\nSELECT 1;\n",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        kl_route_def_t d;
        if (parse(no[i], &d) < 0) {
            kt_failed_checks_++;
            continue;
        }
        if (kl_sql_batch_eligible(&d) || kl_sql_batch_sql(&d)) {
            fprintf(stderr, "  eligible, should not be: %s\n", no[i]);
            kt_failed_checks_++;
        }
        kl_routefile_free(&d);
    }
    /* more uses than are recorded: not batched (the rewrite would miss some) */
    char text[4096] = "-- @route GET /a/{id:int}\nSELECT 0";
    for (int i = 0; i <= KL_ROUTE_MAX_PARAM_USES; i++) strcat(text, " + :id::int");
    strcat(text, ";\n");
    kl_route_def_t d;
    KT_EQ(parse(text, &d), 0);
    KT_EQ(d.n_param_uses, (size_t)KL_ROUTE_MAX_PARAM_USES + 1);
    KT_CHECK(!kl_sql_batch_eligible(&d));
    kl_routefile_free(&d);
}

int main(void) {
    KT_RUN(test_rewrites_every_use);
    KT_RUN(test_who_qualifies);
    return KT_DONE();
}
