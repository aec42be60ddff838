/* test_stages.c - the --stages plan: user steps, rate steps, and the errors. */
#include <errno.h>

#include "kt.h"

#include "stages.c"
#include "units.c"

static char err[256];

static void test_user_stages(void) {
    kb_stage_t st[KB_MAX_STAGES];
    size_t n = 0;
    KT_EQ(kb_stages_parse("10:30s,50:30s,200:60s", st, &n, err, sizeof err), 0);
    KT_EQ(n, 3);
    KT_EQ(st[0].vus, 10);
    KT_EQ(st[1].vus, 50);
    KT_EQ(st[2].vus, 200);
    KT_EQ(st[2].duration_ns, 60000000000ull);
    KT_CHECK(st[0].rate == 0);
    KT_EQ(kb_stages_parse("5:2", st, &n, err, sizeof err), 0); /* bare seconds */
    KT_EQ(n, 1);
    KT_EQ(st[0].duration_ns, 2000000000ull);
}

static void test_rate_stages(void) {
    kb_stage_t st[KB_MAX_STAGES];
    size_t n = 0;
    KT_EQ(kb_stages_parse("100/s:10s,2500.5/s:1m", st, &n, err, sizeof err), 0);
    KT_EQ(n, 2);
    KT_CHECK(st[0].rate == 100 && st[0].vus == 0);
    KT_CHECK(st[1].rate == 2500.5);
    KT_EQ(st[1].duration_ns, 60000000000ull);
}

static void bad(const char *s, const char *why) {
    kb_stage_t st[KB_MAX_STAGES];
    size_t n = 0;
    err[0] = 0;
    KT_EQ(kb_stages_parse(s, st, &n, err, sizeof err), -EINVAL);
    if (!strstr(err, why)) {
        fprintf(stderr, "  '%s': got '%s', want '%s'\n", s, err, why);
        KT_CHECK(!"wrong reason");
    }
}

static void test_bad_stages(void) {
    bad("", "empty");
    bad("10", "expected LOAD:DURATION");
    bad("10:30s,", "stage 2: expected LOAD:DURATION");
    bad(",10:30s", "stage 1: expected LOAD:DURATION");
    bad("0:30s", "virtual users");
    bad("20001:30s", "virtual users");
    bad("ten:30s", "virtual users");
    bad("10:forever", "bad duration");
    bad("10:0s", "bad duration");
    bad("0/s:10s", "rate");
    bad("10:30s,100/s:30s", "cannot mix");
    char many[1024] = "";
    for (int i = 0; i <= KB_MAX_STAGES; i++) strcat(many, i ? ",1:1s" : "1:1s");
    bad(many, "more than 64 stages");
}

int main(void) {
    KT_RUN(test_user_stages);
    KT_RUN(test_rate_stages);
    KT_RUN(test_bad_stages);
    return KT_DONE();
}
