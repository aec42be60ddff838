/* test_stats.c - per-route statistics: status classes, transport errors, what counts as a
 * failure, and merging the workers' shares (it must equal one worker recording it all). */
#include "kt.h"

#include "hist.c"
#include "stats.c"

static kb_route_stats_t a, b, all;

static void test_route_counts_classes_and_failures(void) {
    kb_route_init(&a);
    KT_EQ(kb_route_finished(&a), 0);
    KT_EQ(kb_route_failed(&a), 0);
    KT_EQ(a.hist.count, 0);
    a.sent = 7;
    kb_route_response(&a, 201, 2000000);
    kb_route_response(&a, 200, 1000000);
    kb_route_response(&a, 304, 500000);
    kb_route_response(&a, 409, 3000000); /* the app's own refusal is still a failed request */
    kb_route_response(&a, 503, 4000000);
    a.errors[KB_ERR_TIMEOUT]++;
    a.errors[KB_ERR_CONNECT]++;
    KT_EQ(a.responses, 5);
    KT_EQ(a.classes[2], 2);
    KT_EQ(a.classes[3], 1);
    KT_EQ(a.classes[4], 1);
    KT_EQ(a.classes[5], 1);
    KT_EQ(kb_route_finished(&a), 7);
    KT_EQ(kb_route_failed(&a), 4);
    /* every response's latency, any status */
    KT_EQ(a.hist.count, 5);
    KT_EQ(a.hist.min, 500000);
    KT_EQ(a.hist.max, 4000000);
    uint64_t p50 = kb_hist_percentile(&a.hist, 50);
    KT_CHECK(p50 >= 1999000 && p50 <= 2001000);
}

static void test_route_merge_equals_one_recorder(void) {
    /* two workers' shares merged give what one worker recording everything would */
    kb_route_init(&a);
    kb_route_init(&b);
    kb_route_init(&all);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int status = (int)(x % 5 == 0 ? 500 : x % 7 == 0 ? 404 : 200);
        uint64_t ns = 100000 + x % 50000000;
        kb_route_stats_t *w = i % 3 ? &a : &b;
        w->sent++;
        all.sent++;
        if (x % 101 == 0) {
            w->errors[KB_ERR_READ]++;
            all.errors[KB_ERR_READ]++;
            continue;
        }
        kb_route_response(w, status, ns);
        kb_route_response(&all, status, ns);
    }
    kb_route_merge(&a, &b);
    KT_EQ(a.sent, all.sent);
    KT_EQ(a.responses, all.responses);
    KT_EQ(a.errors[KB_ERR_READ], all.errors[KB_ERR_READ]);
    for (int c = 0; c < 6; c++) KT_EQ(a.classes[c], all.classes[c]);
    KT_EQ(kb_route_failed(&a), kb_route_failed(&all));
    KT_EQ(a.hist.count, all.hist.count);
    KT_EQ(a.hist.sum, all.hist.sum);
    KT_EQ(kb_hist_percentile(&a.hist, 50), kb_hist_percentile(&all.hist, 50));
    KT_EQ(kb_hist_percentile(&a.hist, 99), kb_hist_percentile(&all.hist, 99));
    KT_CHECK(all.classes[5] > 0 && all.classes[4] > 0 && all.errors[KB_ERR_READ] > 0);
}

int main(void) {
    KT_RUN(test_route_counts_classes_and_failures);
    KT_RUN(test_route_merge_equals_one_recorder);
    return KT_DONE();
}
