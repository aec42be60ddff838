#include "proto/url.h"
#include "kt.h"

static ssize_t dec(const char *in, char *out, bool plus) {
    size_t n = strlen(in);
    char *g = kt_guard_copy(in, n);
    ssize_t r = kl_url_decode(out, g, n, plus);
    kt_guard_free(g, n);
    return r;
}

static void decodes_percent_and_plus(void) {
    char out[64];
    ssize_t n = dec("a%20b%2Fc+d", out, true);
    KT_STREQ(out, n, "a b/c d");
    n = dec("a+b", out, false);
    KT_STREQ(out, n, "a+b");
    n = dec("%e2%82%AC", out, false);
    KT_STREQ(out, n, "\xe2\x82\xac");
}

static void rejects_bad_escapes(void) {
    char out[64];
    KT_EQ(dec("%", out, false), -1);
    KT_EQ(dec("%2", out, false), -1);
    KT_EQ(dec("ab%", out, false), -1);
    KT_EQ(dec("%zz", out, false), -1);
    KT_EQ(dec("a%00b", out, false), -1);
}

static void iterates_query_pairs(void) {
    const char *q = "status=open&&limit=20&flag&x=&=v";
    kl_query_iter_t it;
    kl_query_begin(&it, (kl_str_t){q, strlen(q)});
    kl_str_t k, v;
    KT_CHECK(kl_query_next(&it, &k, &v));
    KT_STREQ(k.base, k.len, "status");
    KT_STREQ(v.base, v.len, "open");
    KT_CHECK(kl_query_next(&it, &k, &v));
    KT_STREQ(k.base, k.len, "limit");
    KT_STREQ(v.base, v.len, "20");
    KT_CHECK(kl_query_next(&it, &k, &v));
    KT_STREQ(k.base, k.len, "flag");
    KT_EQ(v.len, 0);
    KT_CHECK(kl_query_next(&it, &k, &v));
    KT_STREQ(k.base, k.len, "x");
    KT_EQ(v.len, 0);
    KT_CHECK(kl_query_next(&it, &k, &v));
    KT_EQ(k.len, 0);
    KT_STREQ(v.base, v.len, "v");
    KT_CHECK(!kl_query_next(&it, &k, &v));
    kl_query_begin(&it, (kl_str_t){NULL, 0});
    KT_CHECK(!kl_query_next(&it, &k, &v));
}

static bool int_of(const char *s, int64_t *v) { return kl_value_int((kl_str_t){s, strlen(s)}, v); }

static void typed_values(void) {
    int64_t v;
    KT_CHECK(int_of("42", &v) && v == 42);
    KT_CHECK(int_of("-7", &v) && v == -7);
    KT_CHECK(int_of("0", &v) && v == 0);
    KT_CHECK(int_of("9223372036854775807", &v) && v == INT64_MAX);
    KT_CHECK(int_of("-9223372036854775808", &v) && v == INT64_MIN);
    KT_CHECK(!int_of("9223372036854775808", &v));
    KT_CHECK(!int_of("", &v));
    KT_CHECK(!int_of("-", &v));
    KT_CHECK(!int_of("-0", &v));
    KT_CHECK(!int_of("007", &v));
    KT_CHECK(!int_of("+1", &v));
    KT_CHECK(!int_of("1e3", &v));
    KT_CHECK(!int_of("99999999999999999999", &v));
    KT_CHECK(kl_value_uuid(KL_STR("123e4567-e89b-12d3-a456-426614174000")));
    KT_CHECK(kl_value_uuid(KL_STR("123E4567-E89B-12D3-A456-426614174000")));
    KT_CHECK(!kl_value_uuid(KL_STR("123e4567e89b12d3a456426614174000")));
    KT_CHECK(!kl_value_uuid(KL_STR("123e4567-e89b-12d3-a456-42661417400g")));
    bool b;
    KT_CHECK(kl_value_bool(KL_STR("true"), &b) && b);
    KT_CHECK(kl_value_bool(KL_STR("0"), &b) && !b);
    KT_CHECK(!kl_value_bool(KL_STR("yes"), &b));
}

int main(void) {
    KT_RUN(decodes_percent_and_plus);
    KT_RUN(rejects_bad_escapes);
    KT_RUN(iterates_query_pairs);
    KT_RUN(typed_values);
    return KT_DONE();
}
