#include <string.h>

#include "kt.h"
#include "proto/pg_json.h"

/* Writes v as kind k; checks that counting (out NULL) gives the written length. */
static size_t value(char *out, kl_pgjson_kind_t k, const char *v) {
    size_t n = kl_pgjson_value(NULL, k, v, strlen(v));
    size_t w = kl_pgjson_value(out, k, v, strlen(v));
    KT_EQ(n, w);
    return w;
}

static void kinds_of_builtin_types(void) {
    KT_EQ(kl_pgjson_kind(20), KL_PGJSON_NUMBER);   /* int8 */
    KT_EQ(kl_pgjson_kind(1700), KL_PGJSON_NUMBER); /* numeric */
    KT_EQ(kl_pgjson_kind(16), KL_PGJSON_BOOL);
    KT_EQ(kl_pgjson_kind(3802), KL_PGJSON_RAW);    /* jsonb */
    KT_EQ(kl_pgjson_kind(1184), KL_PGJSON_TIMESTAMPTZ);
    KT_EQ(kl_pgjson_kind(25), KL_PGJSON_STRING);   /* text */
    KT_EQ(kl_pgjson_kind(1009), KL_PGJSON_OTHER);  /* text[] */
    KT_EQ(kl_pgjson_kind(2249), KL_PGJSON_OTHER);  /* record */
    KT_EQ(kl_pgjson_kind(16385), KL_PGJSON_OTHER); /* a type of the database's own */
    KT_CHECK(kl_pgjson_kind_dated(KL_PGJSON_DATE) && !kl_pgjson_kind_dated(KL_PGJSON_STRING));
}

static void numbers_as_written_unless_not_json(void) {
    char out[64];
    size_t n = value(out, KL_PGJSON_NUMBER, "-12.50e+3");
    KT_STREQ(out, n, "-12.50e+3");
    n = value(out, KL_PGJSON_NUMBER, "NaN");
    KT_STREQ(out, n, "\"NaN\"");
    n = value(out, KL_PGJSON_NUMBER, "-Infinity");
    KT_STREQ(out, n, "\"-Infinity\"");
    const char *bad[] = {"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) KT_CHECK(!kl_pgjson_is_number(bad[i], strlen(bad[i])));
    const char *good[] = {"0", "-0", "0.5", "10", "1e5", "1E-7", "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) KT_CHECK(kl_pgjson_is_number(good[i], strlen(good[i])));
}

static void strings_escaped_as_postgresql_does(void) {
    char out[128];
    const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9";
    size_t n = kl_pgjson_string(NULL, in, sizeof(in) - 1);
    KT_EQ(n, kl_pgjson_string(out, in, sizeof(in) - 1));
    KT_STREQ(out, n, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xc3\xa9\"");
    n = value(out, KL_PGJSON_STRING, "");
    KT_STREQ(out, n, "\"\"");
}

static void bools_and_raw_json(void) {
    char out[64];
    size_t n = value(out, KL_PGJSON_BOOL, "t");
    KT_STREQ(out, n, "true");
    n = value(out, KL_PGJSON_BOOL, "f");
    KT_STREQ(out, n, "false");
    n = value(out, KL_PGJSON_RAW, "{\"a\": [1, 2]}");
    KT_STREQ(out, n, "{\"a\": [1, 2]}");
}

static void timestamps_in_xsd_form(void) {
    char out[96];
    size_t n = value(out, KL_PGJSON_TIMESTAMPTZ, "2024-05-01 12:34:56.789+00");
    KT_STREQ(out, n, "\"2024-05-01T12:34:56.789+00:00\"");
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "2024-05-01 12:34:56-03:30");
    KT_STREQ(out, n, "\"2024-05-01T12:34:56-03:30\"");
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "1900-01-01 00:19:32+00:19:32");
    KT_STREQ(out, n, "\"1900-01-01T00:19:32+00:19:32\"");
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "0044-03-15 10:00:00+00 BC");
    KT_STREQ(out, n, "\"0044-03-15T10:00:00+00:00 BC\"");
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "12345-01-01 00:00:00-05");
    KT_STREQ(out, n, "\"12345-01-01T00:00:00-05:00\"");
    n = value(out, KL_PGJSON_TIMESTAMP, "0044-03-15 10:00:00.5 BC");
    KT_STREQ(out, n, "\"0044-03-15T10:00:00.5 BC\"");
    n = value(out, KL_PGJSON_TIMESTAMP, "2024-05-01 12:34:56");
    KT_STREQ(out, n, "\"2024-05-01T12:34:56\"");
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "-infinity");
    KT_STREQ(out, n, "\"-infinity\"");
    n = value(out, KL_PGJSON_DATE, "2024-02-29");
    KT_STREQ(out, n, "\"2024-02-29\"");
    /* not DateStyle ISO (refused at startup): still a valid JSON string, never a crash */
    n = value(out, KL_PGJSON_TIMESTAMPTZ, "Wed May 01 12:34:56 2024 \"UTC\"");
    KT_STREQ(out, n, "\"Wed May 01 12:34:56 2024 \\\"UTC\\\"\"");
}

int main(void) {
    KT_RUN(kinds_of_builtin_types);
    KT_RUN(numbers_as_written_unless_not_json);
    KT_RUN(strings_escaped_as_postgresql_does);
    KT_RUN(bools_and_raw_json);
    KT_RUN(timestamps_in_xsd_form);
    return KT_DONE();
}
