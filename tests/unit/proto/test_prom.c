#include "proto/prom.h"

#include <math.h>

#include "kt.h"

#define STR_EQ(got, want) KT_STREQ((got), strlen(got), (want))

static void labels_are_escaped(void) {
    kl_prom_labels_t l;
    kl_prom_labels_init(&l);
    const char *v = "a\"b\\c\nd";
    kl_prom_labels_add(&l, "route", v, strlen(v));
    kl_prom_labels_add(&l, "method", "GET", 3);
    STR_EQ(l.text, "route=\"a\\\"b\\\\c\\nd\",method=\"GET\"");
    KT_CHECK(!l.full);
    /* an empty value is still a label */
    kl_prom_labels_init(&l);
    kl_prom_labels_add(&l, "x", "", 0);
    STR_EQ(l.text, "x=\"\"");
}

static void labels_overflow_marks_full(void) {
    kl_prom_labels_t l;
    char big[600];
    memset(big, '"', sizeof(big)); /* each doubles when escaped */
    kl_prom_labels_init(&l);
    kl_prom_labels_add(&l, "a", big, sizeof(big));
    KT_CHECK(l.full);
    char buf[256];
    kl_prom_out_t o;
    kl_prom_init(&o, buf, sizeof(buf));
    kl_prom_u64(&o, "m", &l, 1);
    KT_CHECK(o.full);
    KT_EQ(o.len, 0); /* nothing half-written */
}

static void samples_and_family(void) {
    char buf[1024];
    kl_prom_out_t o;
    kl_prom_init(&o, buf, sizeof(buf));
    kl_prom_family(&o, "x_total", "counter", "Things.");
    kl_prom_u64(&o, "x_total", NULL, 18446744073709551615ull);
    kl_prom_labels_t l;
    kl_prom_labels_init(&l);
    kl_prom_labels_add(&l, "k", "v", 1);
    kl_prom_f64(&o, "g", &l, 0.1);
    kl_prom_f64(&o, "g", NULL, INFINITY);
    kl_prom_f64(&o, "g", NULL, -INFINITY);
    kl_prom_f64(&o, "g", NULL, NAN);
    kl_prom_f64(&o, "g", NULL, 123456.789);
    STR_EQ(buf, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 18446744073709551615\ng{k=\"v\"} 0.1\n"
                "g +Inf\ng -Inf\ng NaN\ng 123456.789\n");
    KT_CHECK(!o.full);
}

static void histogram_cumulative_inf_equals_count(void) {
    char buf[4096];
    kl_prom_out_t o;
    kl_prom_init(&o, buf, sizeof(buf));
    const double bounds[] = {0.5, 1, 2.5};
    const uint64_t counts[] = {3, 0, 2, 5}; /* the last: above every bound */
    kl_prom_labels_t l;
    kl_prom_labels_init(&l);
    kl_prom_labels_add(&l, "route", "/x/{id}", 7);
    kl_prom_histogram(&o, "h", &l, bounds, 3, counts, 12.25);
    STR_EQ(buf, "h_bucket{route=\"/x/{id}\",le=\"0.5\"} 3\nh_bucket{route=\"/x/{id}\",le=\"1\"} 3\n"
                "h_bucket{route=\"/x/{id}\",le=\"2.5\"} 5\nh_bucket{route=\"/x/{id}\",le=\"+Inf\"} 10\n"
                "h_sum{route=\"/x/{id}\"} 12.25\nh_count{route=\"/x/{id}\"} 10\n");
    /* no labels */
    kl_prom_init(&o, buf, sizeof(buf));
    const uint64_t zero[4] = {0};
    kl_prom_histogram(&o, "h", NULL, bounds, 3, zero, 0);
    KT_CHECK(strstr(buf, "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n") != NULL);
}

/* The precomputed le texts of kl_prom_buckets say what formatting the bounds would. */
static void default_buckets_text_matches_their_values(void) {
    char a[8192], b[8192];
    uint64_t counts[KL_PROM_NBUCKETS + 1];
    for (size_t i = 0; i <= KL_PROM_NBUCKETS; i++) counts[i] = i;
    double copy[KL_PROM_NBUCKETS];
    memcpy(copy, kl_prom_buckets, sizeof(copy));
    kl_prom_out_t o;
    kl_prom_init(&o, a, sizeof(a));
    kl_prom_histogram(&o, "h", NULL, kl_prom_buckets, KL_PROM_NBUCKETS, counts, 1);
    kl_prom_init(&o, b, sizeof(b));
    kl_prom_histogram(&o, "h", NULL, copy, KL_PROM_NBUCKETS, counts, 1);
    STR_EQ(a, b);
    KT_CHECK(strstr(a, "h_bucket{le=\"0.005\"} 6\n") != NULL);
    KT_CHECK(strstr(a, "h_bucket{le=\"10\"} 91\n") != NULL);
    KT_CHECK(strstr(a, "h_bucket{le=\"+Inf\"} 105\n") != NULL);
}

static void bucket_index(void) {
    const double *b = kl_prom_buckets;
    KT_EQ(kl_prom_bucket(b, KL_PROM_NBUCKETS, 0), 0);
    KT_EQ(kl_prom_bucket(b, KL_PROM_NBUCKETS, 0.0005), 0); /* le: bounds are inclusive */
    KT_EQ(kl_prom_bucket(b, KL_PROM_NBUCKETS, 0.00051), 1);
    KT_EQ(kl_prom_bucket(b, KL_PROM_NBUCKETS, 10), KL_PROM_NBUCKETS - 1);
    KT_EQ(kl_prom_bucket(b, KL_PROM_NBUCKETS, 11), KL_PROM_NBUCKETS);
}

/* Output that does not fit stops at a line boundary, and says so. */
static void full_buffer_keeps_whole_lines(void) {
    char buf[40];
    kl_prom_out_t o;
    kl_prom_init(&o, buf, sizeof(buf));
    kl_prom_u64(&o, "aaaa", NULL, 1);  /* 7 bytes */
    kl_prom_u64(&o, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", NULL, 2);
    kl_prom_u64(&o, "c", NULL, 3);
    KT_CHECK(o.full);
    STR_EQ(buf, "aaaa 1\n");
    KT_EQ(o.len, 7);
}

int main(void) {
    KT_RUN(labels_are_escaped);
    KT_RUN(labels_overflow_marks_full);
    KT_RUN(samples_and_family);
    KT_RUN(histogram_cumulative_inf_equals_count);
    KT_RUN(default_buckets_text_matches_their_values);
    KT_RUN(bucket_index);
    KT_RUN(full_buffer_keeps_whole_lines);
    return KT_DONE();
}
