/* test_routefile_lex.c - the route-file lexer on its own: which comments reach the annotation
 * callback (and with what text and line), that an error from the callback stops the pass, and
 * what the lexer leaves for the caller to resolve. Inputs end at a PROT_NONE page. */
#include <errno.h>

#include "app/routefile_lex.h"
#include "kt.h"

#define MAX_SEEN 8

static struct {
    int n;                    /* callbacks so far */
    char text[MAX_SEEN][64];  /* what each was given */
    int line[MAX_SEEN];
    int fail_line;            /* the callback fails on this line; 0: never */
} seen;

static int record(kl_routefile_parser_t *p, const char *text, size_t len, int line) {
    if (seen.n < MAX_SEEN) {
        snprintf(seen.text[seen.n], sizeof(seen.text[0]), "%.*s", (int)len, text);
        seen.line[seen.n] = line;
    }
    seen.n++;
    if (line == seen.fail_line) return kl_routefile_lex_fail(p, line, "stopped by the callback");
    return 0;
}

static char err[256];
static char sql[4096];
static char *guarded; /* the text being lexed: p->pnames point into it until lex_done */
static size_t guarded_len;

static void lex_done(void) {
    if (guarded != NULL) kt_guard_free(guarded, guarded_len);
    guarded = NULL;
}

/* Lexes text (ending at a guard page) as file "t.sql" the way kl_routefile_parse sets it up,
 * with `record` as the annotation callback; d receives the parameters. */
static int lex(const char *text, kl_route_def_t *d, kl_routefile_parser_t *p, int fail_line) {
    size_t len = strlen(text);
    lex_done();
    char *g = guarded = kt_guard_copy(text, len);
    guarded_len = len;
    memset(&seen, 0, sizeof(seen));
    seen.fail_line = fail_line;
    memset(d, 0, sizeof(*d));
    *p = (kl_routefile_parser_t){.file = "t.sql", .text = g, .len = len, .def = d, .err = err,
                                 .errlen = sizeof(err), .sql = sql, .sql_cap = len + len / 2 + 16};
    err[0] = '\0';
    return kl_routefile_lex_file(p, record);
}

static void test_annotation_comments(void) {
    kl_route_def_t d;
    kl_routefile_parser_t p;
    int r = lex("-- @route GET /x  \r\n"
                "--@cache 1s\n"
                "\t-- \t@tags a  \"b c\"\n"
                "-- not @an_annotation\n"
                "/* -- @in_block */\n"
                "SELECT '-- @in_string', $$ -- @in_dollar $$, \"-- @in_ident\"\n"
                "-- @last",
                &d, &p, 0);
    KT_EQ(r, 0);
    KT_EQ(seen.n, 4);
    KT_CHECK(strcmp(seen.text[0], "@route GET /x") == 0); /* trailing blanks and '\r' cut */
    KT_EQ(seen.line[0], 1);
    KT_CHECK(strcmp(seen.text[1], "@cache 1s") == 0);
    KT_EQ(seen.line[1], 2);
    KT_CHECK(strcmp(seen.text[2], "@tags a  \"b c\"") == 0); /* words are the callback's job */
    KT_EQ(seen.line[2], 3);
    KT_CHECK(strcmp(seen.text[3], "@last") == 0);
    KT_EQ(seen.line[3], 7);
    /* comments are gone, their newlines kept: line n of sql is line n of the file */
    KT_STREQ(p.sql, p.sql_len,
             "\n\n\t\n\n \nSELECT '-- @in_string', $$ -- @in_dollar $$, \"-- @in_ident\"\n");
    KT_EQ(d.n_params, 0);
    lex_done();
}

static void test_callback_error_stops(void) {
    kl_route_def_t d;
    kl_routefile_parser_t p;
    KT_EQ(lex("-- @a\n-- @b\n-- @c\nSELECT 1", &d, &p, 2), -EINVAL);
    KT_CHECK(strcmp(err, "t.sql:2: stopped by the callback") == 0);
    KT_EQ(seen.n, 2); /* @c is never reached */

    /* an annotation after SQL on its line is refused before the callback sees it */
    KT_EQ(lex("SELECT 1 -- @route GET /x\n", &d, &p, 0), -EINVAL);
    KT_CHECK(strcmp(err, "t.sql:1: annotation after SQL on the same line: give it its own line") == 0);
    KT_EQ(seen.n, 0);
    lex_done();
}

static void test_parameters_left_unresolved(void) {
    kl_route_def_t d;
    kl_routefile_parser_t p;
    KT_EQ(lex("SELECT :a,\n :b::int, :a, :auth.sub, ':x', a[1 : n];\n-- @after", &d, &p, 0), 0);
    KT_STREQ(p.sql, p.sql_len, "SELECT $1,\n $2::int, $1, $3, ':x', a[1 : n]");
    KT_EQ(d.n_params, 3);
    KT_STREQ(p.pnames[0].base, p.pnames[0].len, "a");
    KT_STREQ(p.pnames[1].base, p.pnames[1].len, "b");
    KT_STREQ(p.pnames[2].base, p.pnames[2].len, "auth.sub");
    KT_EQ(d.params[0].line, 1);
    KT_EQ(d.params[1].line, 2);
    KT_EQ(d.params[2].line, 2);
    for (size_t k = 0; k < 3; k++) {
        KT_EQ(d.params[k].index, -1);
        KT_CHECK(d.params[k].name == NULL); /* the caller resolves and names them */
    }
    KT_EQ(seen.n, 1); /* comments after the ';' are still read */
    lex_done();
}

int main(void) {
    KT_RUN(test_annotation_comments);
    KT_RUN(test_callback_error_stops);
    KT_RUN(test_parameters_left_unresolved);
    return KT_DONE();
}
