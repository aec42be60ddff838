/* db.c's NOTIFY payload splitting (its statics, by #include); the rest of the pool is
 * exercised against a real PostgreSQL by tests/integration/test_db.py and test_cache.py. */
#include "app/db.c"

#include "kt.h"

static char chunk[KL_DB_NOTIFY_MAX];

/* Splits payload; returns the number of NOTIFYs and checks that each is under the limit
 * and that, joined again, they are the payload's non-empty lines in order. */
static int split(const char *payload) {
    size_t cap = strlen(payload) + 1, got = 0;
    char *lines = malloc(cap), *joined = malloc(cap);
    size_t nl = 0;
    for (const char *p = payload; *p;) { /* the non-empty lines, '\n'-joined */
        size_t n = strcspn(p, "\n");
        if (n) {
            if (nl) lines[nl++] = '\n';
            memcpy(lines + nl, p, n);
            nl += n;
        }
        p += n + (p[n] == '\n');
    }
    lines[nl] = '\0';
    int count = 0;
    size_t len;
    for (const char *c = payload; (len = notify_next(&c, chunk)) > 0; count++) {
        KT_CHECK(len < KL_DB_NOTIFY_MAX && strlen(chunk) == len);
        KT_CHECK(chunk[0] != '\n' && chunk[len - 1] != '\n');
        if (got) joined[got++] = '\n';
        memcpy(joined + got, chunk, len);
        got += len;
    }
    joined[got] = '\0';
    KT_CHECK(!strcmp(joined, lines));
    free(lines);
    free(joined);
    return count;
}

static char *lines_of(size_t n, size_t len, char *buf) {
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = '\n';
        memset(p, 'a' + (int)i % 26, len);
        p += len;
    }
    *p = '\0';
    return buf;
}

static void small_payloads_are_one_notify(void) {
    KT_EQ(split("item:1\nitems\n#0123456789abcdef0123456789abcdef"), 1);
    KT_EQ(split("one"), 1);
    KT_EQ(split("\nx\n\ny\n"), 1);
    KT_STREQ(chunk, strlen(chunk), ""); /* the call past the end leaves an empty chunk */
    KT_EQ(split(""), 0);
    KT_EQ(split("\n\n"), 0);
}

static void long_payloads_split_between_lines(void) {
    static char buf[64 * 1024];
    KT_EQ(split(lines_of(5, 3000, buf)), 3); /* 2 + 2 + 1 lines */
    KT_EQ(split(lines_of(16, 3000, buf)), 8);
    KT_EQ(split(lines_of(1000, 40, buf)), 6); /* 195 lines of 41 bytes fit under 8000 */
    /* at the limit: 3999 + 1 + 3999 = 7999 bytes is one NOTIFY, one byte more is two */
    char *p = lines_of(2, 3999, buf);
    KT_EQ(split(p), 1);
    p = lines_of(2, 4000, buf);
    KT_EQ(split(p), 2);
    KT_EQ(split(lines_of(1, KL_DB_NOTIFY_MAX - 1, buf)), 1);
}

static void a_line_too_long_is_caught_before_sending(void) {
    static char buf[3 * KL_DB_NOTIFY_MAX];
    KT_EQ(longest_line(lines_of(1, KL_DB_NOTIFY_MAX, buf)), KL_DB_NOTIFY_MAX);
    KT_EQ(longest_line(lines_of(3, 100, buf)), 100);
    KT_EQ(longest_line("a\nbbb\n\ncc"), 3);
    KT_EQ(longest_line(""), 0);
    /* never sent whole or cut: the splitter skips it (kl_db_submit refused it already) */
    memset(buf, 'x', KL_DB_NOTIFY_MAX);
    strcpy(buf + KL_DB_NOTIFY_MAX, "\nshort");
    const char *c = buf;
    KT_EQ(notify_next(&c, chunk), 5);
    KT_STREQ(chunk, 5, "short");
}

int main(void) {
    KT_RUN(small_payloads_are_one_notify);
    KT_RUN(long_payloads_split_between_lines);
    KT_RUN(a_line_too_long_is_caught_before_sending);
    return KT_DONE();
}
