/* test_top_model.c - keel top's figures from two /metrics scrapes: rates from counter deltas,
 * p50/p99 from bucket deltas summed over status codes, cache hit ratio, pool, shards, resets,
 * caps, and bad input refused. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/top_model.h"
#include "kt.h"

static kl_top_snapshot_t A, B;

static const char *scrape1 =
    "# HELP http_requests_total Requests.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{method=\"GET\",route=\"/a/{id}\",status_code=\"200\"} 100\n"
    "http_requests_total{method=\"GET\",route=\"/a/{id}\",status_code=\"404\"} 10\n"
    "http_requests_total{method=\"POST\",route=\"/b\",status_code=\"503\"} 5\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"0.001\"} 50\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"0.01\"} 100\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"+Inf\"} 100\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"0.001\"} 10\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"0.01\"} 10\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"+Inf\"} 10\n"
    "cache_requests_total{route=\"/a/{id}\",result=\"hit\"} 80\n"
    "cache_requests_total{route=\"/a/{id}\",result=\"miss\"} 20\n"
    "db_pool_connections{state=\"busy\"} 3\n"
    "db_pool_connections{state=\"idle\"} 5\n"
    "db_queue_depth 4\n"
    "keel_shard_connections{shard=\"0\"} 7\n"
    "keel_shard_loop_lag_seconds{shard=\"0\"} 0.002\n"
    "keel_shard_connections{shard=\"1\"} 2\n"
    "keel_build_info{version=\"1.2.3\"} 1";  /* no final newline: still read */

/* one second later: /a/{id} got 200 more 200s (100 fast, 100 in 1..10 ms) and 10 more 404s */
static const char *scrape2 =
    "http_requests_total{method=\"GET\",route=\"/a/{id}\",status_code=\"200\"} 300\n"
    "http_requests_total{method=\"GET\",route=\"/a/{id}\",status_code=\"404\"} 20\n"
    "http_requests_total{method=\"POST\",route=\"/b\",status_code=\"503\"} 5\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"0.001\"} 150\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"0.01\"} 300\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"200\",le=\"+Inf\"} 300\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"0.001\"} 20\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"0.01\"} 20\n"
    "http_request_duration_seconds_bucket{method=\"GET\",route=\"/a/{id}\",status_code=\"404\",le=\"+Inf\"} 20\n"
    "cache_requests_total{route=\"/a/{id}\",result=\"hit\"} 230\n"
    "cache_requests_total{route=\"/a/{id}\",result=\"miss\"} 70\n"
    "cache_requests_total{route=\"/a/{id}\",result=\"stale\"} 20\n";

static void test_two_scrapes(void) {
    char err[128];
    KT_EQ(kl_top_snapshot_parse(&A, scrape1, strlen(scrape1), err, sizeof err), 0);
    KT_EQ(kl_top_snapshot_parse(&B, scrape2, strlen(scrape2), err, sizeof err), 0);
    KT_EQ(A.nroutes, (size_t)2);
    KT_CHECK(A.pool_busy == 3 && A.pool_idle == 5 && isnan(A.pool_connecting) && A.queue_depth == 4);
    KT_EQ(A.nshards, (size_t)2);
    KT_CHECK(A.shards[0].conns == 7 && A.shards[0].lag == 0.002 && isnan(A.shards[1].lag));
    KT_STREQ(A.version, strlen(A.version), "1.2.3");

    kl_top_row_t rows[8];
    size_t n = kl_top_rows(&A, &B, 2.0, rows, 8);
    KT_EQ(n, (size_t)2);
    KT_STREQ(rows[0].route, strlen(rows[0].route), "/a/{id}"); /* busiest first */
    KT_CHECK(rows[0].rps == 105);                              /* (320 - 110) / 2 s */
    KT_CHECK(rows[0].e4xx == 5 && rows[0].e5xx == 0);
    /* the interval: 110 requests, 110 under 1 ms, 100 in 1..10 ms of 210; p50 in the first bucket */
    KT_CHECK(fabs(rows[0].p50 - 0.001 * 105 / 110) < 1e-9);
    KT_CHECK(fabs(rows[0].p99 - (0.001 + 0.009 * (0.99 * 210 - 110) / 100)) < 1e-9);
    /* cache: 150 hits of 220 lookups in the interval */
    KT_CHECK(fabs(rows[0].hit_ratio - 150.0 / 220) < 1e-9);
    KT_STREQ(rows[1].method, strlen(rows[1].method), "POST");
    KT_CHECK(rows[1].rps == 0 && rows[1].e5xx == 0 && isnan(rows[1].p50) && isnan(rows[1].hit_ratio));

    /* the first scrape alone: no rates yet, totals known */
    n = kl_top_rows(NULL, &A, 0, rows, 8);
    KT_EQ(n, (size_t)2);
    KT_CHECK(isnan(rows[0].rps) && isnan(rows[0].p99));
    KT_CHECK(rows[0].requests == 110);
    KT_CHECK(fabs(rows[0].hit_ratio - 0.8) < 1e-9); /* since start */

    /* a restart in between: counters went down, the new values are the delta */
    n = kl_top_rows(&B, &A, 1.0, rows, 8);
    KT_CHECK(rows[0].rps == 110);
}

