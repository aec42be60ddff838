#include "proto/accept_encoding.h"

#include "kt.h"

/* The header value from a C string, placed against a PROT_NONE page. */
static bool ae(const char *v) {
    size_t n = strlen(v);
    char *g = kt_guard_copy(v, n);
    bool r = kl_accept_gzip((kl_str_t){g, n});
    kt_guard_free(g, n);
    return r;
}

static void plain_lists(void) {
    KT_CHECK(ae("gzip"));
    KT_CHECK(ae("gzip, deflate, br"));
    KT_CHECK(ae("br, gzip"));
    KT_CHECK(ae("deflate, gzip;q=1.0, *;q=0.5"));
    KT_CHECK(!ae("br"));
    KT_CHECK(!ae("deflate, br, zstd"));
    KT_CHECK(!ae("identity"));
    KT_CHECK(!ae(""));
    KT_CHECK(!kl_accept_gzip((kl_str_t){NULL, 0})); /* header absent */
}

static void qvalues(void) {
    KT_CHECK(!ae("gzip;q=0"));
    KT_CHECK(!ae("gzip;q=0.0"));
    KT_CHECK(!ae("gzip;q=0.000"));
    KT_CHECK(!ae("gzip;q=0."));
    KT_CHECK(ae("gzip;q=0.001"));
    KT_CHECK(ae("gzip;q=0.5"));
    KT_CHECK(ae("gzip;q=1"));
    KT_CHECK(ae("gzip;q=1."));
    KT_CHECK(ae("gzip;q=1.000"));
    KT_CHECK(ae("gzip;Q=0.8"));
    /* strict qvalue syntax: anything else makes the element malformed (ignored) */
    KT_CHECK(!ae("gzip;q=1.001"));
    KT_CHECK(!ae("gzip;q=1.5"));
    KT_CHECK(!ae("gzip;q=2"));
    KT_CHECK(!ae("gzip;q=0.1234"));
    KT_CHECK(!ae("gzip;q=.5"));
    KT_CHECK(!ae("gzip;q=-1"));
    KT_CHECK(!ae("gzip;q="));
    KT_CHECK(!ae("gzip;q"));
    KT_CHECK(!ae("gzip;"));
    KT_CHECK(!ae("gzip;q=0.5x"));
    KT_CHECK(!ae("gzip;q = 0.5"));
    KT_CHECK(!ae("gzip;level=1"));
    KT_CHECK(!ae("gzip;q=0.5;q=0.5"));
    KT_CHECK(!ae("gzip;q=\"1\""));
    /* a malformed element is ignored, the rest still counts */
    KT_CHECK(ae("gzip;q=2, *"));
    KT_CHECK(!ae("gzip;q=2, *;q=0"));
}

static void identity_rules(void) {
    KT_CHECK(ae("gzip, identity"));          /* tie: gzip */
    KT_CHECK(ae("gzip;q=0.5, identity;q=0.5"));
    KT_CHECK(!ae("gzip;q=0.5, identity"));   /* identity preferred */
    KT_CHECK(!ae("gzip;q=0.5, identity;q=0.6"));
    KT_CHECK(ae("gzip;q=0.5, identity;q=0.4"));
    KT_CHECK(ae("gzip;q=0.1"));              /* unlisted identity never outranks a listed coding */
    KT_CHECK(ae("identity;q=0, gzip"));
    KT_CHECK(ae("gzip, identity;q=0"));
    KT_CHECK(!ae("identity;q=0, gzip;q=0")); /* nothing acceptable: not gzip (caller decides) */
    KT_CHECK(!ae("gzip;q=0.5, *"));          /* "*" covers identity at q=1 */
    KT_CHECK(ae("gzip;q=0.5, *, identity;q=0.2"));
}

