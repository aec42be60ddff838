#include <stddef.h>

#include "core/list.h"
#include "kt.h"

typedef struct {
    int v;
    kl_list_t link;
} item_t;

static int shift_v(kl_list_t *head) {
    kl_list_t *n = kl_list_shift(head);
    return n ? kl_container_of(n, item_t, link)->v : -1;
}

/* The database pool's wait queue: push appends a request, unshift puts a lag probe in front
 * of every waiting request; shift serves from the front. */
static void push_unshift_shift_order(void) {
    kl_list_t q;
    kl_list_init(&q);
    item_t a = {1, {0}}, b = {2, {0}}, c = {3, {0}}, d = {4, {0}};
    kl_list_unshift(&q, &a.link); /* into an empty list */
    kl_list_push(&q, &b.link);
    kl_list_unshift(&q, &c.link);
    kl_list_push(&q, &d.link);
    KT_EQ(shift_v(&q), 3);
    KT_EQ(shift_v(&q), 1);
    KT_EQ(shift_v(&q), 2);
    KT_EQ(shift_v(&q), 4);
    KT_EQ(shift_v(&q), -1);
    KT_CHECK(kl_list_empty(&q));
    KT_CHECK(!kl_list_linked(&a.link));
}

static void remove_from_the_middle_and_twice(void) {
    kl_list_t q;
    kl_list_init(&q);
    item_t a = {1, {0}}, b = {2, {0}}, c = {3, {0}};
    kl_list_push(&q, &a.link);
    kl_list_unshift(&q, &b.link);
    kl_list_push(&q, &c.link);
    kl_list_remove(&a.link);
    kl_list_remove(&a.link); /* safe twice */
    KT_CHECK(!kl_list_linked(&a.link));
    KT_EQ(shift_v(&q), 2);
    KT_EQ(shift_v(&q), 3);
    KT_CHECK(kl_list_empty(&q));
}

int main(void) {
    KT_RUN(push_unshift_shift_order);
    KT_RUN(remove_from_the_middle_and_twice);
    return KT_DONE();
}