static void test_quantile(void) {
    double le[3] = {0.1, 0.2, INFINITY}, cum[3] = {0, 10, 10};
    KT_CHECK(fabs(kl_top_quantile(le, cum, 3, NULL, NULL, 0, 0.5) - 0.15) < 1e-12);
    double cum2[3] = {0, 10, 20}; /* half above the largest finite bound */
    KT_CHECK(kl_top_quantile(le, cum2, 3, NULL, NULL, 0, 0.99) == 0.2);
    double zero[3] = {0, 0, 0};
    KT_CHECK(isnan(kl_top_quantile(le, zero, 3, NULL, NULL, 0, 0.5)));
    KT_CHECK(isnan(kl_top_quantile(le, cum, 3, le, cum, 3, 0.5))); /* nothing new */
}

static void test_bad_input(void) {
    char err[128];
    const char *bad = "ok 1\nhttp_requests_total{method=\"GET\" 1\n";
    KT_EQ(kl_top_snapshot_parse(&A, bad, strlen(bad), err, sizeof err), -EINVAL);
    KT_CHECK(strstr(err, "line 2") != NULL);
    const char *html = "<html><body>not metrics</body></html>";
    KT_EQ(kl_top_snapshot_parse(&A, html, strlen(html), err, sizeof err), -EINVAL);
    /* unknown families and NaN counts are ignored */
    const char *odd = "foo_bar{x=\"1\"} 3\nhttp_requests_total{route=\"/x\"} NaN\n";
    KT_EQ(kl_top_snapshot_parse(&A, odd, strlen(odd), err, sizeof err), 0);
    KT_EQ(A.nroutes, (size_t)0);
    KT_EQ(A.samples, (size_t)2);
}

static void test_caps(void) {
    /* more routes and buckets than kept: counted in dropped, memory stays fixed */
    size_t cap = 1 << 20, len = 0;
    char *m = malloc(cap);
    for (int i = 0; i < KL_TOP_MAX_ROUTES + 10; i++)
        len += (size_t)snprintf(m + len, cap - len, "http_requests_total{method=\"GET\",route=\"/r%d\",status_code=\"200\"} 1\n", i);
    for (int i = 0; i < KL_TOP_MAX_BUCKETS + 5; i++)
        len += (size_t)snprintf(m + len, cap - len, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/r0\",le=\"%d\"} %d\n",
                                i + 1, i);
    char err[128];
    KT_EQ(kl_top_snapshot_parse(&A, m, len, err, sizeof err), 0);
    KT_EQ(A.nroutes, (size_t)KL_TOP_MAX_ROUTES);
    KT_EQ(A.routes[0].nb, (size_t)KL_TOP_MAX_BUCKETS);
    KT_EQ(A.dropped, (size_t)15);
    free(m);
}

int main(void) {
    KT_RUN(test_two_scrapes);
    KT_RUN(test_quantile);
    KT_RUN(test_bad_input);
    KT_RUN(test_caps);
    return KT_DONE();
}