static void star_rules(void) {
    KT_CHECK(ae("*"));
    KT_CHECK(ae("*;q=0.3"));
    KT_CHECK(!ae("*;q=0"));
    KT_CHECK(ae("gzip, *;q=0"));             /* explicit gzip beats "*" */
    KT_CHECK(!ae("gzip;q=0, *"));
    KT_CHECK(ae("br, *;q=0.1"));             /* gzip unlisted: covered by "*" */
    KT_CHECK(ae("*, identity;q=0.5"));
    KT_CHECK(!ae("*;q=0.5, identity"));      /* identity preferred over everything else */
    KT_CHECK(!ae("**"));
    KT_CHECK(!ae("*gzip"));
}

static void x_gzip_and_case(void) {
    KT_CHECK(ae("x-gzip"));
    KT_CHECK(ae("X-GZIP;q=0.5"));
    KT_CHECK(!ae("x-gzip;q=0"));
    KT_CHECK(!ae("gzip, x-gzip;q=0"));       /* listed twice: the lowest weight wins */
    KT_CHECK(!ae("gzip;q=0, gzip"));
    KT_CHECK(ae("GZIP"));
    KT_CHECK(ae("GZip;Q=1"));
    KT_CHECK(!ae("IDENTITY, gzip;q=0.9"));
    KT_CHECK(!ae("gzipx"));
    KT_CHECK(!ae("gzi"));
    KT_CHECK(!ae("x-gzipp"));
}

static void whitespace(void) {
    KT_CHECK(ae("  gzip  "));
    KT_CHECK(ae("\tgzip\t;\tq=0.5\t"));
    KT_CHECK(ae("br ,gzip , deflate"));
    KT_CHECK(ae("gzip ; q=1"));
    KT_CHECK(ae(",,gzip,,"));
    KT_CHECK(ae(" , gzip"));
    KT_CHECK(!ae("g zip"));
    KT_CHECK(!ae("gzip\r\n"));               /* CR/LF are not OWS: malformed element */
    KT_CHECK(!ae(" \t , "));
}

static void malformed_safely(void) {
    KT_CHECK(!ae("\"gzip\""));
    KT_CHECK(!ae("gzip\""));
    KT_CHECK(!ae("x;p=\"a,gzip,b\""));       /* a comma inside quotes does not split */
    KT_CHECK(ae("x;p=\"a,b\", gzip"));        /* ... and the list goes on after the quote */
    KT_CHECK(ae("x;p=\"a\\\",b\", gzip"));    /* escaped quote inside the quoted string */
    KT_CHECK(!ae("x;p=\"unterminated, gzip"));
    KT_CHECK(!ae(";q=1"));
    KT_CHECK(!ae("gz\x80ip"));
    KT_CHECK(!kl_accept_gzip((kl_str_t){"gzip\0", 5}));
    KT_CHECK(ae("\x01\x02, gzip"));
    /* every prefix of a busy value, against the guard page: never an over-read */
    const char *v = "br;q=1.0, x-gzip ; q=0.125 ,*;q=0, identity;q=0.\"x\\";
    for (size_t n = 0; n <= strlen(v); n++) {
        char *g = kt_guard_copy(v, n);
        (void)kl_accept_gzip((kl_str_t){g, n});
        kt_guard_free(g, n);
    }
    /* long values: thousands of elements, the verdict still comes from the last one */
    size_t reps = 6000, unit = strlen("br;q=0.5, ");
    char *h = malloc(reps * unit + 16);
    for (size_t i = 0; i < reps; i++) memcpy(h + i * unit, "br;q=0.5, ", unit);
    strcpy(h + reps * unit, "gzip");
    KT_CHECK(ae(h));
    strcpy(h + reps * unit, "gzip;q=0");
    KT_CHECK(!ae(h));
    /* an opening quote swallows the rest of the value, trailing gzip included */
    memcpy(h, "x;p=\"", 5);
    strcpy(h + reps * unit, "gzip");
    KT_CHECK(!ae(h));
    free(h);
}

int main(void) {
    KT_RUN(plain_lists);
    KT_RUN(qvalues);
    KT_RUN(identity_rules);
    KT_RUN(star_rules);
    KT_RUN(x_gzip_and_case);
    KT_RUN(whitespace);
    KT_RUN(malformed_safely);
    return KT_DONE();
}
