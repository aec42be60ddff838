/* test_datetime.c - the RFC 3339 date-time check behind timestamptz body fields
 * (src/proto/datetime.c). Each case sits at a guard page (kt_guard_copy): the check reads
 * nothing past the value. The accepted set is what PostgreSQL 15's timestamptz input takes
 * (checked by hand against it: 60.5 seconds, offsets of 16:00 or 14:60, year 0000 and
 * February 29th of 1900 are refused there too). */
#include "kt.h"
#include "proto/datetime.h"

static bool valid(const char *s) {
    size_t len = strlen(s);
    char *g = kt_guard_copy(s, len);
    bool ok = kl_datetime_valid(g, len);
    kt_guard_free(g, len);
    return ok;
}

static void test_accepted(void) {
    static const char *const good[] = {
        "2024-05-01T12:00:00Z", "2024-05-01t12:00:00z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00+02:00",
        "2024-05-01T12:00:00-07:30", "2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.123456789+00:00",
        "2024-05-01T12:00:00-00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
        "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2016-12-31T23:59:60Z", "2016-12-31T23:59:60.000Z",
        "2024-01-31T00:00:00+15:59", "2024-01-31T00:00:00-15:59", "2024-04-30T23:59:59Z",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!valid(good[i])) {
            fprintf(stderr, "  refused %s\n", good[i]);
            kt_failed_checks_++;
        }
    }
}

static void test_refused(void) {
    static const char *const bad[] = {
        "", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00Z", "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00+02", "2024-05-01T12:00:00 +02:00", "2024-05-01T12:00:00ZZ", "2024-05-01T12:00:00Z ",
        " 2024-05-01T12:00:00Z", "2024-5-01T12:00:00Z", "24-05-01T12:00:00Z", "+2024-05-01T12:00:00Z",
        "2024-05-01X12:00:00Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00.1234567890Z",
        "2024-05-01T12:00:00,5Z", "0000-01-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-01-00T00:00:00Z", "2024-01-32T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-06-31T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T23:60:00Z",
        "2024-05-01T23:59:61Z", "2016-12-31T23:59:60.5Z", "2024-05-01T12:00:00+16:00", "2024-05-01T12:00:00+14:60",
        "2024-05-01T12:00:00+1a:00", "2024-05-01T1a:00:00Z", "2024-05-01T12:00:00UTC", "2024-05-01T12:00:00+02:00:00",
        "2024-05-01T12:00:00-", "2024-05-01T12:00:00.5", "2024-05-01T12:00:00.5+", "now", "infinity",
        "2024-05-01T12:00:00\xc2\xa0Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (valid(bad[i])) {
            fprintf(stderr, "  accepted %s\n", bad[i]);
            kt_failed_checks_++;
        }
    }
    /* every prefix of a valid value is refused, right at the guard page */
    const char *v = "2024-05-01T12:00:00.25+02:00";
    for (size_t n = 0; n < strlen(v); n++) {
        char *g = kt_guard_copy(v, n);
        KT_CHECK(!kl_datetime_valid(g, n));
        kt_guard_free(g, n);
    }
}

int main(void) {
    KT_RUN(test_accepted);
    KT_RUN(test_refused);
    return KT_DONE();
}
