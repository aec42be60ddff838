/* @idempotent: the annotation, the key's syntax, the fingerprint and the wrapped SQL. */
#include "app/idempotency.h"

#include <errno.h>
#include <stdlib.h>

#include "kt.h"

static int parse(const char *text, kl_route_def_t *d, char *err, size_t errlen) {
    return kl_routefile_parse("t.sql", text, strlen(text), d, err, errlen);
}

static void annotation(void) {
    char err[256];
    kl_route_def_t d;
    KT_EQ(parse("-- @route POST /t\n-- @idempotent required\n-- @returns one status 201\nSELECT 1", &d, err, sizeof err), 0);
    KT_EQ(d.idempotent, KL_ROUTE_IDEMPOTENT_REQUIRED);
    KT_EQ(d.idempotent_ttl_ms, 24 * 3600 * 1000);
    kl_routefile_free(&d);
    KT_EQ(parse("-- @route PUT /t\n-- @idempotent optional ttl 90s\n-- @returns none\nSELECT 1", &d, err, sizeof err), 0);
    KT_EQ(d.idempotent, KL_ROUTE_IDEMPOTENT_OPTIONAL);
    KT_EQ(d.idempotent_ttl_ms, 90000);
    kl_routefile_free(&d);

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"-- @route POST /t\n-- @idempotent\nSELECT 1", "t.sql:2: @idempotent takes required or optional"},
        {"-- @route POST /t\n-- @idempotent always\nSELECT 1", "t.sql:2: @idempotent takes required or optional"},
        {"-- @route POST /t\n-- @idempotent required ttl\nSELECT 1",
         "t.sql:2: @idempotent ttl takes a duration from 1s to 366 days (e.g. 24h)"},
        {"-- @route POST /t\n-- @idempotent required ttl 10ms\nSELECT 1",
         "t.sql:2: @idempotent ttl takes a duration from 1s to 366 days (e.g. 24h)"},
        {"-- @route POST /t\n-- @idempotent required ttl 1h x\nSELECT 1", "t.sql:2: unexpected 'x' after @idempotent"},
        {"-- @route POST /t\n-- @idempotent required\n-- @idempotent optional\nSELECT 1",
         "t.sql:3: duplicate @idempotent (first at line 2)"},
        {"-- @route GET /t\n-- @idempotent required\nSELECT 1", "t.sql:2: @idempotent applies to writes, not GET"},
        {"-- @route POST /t\n-- @idempotent required\n-- @returns many\nSELECT 1",
         "t.sql:2: @idempotent needs @returns one or none (its response is stored)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i].text, &d, err, sizeof err);
        if (r != -EINVAL || strcmp(err, bad[i].err) != 0) {
            fprintf(stderr, "  case %zu: r=%d err '%s', want '%s'\n", i, r, err, bad[i].err);
            KT_CHECK(0);
        }
    }
}

static int key(const char *field, char *out) { return kl_idem_parse_key((kl_str_t){field, strlen(field)}, out); }

static void key_syntax(void) {
    char k[KL_IDEM_KEY_MAX + 1];
    KT_EQ(key("8e03978e-40d5-43e8-bc93-6894a57f9324", k), 36);
    KT_CHECK(!strcmp(k, "8e03978e-40d5-43e8-bc93-6894a57f9324"));
    KT_EQ(key("\"8e03978e\"", k), 8); /* RFC 8941 string, as the draft writes it */
    KT_CHECK(!strcmp(k, "8e03978e"));
    KT_EQ(key("\"a \\\"b\\\" \\\\ c\"", k), 9);
    KT_CHECK(!strcmp(k, "a \"b\" \\ c"));
    char longest[KL_IDEM_KEY_MAX + 1];
    memset(longest, 'k', KL_IDEM_KEY_MAX);
    longest[KL_IDEM_KEY_MAX] = '\0';
    KT_EQ(key(longest, k), KL_IDEM_KEY_MAX);
    static const char *const bad[] = {
        "", "\"\"", "a b", "a,b", "a;b", "\"a", "\"a\"b", "\"a\" ", "\"a\\x\"", "\"\t\"", "caf\xc3\xa9", "a\\b", "\"\"\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (key(bad[i], k) != -1) {
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
            KT_CHECK(0);
        }
    }
    char too_long[KL_IDEM_KEY_MAX + 2];
    memset(too_long, 'k', KL_IDEM_KEY_MAX + 1);
    too_long[KL_IDEM_KEY_MAX + 1] = '\0';
    KT_EQ(key(too_long, k), -1);
}

