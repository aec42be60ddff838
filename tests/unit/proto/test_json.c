#include "proto/json.h"
#include "kt.h"

static void escapes_specials(void) {
    char out[64];
    const char in[] = "a\"b\\c\n\x01";
    size_t n = kl_json_escape(out, sizeof(out), in, sizeof(in) - 1);
    KT_STREQ(out, n, "a\\\"b\\\\c\\n\\u0001");
}

static void replaces_invalid_utf8(void) {
    char out[64];
    const char in[] = "ok\xff\xc3\xa9\xed\xa0\x80";
    size_t n = kl_json_escape(out, sizeof(out), in, sizeof(in) - 1);
    KT_STREQ(out, n, "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void truncates_without_splitting_escapes(void) {
    char out[6];
    size_t n = kl_json_escape(out, sizeof(out), "abcd\"efg", 8);
    KT_EQ(n, 9);
    KT_CHECK(strcmp(out, "abcd") == 0); /* the \" would not fit whole */
}

int main(void) {
    KT_RUN(escapes_specials);
    KT_RUN(replaces_invalid_utf8);
    KT_RUN(truncates_without_splitting_escapes);
    return KT_DONE();
}
