/* test_routefile_annotations.c - the annotation table: every kl_route_ann_t has a row, and
 * which annotations may repeat (routefile.h: @query, @tags and @invalidates) is what the table
 * says and what the parser does, with def->ann_line the first line. A new annotation needs a
 * sample here; the test fails until it has one. */
#include <errno.h>

#include "app/routefile.h"
#include "app/routefile_annotations.h"
#include "kt.h"

/* Whether each annotation may repeat, two valid lines of it, and SQL that uses what they
 * declare; head, when set, replaces the default "@route GET /x" + "@cache 1s" lines (an
 * annotation that needs a write route). */
static const struct {
    const char *name;
    bool repeats;
    const char *first, *second, *sql, *head;
} samples[] = {
    {"@route", false, "@route GET /x", "@route GET /y", "SELECT 1", NULL},
    {"@query", true, "@query a int default 1", "@query b text", "SELECT :a, :b", NULL},
    {"@body", false, "@body json", "@body json max 1k", "SELECT :body", NULL},
    {"@auth", false, "@auth required", "@auth optional", "SELECT 1", NULL},
    {"@returns", false, "@returns many", "@returns none", "SELECT 1", NULL},
    {"@cache", false, "@cache 1s", "@cache 2s", "SELECT 1", NULL},
    {"@tags", true, "@tags a", "@tags b:c", "SELECT 1", NULL},
    {"@invalidates", true, "@invalidates a", "@invalidates b", "SELECT 1", NULL},
    {"@rate", false, "@rate 1/s", "@rate 2/min", "SELECT 1", NULL},
    {"@timeout", false, "@timeout 1s", "@timeout 2s", "SELECT 1", NULL},
    {"@field", true, "@field a int required", "@field b text optional", "SELECT :body.a, :body.b",
     "-- @route POST /x\n-- @body json\n"},
    {"@location", false, "@location /x/{id}", "@location /y", "SELECT 1", "-- @route POST /x\n"},
    {"@idempotent", false, "@idempotent required", "@idempotent optional ttl 1h", "SELECT 1", "-- @route POST /x\n"},
    {"@primary", false, "@primary", "@primary", "SELECT 1", NULL},
};

static void test_table_complete(void) {
    for (int k = 0; k < KL_ROUTE_ANN_COUNT_; k++) {
        const kl_routefile_annotations_row_t *row = &kl_routefile_annotations_table[k];
        if (row->name == NULL || row->parse == NULL) {
            fprintf(stderr, "  kl_route_ann_t %d has no row in kl_routefile_annotations_table\n", k);
            kt_failed_checks_++;
            continue;
        }
        KT_CHECK(row->name[0] == '@');
        KT_CHECK(strcmp(kl_routefile_ann_name((kl_route_ann_t)k), row->name) == 0);
        for (int j = 0; j < k; j++)
            KT_CHECK(kl_routefile_annotations_table[j].name == NULL ||
                     strcmp(kl_routefile_annotations_table[j].name, row->name) != 0);
    }
}

/* Each annotation twice on lines 1 and 2, then @route and @cache (unless that is the one
 * tested; or the sample's own head) so that the file is otherwise valid: one that may not repeat must stop at line 2,
 * any other must parse with ann_line = 1. */
static void test_repeats(void) {
    for (int k = 0; k < KL_ROUTE_ANN_COUNT_; k++) {
        const kl_routefile_annotations_row_t *row = &kl_routefile_annotations_table[k];
        if (row->name == NULL) continue; /* test_table_complete reports it */
        size_t s = 0;
        while (s < sizeof(samples) / sizeof(samples[0]) && strcmp(samples[s].name, row->name) != 0) s++;
        if (s == sizeof(samples) / sizeof(samples[0])) {
            fprintf(stderr, "  %s has no sample in %s\n", row->name, __FILE__);
            kt_failed_checks_++;
            continue;
        }
        char text[512], err[256], want[128];
        if (samples[s].head)
            snprintf(text, sizeof(text), "-- %s\n-- %s\n%s%s", samples[s].first, samples[s].second, samples[s].head,
                     samples[s].sql);
        else
            snprintf(text, sizeof(text), "-- %s\n-- %s\n%s%s%s", samples[s].first, samples[s].second,
                     k == KL_ROUTE_ANN_ROUTE ? "" : "-- @route GET /x\n",
                     k == KL_ROUTE_ANN_CACHE ? "" : "-- @cache 1s\n", samples[s].sql);
        if (row->once == samples[s].repeats) {
            fprintf(stderr, "  %s: the table says once = %d\n", row->name, row->once);
            kt_failed_checks_++;
        }
        kl_route_def_t d;
        int r = kl_routefile_parse("t.sql", text, strlen(text), &d, err, sizeof(err));
        if (!samples[s].repeats) {
            snprintf(want, sizeof(want), "t.sql:2: duplicate %s (first at line 1)", row->name);
            KT_EQ(r, -EINVAL);
            if (strcmp(err, want) != 0) {
                fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", row->name, err, want);
                kt_failed_checks_++;
            }
        } else {
            if (r != 0) fprintf(stderr, "  %s: unexpected error: %s\n", row->name, err);
            KT_EQ(r, 0);
            KT_EQ(d.ann_line[k], 1);
        }
        if (r == 0) kl_routefile_free(&d);
    }
}

int main(void) {
    KT_RUN(test_table_complete);
    KT_RUN(test_repeats);
    return KT_DONE();
}