static void fingerprint(void) {
    char a[65], b[65], c[65];
    kl_idem_fingerprint(KL_STR("POST"), KL_STR("/t"), KL_STR("{\"a\":1}"), a);
    kl_idem_fingerprint(KL_STR("POST"), KL_STR("/t"), KL_STR("{\"a\":1}"), b);
    KT_EQ(strlen(a), 64);
    KT_CHECK(!strcmp(a, b));
    /* the stored fingerprints stay what they were: SHA-256 over each part's length (8 bytes,
     * little-endian) and bytes, computed apart with Python's hashlib and struct.pack('<Q') */
    KT_CHECK(!strcmp(a, "d9d9750e1c6efff1a6be029aaec97cefc8eb2c1b65b49e3f492284afb7cf00f4"));
    kl_idem_fingerprint(KL_STR("POST"), KL_STR("/t"), KL_STR("{\"a\":2}"), c);
    KT_CHECK(strcmp(a, c) != 0);
    /* bytes moved from the target to the body make another request */
    kl_idem_fingerprint(KL_STR("POST"), KL_STR("/t{"), KL_STR("\"a\":1}"), c);
    KT_CHECK(strcmp(a, c) != 0);
    kl_idem_fingerprint(KL_STR("PUT"), KL_STR("/t"), KL_STR("{\"a\":1}"), c);
    KT_CHECK(strcmp(a, c) != 0);
    kl_idem_fingerprint(KL_STR("POST"), KL_STR("/t"), (kl_str_t){NULL, 0}, c); /* no body */
    KT_EQ(strlen(c), 64);
}

static void wrapped_sql(void) {
    char err[256];
    kl_route_def_t d;
    KT_EQ(parse("-- @route POST /t/{id:int}\n-- @idempotent required\n-- @returns one status 201\n"
                "SELECT f(:id::int)",
                &d, err, sizeof err),
          0);
    char *w = kl_idem_wrap_sql(&d);
    KT_CHECK(strstr(w, "WITH keel_r AS MATERIALIZED (\nSELECT f($1::int)\n)") != NULL);
    KT_CHECK(strstr(w, "FROM keel_r AS r(keel_v) LIMIT 1") != NULL); /* first column, any name */
    KT_CHECK(strstr(w, "CASE WHEN keel_v.v IS NULL THEN 404 ELSE 201 END") != NULL);
    KT_CHECK(strstr(w, "WHERE i.subject = $2 AND i.route = $3 AND i.key = $4") != NULL);
    free(w);
    kl_routefile_free(&d);
    /* none: a DELETE runs whole unread; a SELECT must be read to run */
    KT_EQ(parse("-- @route DELETE /t/{id:int}\n-- @idempotent required\n-- @returns none\n"
                "DELETE FROM t WHERE id = :id::int",
                &d, err, sizeof err),
          0);
    w = kl_idem_wrap_sql(&d);
    KT_CHECK(strstr(w, "keel_v AS (SELECT 0 AS v)") != NULL);
    KT_CHECK(strstr(w, "SET status = 204, body = NULL") != NULL);
    free(w);
    kl_routefile_free(&d);
    KT_EQ(parse("-- @route POST /t\n-- @idempotent required\n-- @returns none\nselect g()", &d, err, sizeof err), 0);
    w = kl_idem_wrap_sql(&d);
    KT_CHECK(strstr(w, "(SELECT count(*) FROM keel_r)") != NULL);
    free(w);
    kl_routefile_free(&d);
}

int main(void) {
    KT_RUN(annotation);
    KT_RUN(key_syntax);
    KT_RUN(fingerprint);
    KT_RUN(wrapped_sql);
    return KT_DONE();
}
