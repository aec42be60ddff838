/* test_sql_body.c - a route's JSON body against its @field lines (src/app/sql_body.c): what
 * is refused and the message naming the field, what each type binds, absent and null
 * optionals, allow-extra. Bodies end at a guard page (kt_guard_copy). */
#include <errno.h>
#include <stdint.h>

#include "app/sql_body.h"
#include "kt.h"

static kl_recycler_t rc;
static kl_arena_t a;
static kl_route_def_t d;
static const char *vals[KL_ROUTE_MAX_FIELDS];
static char msg[512];

/* A POST route with @body json (plus opts) and the given @field lines; the SQL reads the
 * whole body, so the fields need not be bound. */
static void route(const char *opts, const char *fields) {
    char f[4096], err[256];
    snprintf(f, sizeof(f), "-- @route POST /t\n-- @body json %s\n%sSELECT :body", opts, fields);
    kl_routefile_free(&d);
    int r = kl_routefile_parse("t.sql", f, strlen(f), &d, err, sizeof(err));
    if (r != 0) fprintf(stderr, "  route: %s\n", err);
    KT_EQ(r, 0);
}

static int check(const char *body) {
    size_t len = strlen(body);
    char *g = kt_guard_copy(body, len);
    memset(vals, 0x55, sizeof(vals)); /* garbage: every field must be set */
    msg[0] = '\0';
    int r = kl_sql_body_check(&a, &d, (kl_str_t){g, len}, vals, msg, sizeof(msg));
    /* the values are arena copies: the body may go */
    kt_guard_free(g, len);
    return r;
}

#define OK(body)                                                                               \
    do {                                                                                       \
        int r_ = check(body);                                                                  \
        if (r_ != 0) fprintf(stderr, "  %s:%d: %s -> %d %s\n", __FILE__, __LINE__, (body), r_, msg); \
        KT_EQ(r_, 0);                                                                          \
    } while (0)

