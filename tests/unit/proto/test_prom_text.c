/* test_prom_text.c - Prometheus text format lines: samples, labels, escapes, comments, the
 * value syntax, and every malformed line an error (each input ends at a PROT_NONE page). */
#include <math.h>
#include <string.h>

#include "kt.h"
#include "proto/prom_text.h"

static ssize_t parse(const char *in, kl_prom_sample_t *s) {
    size_t n = strlen(in);
    char *g = kt_guard_copy(in, n);
    ssize_t r = kl_prom_parse_line(g, n, s);
    /* the pointers into g die with it: copy what the tests look at */
    static char keep[1024];
    if (r > 0 && s->is_sample) {
        memcpy(keep, g, n);
        ptrdiff_t d = keep - g;
        s->name += d;
        for (size_t i = 0; i < s->nlabels; i++) {
            s->labels[i].name += d;
            s->labels[i].value += d;
        }
    }
    kt_guard_free(g, n);
    return r;
}

static void test_samples(void) {
    kl_prom_sample_t s;
    const char *in = "http_requests_total{method=\"GET\",route=\"/api/bounties/{id}\",status_code=\"200\"} 1027\n";
    KT_EQ(parse(in, &s), (ssize_t)strlen(in));
    KT_CHECK(s.is_sample);
    KT_STREQ(s.name, s.name_len, "http_requests_total");
    KT_CHECK(kl_prom_name_is(&s, "http_requests_total"));
    KT_CHECK(!kl_prom_name_is(&s, "http_requests"));
    KT_EQ(s.nlabels, (size_t)3);
    const kl_prom_label_t *l = kl_prom_label(&s, "route");
    KT_CHECK(l != NULL);
    KT_STREQ(l->value, l->value_len, "/api/bounties/{id}");
    KT_CHECK(kl_prom_label(&s, "rout") == NULL);
    KT_CHECK(s.value == 1027);

    KT_EQ(parse("db_queue_depth 2\n", &s), 17);
    KT_CHECK(s.is_sample && s.nlabels == 0 && s.value == 2);
    KT_EQ(parse("x{} 1.5e-3 1700000000000\nnext", &s), 25);
    KT_CHECK(s.value == 1.5e-3);
    KT_EQ(parse("  y { a = \"1\" , b=\"2\", }\t-7\r\n", &s), 29);
    KT_EQ(s.nlabels, (size_t)2);
    KT_CHECK(s.value == -7);
    KT_EQ(parse("le_test{le=\"+Inf\"} +Inf\n", &s), 24);
    KT_CHECK(isinf(s.value) && s.value > 0);
    KT_EQ(parse("n NaN\n", &s), 6);
    KT_CHECK(isnan(s.value));
    KT_EQ(parse("n -Inf\n", &s), 7);
    KT_CHECK(isinf(s.value) && s.value < 0);
    KT_EQ(parse("ns:sub_total 3\n", &s), 15);
}

static void test_comments_and_blank_lines(void) {
    kl_prom_sample_t s;
    KT_EQ(parse("# HELP x Requests {with} \"anything\"\n", &s), 36);
    KT_CHECK(!s.is_sample);
    KT_EQ(parse("# TYPE x counter\n", &s), 17);
    KT_CHECK(!s.is_sample);
    KT_EQ(parse("\n", &s), 1);
    KT_CHECK(!s.is_sample);
    KT_EQ(parse("   \n", &s), 4);
    KT_CHECK(!s.is_sample);
}

static void test_escapes(void) {
    kl_prom_sample_t s;
    KT_CHECK(parse("m{v=\"a\\\"b\\\\c\\nd\"} 1\n", &s) > 0);
    const kl_prom_label_t *l = kl_prom_label(&s, "v");
    char out[32];
    KT_EQ(kl_prom_unescape(l->value, l->value_len, out, sizeof out), 7);
    KT_STREQ(out, strlen(out), "a\"b\\c\nd");
    /* cut to the buffer, length still reported */
    char small[4];
    KT_EQ(kl_prom_unescape(l->value, l->value_len, small, sizeof small), 7);
    KT_STREQ(small, strlen(small), "a\"b");
    KT_EQ(kl_prom_unescape("x", 1, small, 0), -1);
}

static void test_incomplete_and_errors(void) {
    kl_prom_sample_t s;
    KT_EQ(parse("x 1", &s), KL_PROM_INCOMPLETE);
    KT_EQ(parse("", &s), KL_PROM_INCOMPLETE);
    static const char *const bad[] = {
        "1x 1\n",          "x\n",           "x 1 2 3\n",       "x{a=\"1\"}1\n",      "x{a=1} 1\n",
        "x{a=\"1} 1\n",    "x{a=\"1\"\n",   "x{1a=\"1\"} 1\n", "x{a:b=\"1\"} 1\n",   "x{a=\"\\q\"} 1\n",
        "x 0x10\n",        "x 1,5\n",       "x one\n",         "x{a=\"1\" b=\"2\"} 1\n", "x 1 12a\n",
        "x 1 -\n",         "x{,} 1\n",      "{a=\"1\"} 1\n",   "x{a=\"1\"}} 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ssize_t r = parse(bad[i], &s);
        if (r != KL_PROM_ERROR) fprintf(stderr, "  accepted: %s", bad[i]);
        KT_EQ(r, KL_PROM_ERROR);
    }
    /* a NUL inside a line */
    static const char nul[] = "x{a=\"b\0c\"} 1\n";
    char *g0 = kt_guard_copy(nul, sizeof nul - 1);
    KT_EQ(kl_prom_parse_line(g0, sizeof nul - 1, &s), KL_PROM_ERROR);
    kt_guard_free(g0, sizeof nul - 1);
    /* more labels than KL_PROM_MAX_LABELS */
    char many[1024] = "x{";
    for (int i = 0; i <= KL_PROM_MAX_LABELS; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "l%d=\"v\",", i);
    strcat(many, "} 1\n");
    KT_EQ(parse(many, &s), KL_PROM_ERROR);
    /* a line longer than KL_PROM_MAX_LINE without '\n' is an error, not a wait for more */
    size_t n = KL_PROM_MAX_LINE + 10;
    char *big = malloc(n);
    memset(big, 'a', n);
    char *g = kt_guard_copy(big, n);
    KT_EQ(kl_prom_parse_line(g, n, &s), KL_PROM_ERROR);
    kt_guard_free(g, n);
    free(big);
}

int main(void) {
    KT_RUN(test_samples);
    KT_RUN(test_comments_and_blank_lines);
    KT_RUN(test_escapes);
    KT_RUN(test_incomplete_and_errors);
    return KT_DONE();
}
