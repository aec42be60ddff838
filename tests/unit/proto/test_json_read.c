/* test_json_read.c - the strict JSON reader (src/proto/json_read.c).
 *
 * Every document sits at the end of a page followed by a PROT_NONE page (kt_guard_copy), so
 * an over-read faults; documents that end inside a token are the interesting ones. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "proto/json_read.h"

static kl_json_error_t jerr;

/* Validates s[0..len) in a guarded copy. */
static int validate_n(const char *s, size_t len) {
    char *g = kt_guard_copy(s, len);
    memset(&jerr, 0, sizeof(jerr));
    int r = kl_json_validate(g, len, &jerr);
    kt_guard_free(g, len);
    return r;
}

static int validate(const char *s) { return validate_n(s, strlen(s)); }

#define VALID(s, type)                                                                         \
    do {                                                                                       \
        int r_ = validate(s);                                                                  \
        if (r_ != (type)) {                                                                    \
            fprintf(stderr, "  %s:%d: '%s' -> %d (%s at %zu), want %d\n", __FILE__, __LINE__, \
                    (s), r_, r_ < 0 ? jerr.reason : "", jerr.offset, (int)(type));             \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

/* Expects -EINVAL at byte `at` with a reason containing want. */
#define INVALID_N(s, len, at, want)                                                            \
    do {                                                                                       \
        int r_ = validate_n((s), (len));                                                       \
        if (r_ != -EINVAL || jerr.offset != (size_t)(at) || jerr.reason == NULL ||             \
            strstr(jerr.reason, (want)) == NULL) {                                             \
            fprintf(stderr, "  %s:%d: '%.*s' -> %d (%s at %zu), want -EINVAL (%s at %zu)\n",   \
                    __FILE__, __LINE__, (int)(len), (s), r_, jerr.reason ? jerr.reason : "",   \
                    jerr.offset, (want), (size_t)(at));                                        \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)
#define INVALID(s, at, want) INVALID_N((s), strlen(s), (at), (want))

static void test_valid_documents(void) {
    VALID("{}", KL_JSON_OBJECT);
    VALID(" \t\r\n{ \"a\" : 1 , \"b\":[ ], \"c\" : { } } \n", KL_JSON_OBJECT);
    VALID("[]", KL_JSON_ARRAY);
    VALID("[1,\"x\",true,false,null,{\"a\":[{}]},[[]]]", KL_JSON_ARRAY);
    VALID("\"\"", KL_JSON_STRING);
    VALID("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", KL_JSON_STRING);
    VALID("0", KL_JSON_NUMBER);
    VALID("-0", KL_JSON_NUMBER);
    VALID("-0.0e-0", KL_JSON_NUMBER);
    VALID("123456789012345678901234567890", KL_JSON_NUMBER);
    VALID("1.5E+308", KL_JSON_NUMBER);
    VALID("1e999999999999", KL_JSON_NUMBER); /* the grammar has no range */
    VALID("true", KL_JSON_TRUE);
    VALID("false", KL_JSON_FALSE);
    VALID(" null ", KL_JSON_NULL);
    /* nested objects may repeat names; only the top level's are unique */
    VALID("{\"a\":{\"x\":1,\"x\":2},\"b\":[{\"a\":1},{\"a\":1}]}", KL_JSON_OBJECT);
    VALID("[{\"a\":1,\"a\":2}]", KL_JSON_ARRAY);
    /* names that differ only after a prefix, or by case */
    VALID("{\"a\":1,\"ab\":2,\"A\":3,\"\":4,\"b\":5}", KL_JSON_OBJECT);
}

static void test_invalid_documents(void) {
    INVALID("", 0, "empty document");
    INVALID("   ", 3, "empty document");
    INVALID("\xef\xbb\xbf{}", 0, "byte order mark");
    INVALID("{} x", 3, "unexpected data after");
    INVALID("{}{}", 2, "unexpected data after");
    INVALID("1 2", 2, "unexpected data after");
    INVALID("{", 1, "unexpected end");
    INVALID("{\"a\"", 4, "expected ':'");
    INVALID("{\"a\":", 5, "unexpected end");
    INVALID("{\"a\":1", 6, "unexpected end");
    INVALID("{\"a\":1,}", 7, "expected a member name");
    INVALID("{\"a\" 1}", 5, "expected ':'");
    INVALID("{a:1}", 1, "expected a member name");
    INVALID("{'a':1}", 1, "expected a member name");
    INVALID("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
    INVALID("[1,]", 3, "unexpected character");
    INVALID("[1 2]", 3, "expected ',' or ']'");
    INVALID("[1}", 2, "expected ',' or ']'");
    INVALID("{\"a\":1]", 6, "expected ',' or '}'");
    INVALID("[", 1, "unexpected end");
    INVALID("]", 0, "unexpected character");
    INVALID("[,1]", 1, "unexpected character");
    INVALID("tru", 0, "invalid literal");
    INVALID("True", 0, "unexpected character");
    INVALID("nul", 0, "invalid literal");
    INVALID("nulll", 4, "unexpected data");
    INVALID("undefined", 0, "unexpected character");
    INVALID("NaN", 0, "unexpected character");
    INVALID("// c\n{}", 0, "unexpected character");
    INVALID("{}/* c */", 2, "unexpected data");
    INVALID_N("\x00{}", 3, 0, "unexpected character");
    INVALID_N("{}\x00", 3, 2, "unexpected data");
    INVALID("\v{}", 0, "unexpected character"); /* only four whitespace bytes */
    INVALID("\xc2\xa0{}", 0, "unexpected character");
}

static void test_numbers(void) {
    static const char *const good[] = {"0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e5", "1E5", "1e+5", "1e-5",
                                       "1.25e10", "9223372036854775807", "-9223372036854775808",
                                       "99999999999999999999999", "0e0", "0.0000"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) VALID(good[i], KL_JSON_NUMBER);
    INVALID("01", 1, "leading zero");
    INVALID("-01", 2, "leading zero");
    INVALID("00", 1, "leading zero");
    INVALID("-", 1, "invalid number");
    INVALID("-a", 1, "invalid number");
    INVALID("+1", 0, "unexpected character");
    INVALID(".5", 0, "unexpected character");
    INVALID("1.", 2, "no digit after '.'");
    INVALID("1.e5", 2, "no digit after '.'");
    INVALID("1e", 2, "no digit in the exponent");
    INVALID("1e+", 3, "no digit in the exponent");
    INVALID("1e-x", 3, "no digit in the exponent");
    INVALID("0x10", 1, "unexpected data");
    INVALID("1.5.5", 3, "unexpected data");
    INVALID("[1.]", 3, "no digit after '.'");
    INVALID("{\"a\":-}", 6, "invalid number");
    INVALID("Infinity", 0, "unexpected character");
    INVALID("-Infinity", 1, "invalid number");
}

static void test_strings(void) {
    INVALID("\"abc", 4, "unterminated string");
    INVALID("\"abc\\", 5, "unterminated string");
    INVALID("\"abc\\\"", 6, "unterminated string");
    INVALID("\"a\tb\"", 2, "control character");
    INVALID("\"a\nb\"", 2, "control character");
    INVALID_N("\"a\x00" "b\"", 5, 2, "control character");
    INVALID("\"\x1f\"", 1, "control character");
    VALID("\"\x7f\"", KL_JSON_STRING); /* DEL is not a control character to JSON */
    INVALID("\"\\x41\"", 1, "invalid escape");
    INVALID("\"\\a\"", 1, "invalid escape");
    INVALID("\"\\'\"", 1, "invalid escape");
    INVALID("\"\\U0041\"", 1, "invalid escape");
    INVALID("\"\\u\"", 1, "invalid \\u escape");
    INVALID("\"\\u12\"", 1, "invalid \\u escape");
    INVALID("\"\\u12", 1, "invalid \\u escape");
    INVALID("\"\\u12g4\"", 1, "invalid \\u escape");
    INVALID("\"\\u 123\"", 1, "invalid \\u escape");
    VALID("\"\\u00e9\\u00E9\\uFFFF\\uffff\\u0000\"", KL_JSON_STRING);
    INVALID("'a'", 0, "unexpected character");
}

static void test_surrogates(void) {
    VALID("\"\\ud83d\\ude00\"", KL_JSON_STRING);
    VALID("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", KL_JSON_STRING);
    INVALID("\"\\ud800\"", 1, "unpaired surrogate");
    INVALID("\"\\udc00\"", 1, "unpaired surrogate");
    INVALID("\"\\udfff\\ud800\"", 1, "unpaired surrogate");
    INVALID("\"x\\ud800\\u0041\"", 2, "unpaired surrogate");
    INVALID("\"\\ud800\\ud800\"", 1, "unpaired surrogate");
    INVALID("\"\\ud800x\"", 1, "unpaired surrogate");
    INVALID("\"\\ud800\\n\"", 1, "unpaired surrogate");
    INVALID("\"\\ud800\\", 1, "unpaired surrogate"); /* cut inside the pair: at the guard page */
    INVALID("\"\\ud800\\udc0", 1, "unpaired surrogate");
    /* surrogates written as UTF-8 bytes are invalid UTF-8, not a pair */
    INVALID("\"\xed\xa0\xbd\xed\xb8\x80\"", 1, "invalid UTF-8");
}

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t at;
    } bad[] = {
        {"\"\xc0\x80\"", 1},             /* overlong NUL */
        {"\"\xc1\xbf\"", 1},             /* overlong 2-byte */
        {"\"\xe0\x80\x80\"", 1},         /* overlong 3-byte */
        {"\"\xe0\x9f\xbf\"", 1},         /* overlong U+07FF */
        {"\"\xf0\x80\x80\x80\"", 1},     /* overlong 4-byte */
        {"\"\xf0\x8f\xbf\xbf\"", 1},     /* overlong U+FFFF */
        {"\"\xed\xa0\x80\"", 1},         /* U+D800 */
        {"\"\xed\xbf\xbf\"", 1},         /* U+DFFF */
        {"\"\xf4\x90\x80\x80\"", 1},     /* U+110000 */
        {"\"\xf5\x80\x80\x80\"", 1},
        {"\"\xff\"", 1},
        {"\"\xfe\"", 1},
        {"\"a\x80\"", 2},                /* a lone continuation byte */
        {"\"\xc3\"", 1},                 /* cut: the quote is no continuation */
        {"\"\xe2\x82\"", 1},
        {"\"\xf0\x9f\x98\"", 1},
        {"\"\xc3\xc3\xa9\"", 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) INVALID(bad[i].s, bad[i].at, "invalid UTF-8");
    /* a sequence cut by the end of the buffer, right at the guard page */
    INVALID_N("\"\xe2\x82", 3, 1, "invalid UTF-8");
    INVALID_N("\"\xf0\x9f\x98", 4, 1, "invalid UTF-8");
    INVALID_N("\"\xc3", 2, 1, "invalid UTF-8");
    /* the edges that are valid */
    VALID("\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"",
          KL_JSON_STRING);
    /* invalid UTF-8 in a name too */
    INVALID("{\"\xc0\xae\":1}", 2, "invalid UTF-8");
}

static void test_depth(void) {
    char buf[400];
    size_t n = 0;
    for (int i = 0; i < KL_JSON_MAX_DEPTH; i++) buf[n++] = '[';
    for (int i = 0; i < KL_JSON_MAX_DEPTH; i++) buf[n++] = ']';
    KT_EQ(validate_n(buf, n), KL_JSON_ARRAY);
    n = 0;
    for (int i = 0; i <= KL_JSON_MAX_DEPTH; i++) buf[n++] = '[';
    for (int i = 0; i <= KL_JSON_MAX_DEPTH; i++) buf[n++] = ']';
    INVALID_N(buf, n, KL_JSON_MAX_DEPTH, "nested too deeply");
    /* objects and arrays alternating: each closer must match its own opener */
    n = 0;
    for (int i = 0; i < KL_JSON_MAX_DEPTH / 2; i++) n += (size_t)sprintf(buf + n, "{\"k\":[");
    n += (size_t)sprintf(buf + n, "1");
    for (int i = 0; i < KL_JSON_MAX_DEPTH / 2; i++) n += (size_t)sprintf(buf + n, "]}");
    KT_EQ(validate_n(buf, n), KL_JSON_OBJECT);
    buf[n - 2] = '}', buf[n - 1] = ']'; /* swapped closers */
    KT_EQ(validate_n(buf, n), -EINVAL);
    /* an object at depth 64, an array at 65 */
    n = 0;
    for (int i = 0; i < KL_JSON_MAX_DEPTH - 1; i++) buf[n++] = '[';
    n += (size_t)sprintf(buf + n, "{\"a\":[1]}");
    INVALID_N(buf, n, KL_JSON_MAX_DEPTH - 1 + 5, "nested too deeply");
    /* an unbalanced flood of openers stops at the limit, not at the end */
    static char flood[100000];
    memset(flood, '[', sizeof(flood));
    INVALID_N(flood, sizeof(flood), KL_JSON_MAX_DEPTH, "nested too deeply");
}

static void test_duplicate_names(void) {
    INVALID("{\"a\":1,\"a\":2}", 7, "duplicate member name");
    INVALID("{\"a\":1,\"b\":2,\"a\":{}}", 13, "duplicate member name");
    INVALID("{\"a\":1,\"\\u0061\":2}", 7, "duplicate member name");       /* equal after decoding */
    INVALID("{\"\\u00e9\":1,\"\xc3\xa9\":2}", 12, "duplicate member name");
    INVALID("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", 18, "duplicate member name");
    INVALID("{\"\\/\":1,\"/\":2}", 8, "duplicate member name");
    INVALID("{\"\":1,\"\":2}", 6, "duplicate member name");
    VALID("{\"a\":1,\"a \":2,\"\\u0061b\":3}", KL_JSON_OBJECT);
    /* KL_JSON_MAX_MEMBERS distinct names are fine, one more is not */
    size_t cap = 16 * (KL_JSON_MAX_MEMBERS + 2);
    char *buf = malloc(cap);
    size_t n = 0;
    buf[n++] = '{';
    for (int i = 0; i < KL_JSON_MAX_MEMBERS; i++) n += (size_t)sprintf(buf + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf[n++] = '}';
    KT_EQ(validate_n(buf, n), KL_JSON_OBJECT);
    size_t at = n - 1;
    n = at + (size_t)sprintf(buf + at, ",\"k%d\":0}", KL_JSON_MAX_MEMBERS);
    INVALID_N(buf, n, at + 1, "too many members");
    /* the last of KL_JSON_MAX_MEMBERS repeating the first */
    n = 0;
    buf[n++] = '{';
    for (int i = 0; i < KL_JSON_MAX_MEMBERS - 1; i++) n += (size_t)sprintf(buf + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    at = n + 1;
    n += (size_t)sprintf(buf + n, ",\"k0\":0}");
    INVALID_N(buf, n, at, "duplicate member name");
    free(buf);
}

static void test_large_documents(void) {
    /* several MiB: one long string, then a long array, validated without recursion */
    size_t n = 6u << 20;
    char *buf = malloc(n);
    buf[0] = '"';
    for (size_t i = 1; i < n - 1; i++) buf[i] = (char)('a' + i % 26);
    buf[n - 1] = '"';
    KT_EQ(validate_n(buf, n), KL_JSON_STRING);
    buf[n / 2] = '\x01';
    INVALID_N(buf, n, n / 2, "control character");
    buf[0] = '[';
    for (size_t i = 1; i < n - 1; i++) buf[i] = i % 2 ? '1' : ',';
    buf[n - 1] = ']';
    KT_EQ(validate_n(buf, n), (n - 2) % 2 ? KL_JSON_ARRAY : -EINVAL);
    buf[n - 2] = '1';
    KT_EQ(validate_n(buf, n), KL_JSON_ARRAY);
    free(buf);
}

/* ---- reading ----------------------------------------------------------------------- */

static void test_members(void) {
    const char *doc = " { \"a\" : 1 , \"b\\n\\u00e9\":\"x\\\"y\" ,\"c\":[1,{\"d\":\"}\"}] , \"e\":{\"f\":\"]\"},"
                      "\"g\":true,\"h\":false,\"i\":null,\"j\":-1.5e3 } ";
    size_t len = strlen(doc);
    char *g = kt_guard_copy(doc, len);
    KT_EQ(kl_json_validate(g, len, NULL), KL_JSON_OBJECT);
    static const struct {
        const char *raw, *decoded;
        kl_json_type_t type;
        const char *value;
    } want[] = {
        {"a", "a", KL_JSON_NUMBER, "1"},
        {"b\\n\\u00e9", "b\n\xc3\xa9", KL_JSON_STRING, "\"x\\\"y\""},
        {"c", "c", KL_JSON_ARRAY, "[1,{\"d\":\"}\"}]"},
        {"e", "e", KL_JSON_OBJECT, "{\"f\":\"]\"}"},
        {"g", "g", KL_JSON_TRUE, "true"},
        {"h", "h", KL_JSON_FALSE, "false"},
        {"i", "i", KL_JSON_NULL, "null"},
        {"j", "j", KL_JSON_NUMBER, "-1.5e3"},
    };
    kl_json_iter_t it;
    kl_json_member_t m;
    char name[16];
    KT_CHECK(kl_json_members(&it, g, len));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        KT_CHECK(kl_json_members_next(&it, &m, name, sizeof(name)));
        KT_STREQ(m.name.base, m.name.len, want[i].raw);
        KT_STREQ(name, m.name_len, want[i].decoded);
        KT_EQ(m.type, want[i].type);
        KT_STREQ(m.value.base, m.value.len, want[i].value);
        KT_CHECK(m.value.base >= g && m.value.base + m.value.len <= g + len);
    }
    KT_CHECK(!kl_json_members_next(&it, &m, name, sizeof(name)));
    KT_CHECK(!kl_json_members_next(&it, &m, name, sizeof(name))); /* stays at the end */

    /* a name longer than the buffer: its first bytes, and its whole length */
    KT_CHECK(kl_json_members(&it, g, len));
    KT_CHECK(kl_json_members_next(&it, &m, name, sizeof(name)));
    KT_CHECK(kl_json_members_next(&it, &m, name, 2));
    KT_EQ(m.name_len, 4);
    KT_CHECK(memcmp(name, "b\n", 2) == 0);
    KT_CHECK(kl_json_members_next(&it, &m, NULL, 0));
    KT_EQ(m.name_len, 1);

    /* find: by decoded name */
    KT_CHECK(kl_json_find(g, len, "b\n\xc3\xa9", 4, &m));
    KT_STREQ(m.value.base, m.value.len, "\"x\\\"y\"");
    KT_CHECK(kl_json_find(g, len, "j", 1, &m) && m.type == KL_JSON_NUMBER);
    KT_CHECK(!kl_json_find(g, len, "b", 1, &m));
    KT_CHECK(!kl_json_find(g, len, "d", 1, &m)); /* nested members are not top-level */
    KT_CHECK(!kl_json_find(g, len, "jj", 2, &m));
    kt_guard_free(g, len);

    /* not an object: nothing to walk */
    KT_CHECK(!kl_json_members(&it, "[1]", 3));
    KT_CHECK(!kl_json_members_next(&it, &m, NULL, 0));
    KT_CHECK(!kl_json_find("\"a\"", 3, "a", 1, &m));
    KT_CHECK(kl_json_members(&it, "{}", 2));
    KT_CHECK(!kl_json_members_next(&it, &m, NULL, 0));
    /* a string value's end at the guard page */
    const char *tail = "{\"k\":\"v\"}";
    g = kt_guard_copy(tail, strlen(tail));
    KT_CHECK(kl_json_find(g, strlen(tail), "k", 1, &m));
    KT_STREQ(m.value.base, m.value.len, "\"v\"");
    kt_guard_free(g, strlen(tail));
}

/* Walking bytes that never validated stays inside them (the guard page) and ends. */
static void test_members_of_invalid_input(void) {
    static const char *const junk[] = {"{", "{\"", "{\"a", "{\"a\"", "{\"a\":", "{\"a\":\"", "{\"a\":[",
                                       "{\"a\":[\"", "{\"a\":1,", "{\"a\\", "{\"a\\u12", "{\"a\":{\"b\":\"\\"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        size_t len = strlen(junk[i]);
        char *g = kt_guard_copy(junk[i], len);
        kl_json_iter_t it;
        kl_json_member_t m;
        char name[8];
        int steps = 0;
        kl_json_members(&it, g, len);
        while (kl_json_members_next(&it, &m, name, sizeof(name)) && steps < 10) {
            KT_CHECK(m.value.base >= g && m.value.base + m.value.len <= g + len);
            steps++;
        }
        KT_CHECK(steps < 10);
        kl_json_find(g, len, "a", 1, &m);
        kt_guard_free(g, len);
    }
}

static ssize_t decode(const char *tok, char *out, size_t cap, bool nul) {
    size_t len = strlen(tok);
    char *g = kt_guard_copy(tok, len);
    ssize_t r = kl_json_string(g, len, out, cap, nul);
    kt_guard_free(g, len);
    return r;
}

static void test_string_decode(void) {
    char out[64];
    ssize_t n = decode("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\uFFFD\"", out, sizeof(out), false);
    KT_STREQ(out, n, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbd");
    n = decode("\"caf\xc3\xa9\"", out, sizeof(out), false);
    KT_STREQ(out, n, "caf\xc3\xa9");
    KT_EQ(decode("\"\"", out, sizeof(out), false), 0);
    /* NUL: refused for text, kept when allowed */
    KT_EQ(decode("\"a\\u0000b\"", out, sizeof(out), false), -EILSEQ);
    n = decode("\"a\\u0000b\"", out, sizeof(out), true);
    KT_EQ(n, 3);
    KT_CHECK(n == 3 && memcmp(out, "a\0b", 3) == 0);
    KT_EQ(decode("\"\\u0100\"", out, sizeof(out), false), 2); /* not a NUL */
    /* space: exactly enough, one short */
    KT_EQ(decode("\"abc\"", out, 3, false), 3);
    memset(out, 'Z', sizeof(out));
    KT_EQ(decode("\"abcd\"", out, 3, false), -ENOSPC);
    KT_CHECK(memcmp(out, "abcZ", 4) == 0);
    KT_EQ(decode("\"\\u20ac\"", NULL, 0, false), -ENOSPC);
    /* not exactly one valid string */
    KT_EQ(decode("abc", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"abc", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"abc\"x", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"a\"\"", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"\\ud800\"", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"\xc0\x80\"", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("\"\\q\"", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("1", out, sizeof(out), false), -EINVAL);
    KT_EQ(decode("", out, sizeof(out), false), -EINVAL);
}

static void test_int(void) {
    static const struct {
        const char *s;
        bool ok;
        int64_t v;
    } cases[] = {
        {"0", true, 0}, {"-0", true, 0}, {"7", true, 7}, {"-7", true, -7},
        {"9223372036854775807", true, INT64_MAX}, {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0}, {"-9223372036854775809", false, 0},
        {"10000000000000000000", false, 0}, {"5.0", false, 0}, {"5e0", false, 0}, {"5.5", false, 0},
        {"05", false, 0}, {"", false, 0}, {"-", false, 0}, {"+5", false, 0}, {"1 ", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        bool ok = kl_json_int(cases[i].s, strlen(cases[i].s), &v);
        if (ok != cases[i].ok || (ok && v != cases[i].v)) {
            fprintf(stderr, "  kl_json_int(%s) = %d, %lld\n", cases[i].s, ok, (long long)v);
            kt_failed_checks_++;
        }
    }
}

static int sgn(int x) { return (x > 0) - (x < 0); }

static void test_number_cmp(void) {
    static const struct {
        const char *s;
        int64_t v;
        int want;
    } cases[] = {
        {"0", 0, 0}, {"-0", 0, 0}, {"0.0e5", 0, 0}, {"-0.000", 1, -1}, {"0.000001", 0, 1}, {"-0.000001", 0, -1},
        {"1", 1, 0}, {"1.0", 1, 0}, {"1.000000000000000000000001", 1, 1}, {"0.999999999999999999999", 1, -1},
        {"100", 100, 0}, {"1e2", 100, 0}, {"1E+2", 100, 0}, {"10e1", 100, 0}, {"1000e-1", 100, 0},
        {"0.001e5", 100, 0}, {"0.0011e5", 100, 1}, {"99.9999", 100, -1}, {"100.0001", 100, 1},
        {"-100", -100, 0}, {"-100.5", -100, -1}, {"-99.5", -100, 1}, {"-1e2", -99, -1},
        {"5", -5, 1}, {"-5", 5, -1},
        {"9223372036854775807", INT64_MAX, 0}, {"9223372036854775808", INT64_MAX, 1},
        {"9223372036854775806.9", INT64_MAX, -1}, {"-9223372036854775808", INT64_MIN, 0},
        {"-9223372036854775809", INT64_MIN, -1}, {"-9223372036854775807.5", INT64_MIN, 1},
        {"1e19", INT64_MAX, 1}, {"1e18", INT64_MAX, -1}, {"1e999999999999999999999", INT64_MAX, 1},
        {"-1e999999999999999999999", INT64_MIN, -1}, {"1e-999999999999999999999", 0, 1},
        {"1e-999999999999999999999", 1, -1}, {"123456789012345678901234567890", 1, 1},
        {"0.5", 1, -1}, {"1.5", 1, 1}, {"2", 10, -1}, {"20", 3, 1}, {"12", 13, -1}, {"13", 12, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int c = kl_json_number_cmp(cases[i].s, strlen(cases[i].s), cases[i].v);
        if (sgn(c) != cases[i].want) {
            fprintf(stderr, "  cmp(%s, %lld) = %d, want %d\n", cases[i].s, (long long)cases[i].v, c, cases[i].want);
            kt_failed_checks_++;
        }
    }
    /* random integers, written several ways, against random bounds near them */
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t a = (int64_t)(x >> (x % 63));
        if (x & 1) a = -a;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t v = a;
        if (round % 3 != 0 && __builtin_add_overflow(a, (int64_t)(x % 5) - 2, &v)) continue;
        int want = a < v ? -1 : a > v;
        char forms[4][64];
        snprintf(forms[0], 64, "%lld", (long long)a);
        snprintf(forms[1], 64, "%lld.000", (long long)a);
        snprintf(forms[2], 64, a ? "%lld0e-1" : "%llde-1", (long long)a);
        snprintf(forms[3], 64, "%s0.%llue%d", a < 0 ? "-" : "", (unsigned long long)(a < 0 ? 0 - (uint64_t)a : (uint64_t)a),
                 snprintf(NULL, 0, "%llu", (unsigned long long)(a < 0 ? 0 - (uint64_t)a : (uint64_t)a)));
        for (int f = 0; f < 4; f++) {
            KT_EQ(validate(forms[f]), KL_JSON_NUMBER);
            int c = sgn(kl_json_number_cmp(forms[f], strlen(forms[f]), v));
            if (c != want) {
                fprintf(stderr, "  cmp(%s, %lld) = %d, want %d\n", forms[f], (long long)v, c, want);
                kt_failed_checks_++;
                return;
            }
        }
    }
}

int main(void) {
    KT_RUN(test_valid_documents);
    KT_RUN(test_invalid_documents);
    KT_RUN(test_numbers);
    KT_RUN(test_strings);
    KT_RUN(test_surrogates);
    KT_RUN(test_utf8);
    KT_RUN(test_depth);
    KT_RUN(test_duplicate_names);
    KT_RUN(test_large_documents);
    KT_RUN(test_members);
    KT_RUN(test_members_of_invalid_input);
    KT_RUN(test_string_decode);
    KT_RUN(test_int);
    KT_RUN(test_number_cmp);
    return KT_DONE();
}