#define REFUSED(body, want)                                                                    \
    do {                                                                                       \
        int r_ = check(body);                                                                  \
        if (r_ != -EINVAL || strcmp(msg, (want)) != 0) {                                       \
            fprintf(stderr, "  %s:%d: %s -> %d \"%s\", want \"%s\"\n", __FILE__, __LINE__, (body), r_, msg, \
                    (want));                                                                   \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

#define VAL(k, want)                                                                           \
    do {                                                                                       \
        if ((want) == NULL ? vals[k] != NULL : vals[k] == NULL || strcmp(vals[k], (want) ? (want) : "") != 0) { \
            fprintf(stderr, "  %s:%d: field %d binds %s, want %s\n", __FILE__, __LINE__, (k),  \
                    vals[k] ? vals[k] : "NULL", (want) ? (want) : "NULL");                     \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

static void test_json_and_shape(void) {
    route("", "");
    OK("{\"anything\":[1,2]}");
    OK("[1,2,3]"); /* without fields any JSON value goes */
    OK("\"text\"");
    REFUSED("{\"a\":1,}", "the request body is not valid JSON: expected a member name in double quotes at byte 7");
    REFUSED("{\"a\":1,\"a\":2}", "the request body is not valid JSON: duplicate member name in the top-level object at byte 7");
    REFUSED("{\"a\":\"\xc0\xae\"}", "the request body is not valid JSON: invalid UTF-8 at byte 6");
    REFUSED("{} x", "the request body is not valid JSON: unexpected data after the JSON value at byte 3");
    route("", "-- @field a int optional\n");
    REFUSED("[1]", "the request body must be a JSON object");
    REFUSED("\"{}\"", "the request body must be a JSON object");
    REFUSED("null", "the request body must be a JSON object");
    OK("{}");
    VAL(0, NULL);
    OK(" { \"a\" : null } ");
    VAL(0, NULL);
}

static void test_required_and_unknown(void) {
    route("", "-- @field title text required maxlen 200\n-- @field amount_cents bigint required min 1 max 100000000\n"
              "-- @field location text optional maxlen 200\n");
    OK("{\"title\":\"Fix\",\"amount_cents\":500}");
    VAL(0, "Fix");
    VAL(1, "500");
    VAL(2, NULL);
    REFUSED("{\"amount_cents\":500}", "body field 'title' is required");
    REFUSED("{\"title\":null,\"amount_cents\":500}", "body field 'title' is required");
    REFUSED("{\"title\":\"x\"}", "body field 'amount_cents' is required");
    REFUSED("{\"title\":\"x\",\"amount_cents\":500,\"colour\":1}",
            "body field 'colour' is not allowed; this route takes title, amount_cents, location");
    REFUSED("{\"Title\":\"x\",\"amount_cents\":500}",
            "body field 'Title' is not allowed; this route takes title, amount_cents, location");
    /* a name that only decodes to a field's is that field */
    OK("{\"\\u0074itle\":\"T\",\"amount_cents\":1}");
    VAL(0, "T");
    /* a long or hostile name is cut in the message, at a character boundary */
    char body[400];
    snprintf(body, sizeof(body), "{\"%s\xc3\xa9zzz\":1}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    KT_EQ(check(body), -EINVAL);
    KT_CHECK(strstr(msg, "body field 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not allowed") == msg);
    route("allow-extra", "-- @field title text required\n");
    OK("{\"title\":\"x\",\"colour\":[1,{\"deep\":true}],\"n\":null}");
    VAL(0, "x");
    REFUSED("{\"colour\":1}", "body field 'title' is required");
}

static void test_integers(void) {
    route("", "-- @field amount_cents bigint required min 1 max 100000000\n-- @field n int optional\n"
              "-- @field b bigint optional\n");
    static const char *const bad[] = {"\"5\"", "5.5", "5.0", "5e0", "0", "-1", "100000001", "true", "[5]", "{}",
                                      "1e3", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"amount_cents\":%s}", bad[i]);
        REFUSED(body, "body field 'amount_cents' must be an integer from 1 to 100000000");
    }
    OK("{\"amount_cents\":1}");
    VAL(0, "1");
    OK("{\"amount_cents\":100000000,\"n\":-2147483648,\"b\":-9223372036854775808}");
    VAL(0, "100000000");
    VAL(1, "-2147483648");
    VAL(2, "-9223372036854775808");
    OK("{\"amount_cents\":5,\"n\":2147483647,\"b\":9223372036854775807}");
    VAL(1, "2147483647");
    VAL(2, "9223372036854775807");
    OK("{\"amount_cents\":5,\"n\":-0}");
    VAL(1, "-0"); /* as written: PostgreSQL reads it as 0 */
    REFUSED("{\"amount_cents\":5,\"n\":2147483648}", "body field 'n' must be an integer from -2147483648 to 2147483647");
    REFUSED("{\"amount_cents\":5,\"n\":-2147483649}", "body field 'n' must be an integer from -2147483648 to 2147483647");
    REFUSED("{\"amount_cents\":5,\"b\":9223372036854775808}",
            "body field 'b' must be an integer from -9223372036854775808 to 9223372036854775807");
    route("", "-- @field n int required min -10\n");
    REFUSED("{\"n\":-11}", "body field 'n' must be an integer from -10 to 2147483647");
}

static void test_numeric(void) {
    route("", "-- @field p numeric required min 0 max 1000\n-- @field q numeric optional\n"
              "-- @field r numeric optional min 5\n-- @field s numeric optional max -5\n");
    OK("{\"p\":0}");
    OK("{\"p\":1000,\"q\":-1.25e-300}");
    VAL(0, "1000");
    VAL(1, "-1.25e-300");
    OK("{\"p\":999.999999999999999999999,\"q\":123456789012345678901234567890}");
    VAL(0, "999.999999999999999999999");
    VAL(1, "123456789012345678901234567890");
    OK("{\"p\":1e3}");
    VAL(0, "1e3");
    REFUSED("{\"p\":1000.0000000000000000001}", "body field 'p' must be a number from 0 to 1000");
    REFUSED("{\"p\":-0.000001}", "body field 'p' must be a number from 0 to 1000");
    REFUSED("{\"p\":1.1e3}", "body field 'p' must be a number from 0 to 1000");
    REFUSED("{\"p\":\"5\"}", "body field 'p' must be a number from 0 to 1000");
    REFUSED("{\"p\":5,\"q\":\"1\"}", "body field 'q' must be a number");
    REFUSED("{\"p\":5,\"r\":4.9}", "body field 'r' must be a number of at least 5");
    REFUSED("{\"p\":5,\"s\":-4.9}", "body field 's' must be a number of at most -5");
    OK("{\"p\":5,\"r\":5,\"s\":-5}");
}

static void test_text(void) {
    route("", "-- @field t text required minlen 2 maxlen 4\n-- @field u text optional maxlen 1\n"
              "-- @field v text optional minlen 1\n-- @field status text optional one-of open|in_progress\n");
    OK("{\"t\":\"ab\"}");
    /* characters, not bytes: four two-byte letters, an emoji as one surrogate pair */
    OK("{\"t\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"u\":\"\\ud83d\\ude00\"}");
    VAL(0, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    VAL(1, "\xf0\x9f\x98\x80");
    /* every escape decodes; quotes and backslashes survive */
    route("", "-- @field t text required\n");
    OK("{\"t\":\"\\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\"}");
    VAL(0, "\"q\" \\ / \b\f\n\r\t \xc3\xa9");
    OK("{\"t\":\"\"}");
    VAL(0, "");
    REFUSED("{\"t\":\"a\\u0000b\"}", "body field 't' must not contain \\u0000 (text cannot hold NUL)");
    REFUSED("{\"t\":5}", "body field 't' must be a string");
    REFUSED("{\"t\":[\"x\"]}", "body field 't' must be a string");
    REFUSED("{\"t\":true}", "body field 't' must be a string");
    route("", "-- @field t text required minlen 2 maxlen 4\n-- @field u text optional maxlen 1\n"
              "-- @field v text optional minlen 1\n-- @field status text optional one-of open|in_progress\n");
    REFUSED("{\"t\":\"a\"}", "body field 't' must be a string of 2 to 4 characters");
    REFUSED("{\"t\":\"abcde\"}", "body field 't' must be a string of 2 to 4 characters");
    REFUSED("{\"t\":\"ab\",\"u\":\"ab\"}", "body field 'u' must be a string of at most 1 character");
    REFUSED("{\"t\":\"ab\",\"v\":\"\"}", "body field 'v' must be a string of at least 1 character");
    REFUSED("{\"t\":\"ab\",\"status\":\"closed\"}", "body field 'status' must be one of open, in_progress");
    REFUSED("{\"t\":\"ab\",\"status\":\"OPEN\"}", "body field 'status' must be one of open, in_progress");
    OK("{\"t\":\"ab\",\"status\":\"in_\\u0070rogress\"}");
    VAL(3, "in_progress");
}

static void test_bool_uuid_time_json(void) {
    route("", "-- @field ok bool required\n-- @field id uuid optional\n-- @field at timestamptz optional\n"
              "-- @field meta json optional\n");
    OK("{\"ok\":true}");
    VAL(0, "true");
    VAL(1, NULL);
    OK("{\"ok\":false,\"id\":\"123e4567-E89B-12d3-a456-426614174000\",\"at\":\"2024-05-01T12:00:00.5+02:00\"}");
    VAL(0, "false");
    VAL(1, "123e4567-E89B-12d3-a456-426614174000");
    VAL(2, "2024-05-01T12:00:00.5+02:00");
    REFUSED("{\"ok\":\"true\"}", "body field 'ok' must be true or false");
    REFUSED("{\"ok\":1}", "body field 'ok' must be true or false");
    REFUSED("{\"ok\":true,\"id\":\"123e4567e89b12d3a456426614174000\"}", "body field 'id' must be a UUID string");
    REFUSED("{\"ok\":true,\"id\":5}", "body field 'id' must be a UUID string");
    REFUSED("{\"ok\":true,\"at\":\"2024-05-01T12:00:00\"}",
            "body field 'at' must be a date-time string with a time zone offset (RFC 3339, e.g. 2024-05-01T12:00:00Z)");
    REFUSED("{\"ok\":true,\"at\":1714564800}",
            "body field 'at' must be a date-time string with a time zone offset (RFC 3339, e.g. 2024-05-01T12:00:00Z)");
    /* json: any value, bound as written */
    static const char *const js[] = {"{\"a\": [1, \"\\u0000\"]}", "[]", "\"s\\n\"", "-1.5e3", "true", "false"};
    for (size_t i = 0; i < sizeof(js) / sizeof(js[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"ok\":true,\"meta\":%s}", js[i]);
        OK(body);
        VAL(3, js[i]);
    }
    OK("{\"ok\":true,\"meta\":null}");
    VAL(3, NULL);
}

/* Random bodies from pieces: never a crash, and an accepted body binds exactly the declared
 * fields, each a NUL-free C string. */
static void test_random_bodies(void) {
    route("", "-- @field a int optional\n-- @field b text optional maxlen 3\n-- @field c json optional\n");
    static const char *const pieces[] = {"{", "}", "[", "]", ",", ":", "\"a\"", "\"b\"", "\"c\"", "\"d\"", "1",
                                         "-0", "1.5", "\"x\"", "\"\\u0000\"", "null", "true", " ", "\"\\ud83d\"",
                                         "\"\xc3\xa9\"", "\xff", "\"a\":", "\"b\":\"xyz\"", "2147483648"};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char buf[256];
    int ok = 0;
    for (int round = 0; round < 30000; round++) {
        size_t len = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int n = (int)(x % 12);
        for (int k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *pc = pieces[x % (sizeof(pieces) / sizeof(pieces[0]))];
            if (len + strlen(pc) >= sizeof(buf)) break;
            memcpy(buf + len, pc, strlen(pc));
            len += strlen(pc);
        }
        buf[len] = '\0';
        int r = check(buf);
        if (r == 0) {
            ok++;
            for (int k = 0; k < 3; k++) KT_CHECK(vals[k] == NULL || strlen(vals[k]) < sizeof(buf));
        } else {
            KT_EQ(r, -EINVAL);
            KT_CHECK(msg[0] != '\0');
        }
        kl_arena_reset(&a);
    }
    KT_CHECK(ok > 0);
}

int main(void) {
    kl_recycler_init(&rc, 64 * 1024, 4);
    kl_arena_init(&a, &rc);
    KT_RUN(test_json_and_shape);
    KT_RUN(test_required_and_unknown);
    KT_RUN(test_integers);
    KT_RUN(test_numeric);
    KT_RUN(test_text);
    KT_RUN(test_bool_uuid_time_json);
    KT_RUN(test_random_bodies);
    kl_routefile_free(&d);
    kl_arena_reset(&a);
    kl_recycler_destroy(&rc);
    return KT_DONE();
}
