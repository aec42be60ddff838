#include <stdbool.h>

#include "core/str.h"
#include "app/cache_key.h"
#include "kt.h"

static kl_recycler_t rc;
static kl_arena_t a;

static kl_str_t key(int route, const char *const *v, size_t n, const char *subject) {
    size_t len;
    char *k = kl_cache_key(&a, route, v, n, subject, &len);
    return (kl_str_t){k, len};
}

static bool same(kl_str_t x, kl_str_t y) { return x.len == y.len && memcmp(x.base, y.base, x.len) == 0; }

static void equal_inputs_equal_keys(void) {
    const char *v1[] = {"open", "20", "0"};
    const char *v2[] = {"open", "20", "0"}; /* other pointers, same text */
    KT_CHECK(same(key(3, v1, 3, NULL), key(3, v2, 3, NULL)));
    KT_CHECK(same(key(3, v1, 3, "alice"), key(3, v2, 3, "alice")));
}

static void boundaries_cannot_shift(void) {
    const char *a1[] = {"a", "bc"}, *a2[] = {"ab", "c"};
    KT_CHECK(!same(key(1, a1, 2, NULL), key(1, a2, 2, NULL)));
    const char *b1[] = {"x", NULL}, *b2[] = {"x", ""};
    KT_CHECK(!same(key(1, b1, 2, NULL), key(1, b2, 2, NULL))); /* SQL NULL is not empty text */
    const char *c1[] = {"x"};
    KT_CHECK(!same(key(1, c1, 1, NULL), key(1, c1, 1, ""))); /* no subject vs empty subject */
    const char *d1[] = {"1"};
    KT_CHECK(!same(key(1, d1, 1, NULL), key(2, d1, 1, NULL))); /* another route */
}

static void subject_separates_users(void) {
    const char *v[] = {"7"};
    KT_CHECK(!same(key(5, v, 1, "alice"), key(5, v, 1, "bob")));
    KT_CHECK(!same(key(5, v, 1, "alice"), key(5, v, 1, NULL)));
    const char *w1[] = {"al"}, *w2[] = {"a"};
    KT_CHECK(!same(key(5, w1, 1, "ice"), key(5, w2, 1, "lice"))); /* value/subject boundary */
}

static void values_with_nul_free_text_and_no_params(void) {
    KT_CHECK(same(key(9, NULL, 0, NULL), key(9, NULL, 0, NULL)));
    KT_EQ(key(9, NULL, 0, NULL).len, 8);
}

int main(void) {
    kl_recycler_init(&rc, 4096, 4);
    kl_arena_init(&a, &rc);
    KT_RUN(equal_inputs_equal_keys);
    KT_RUN(boundaries_cannot_shift);
    KT_RUN(subject_separates_users);
    KT_RUN(values_with_nul_free_text_and_no_params);
    kl_arena_reset(&a);
    kl_recycler_destroy(&rc);
    return KT_DONE();
}
