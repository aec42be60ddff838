/* test_sql_answer.c - the Location of a create (kl_sql_answer_location_expand in
 * src/app/sql_answer.c): members filled from the returned object, percent-encoded for a
 * path segment; a route bug (no such member, null, a container, not an object) refused.
 * Bodies end at a guard page (kt_guard_copy). */
#include <errno.h>

#include "app/sql_answer.h"
#include "kt.h"

static kl_recycler_t rc;
static kl_arena_t a;

static int expand(const char *tpl, const char *body, char **out, const char **why) {
    size_t len = strlen(body);
    char *g = kt_guard_copy(body, len);
    *out = NULL;
    *why = NULL;
    int r = kl_sql_answer_location_expand(&a, tpl, (kl_str_t){g, len}, out, why);
    kt_guard_free(g, len);
    return r;
}

#define LOC(tpl, body, want)                                                                   \
    do {                                                                                       \
        char *o_;                                                                              \
        const char *w_;                                                                        \
        int r_ = expand((tpl), (body), &o_, &w_);                                              \
        if (r_ != 0 || strcmp(o_, (want)) != 0) {                                              \
            fprintf(stderr, "  %s:%d: %s -> %d %s (%s), want %s\n", __FILE__, __LINE__, (tpl), r_, \
                    o_ ? o_ : "NULL", w_ ? w_ : "", (want));                                   \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

#define BUG(tpl, body, want)                                                                   \
    do {                                                                                       \
        char *o_;                                                                              \
        const char *w_;                                                                        \
        int r_ = expand((tpl), (body), &o_, &w_);                                              \
        KT_EQ(r_, -EINVAL);                                                                    \
        KT_CHECK(w_ != NULL && strstr(w_, (want)) != NULL);                                    \
    } while (0)

static void test_fills_members(void) {
    LOC("/api/bounties/{id}", "{\"id\":42,\"title\":\"x\"}", "/api/bounties/42");
    LOC("/api/bounties/{id}", " { \"title\" : \"{id}\" , \"id\" : -7 } ", "/api/bounties/-7");
    LOC("/u/{user_id}/b/{id}", "{\"id\":1,\"user_id\":2}", "/u/2/b/1");
    LOC("/x/{id}/{id}", "{\"id\":\"ab\"}", "/x/ab/ab");
    LOC("/static", "{}", "/static");
    LOC("/f/{ok}/{n}", "{\"ok\":true,\"n\":1.5e3}", "/f/true/1.5e3");
    /* a string is decoded, then everything but unreserved characters is percent-encoded */
    LOC("/x/{s}", "{\"s\":\"a b/c?d#e%f\\u00e9~._-\"}", "/x/a%20b%2Fc%3Fd%23e%25f%C3%A9~._-");
    LOC("/x/{s}", "{\"s\":\"..\"}", "/x/..");
    LOC("/x/{s}", "{\"s\":\"\\r\\nSet-Cookie: a=b\"}", "/x/%0D%0ASet-Cookie%3A%20a%3Db"); /* no header injection */
    LOC("/x/{s}", "{\"s\":\"\\u0000\"}", "/x/%00");
    LOC("/x/{s}", "{\"s\":\"\"}", "/x/");
}

static void test_route_bugs(void) {
    BUG("/x/{id}", "{\"uid\":1}", "no member");
    BUG("/x/{id}", "{\"id\":null}", "null, an array or an object");
    BUG("/x/{id}", "{\"id\":[1]}", "null, an array or an object");
    BUG("/x/{id}", "{\"id\":{\"id\":1}}", "null, an array or an object");
    BUG("/x/{id}", "{\"a\":{\"id\":1}}", "no member"); /* nested members do not count */
    BUG("/x/{id}", "[{\"id\":1}]", "not a JSON object");
    BUG("/x/{id}", "42", "not a JSON object");
    BUG("/x/{id}", "{\"id\":1,\"id\":2}", "not a JSON object keel can read (unique top-level names");
    BUG("/x/{id}", "{\"id\":1", "not a JSON object");
    BUG("/x/{id}", "", "not a JSON object");
}

int main(void) {
    kl_recycler_init(&rc, 64 * 1024, 4);
    kl_arena_init(&a, &rc);
    KT_RUN(test_fills_members);
    KT_RUN(test_route_bugs);
    kl_arena_reset(&a);
    kl_recycler_destroy(&rc);
    return KT_DONE();
}
