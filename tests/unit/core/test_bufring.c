#include "core/bufring.h"
#include "kt.h"

/* The ring is exercised as the kernel would see it, without registering: entries between
 * the kernel's head and the published tail are the buffers it may use. */

static uint16_t tail_of(kl_bufring_t *b) { return io_uring_smp_load_acquire(&b->br->tail); }

static void init_publishes_every_buffer(void) {
    kl_bufring_t b;
    KT_EQ(kl_bufring_init(&b, 8, 256, 3), 0);
    KT_EQ(tail_of(&b), 8);
    for (unsigned i = 0; i < 8; i++) {
        KT_EQ(b.br->bufs[i].bid, i);
        KT_EQ(b.br->bufs[i].len, 256);
        KT_CHECK(b.br->bufs[i].addr == (uint64_t)(uintptr_t)kl_bufring_buf(&b, (uint16_t)i));
    }
    KT_EQ(b.out, 0);
    kl_bufring_destroy(&b, NULL);
}

static void rejects_bad_sizes(void) {
    kl_bufring_t b;
    KT_EQ(kl_bufring_init(&b, 6, 256, 0), -EINVAL);
    KT_EQ(kl_bufring_init(&b, 0, 256, 0), -EINVAL);
    KT_EQ(kl_bufring_init(&b, 65536, 256, 0), -EINVAL);
    KT_EQ(kl_bufring_init(&b, 8, 0, 0), -EINVAL);
}

static void take_put_commit_cycle(void) {
    kl_bufring_t b;
    KT_EQ(kl_bufring_init(&b, 4, 64, 0), 0);
    /* the "kernel" consumed buffers 2 and 0 */
    KT_EQ(kl_bufring_take(&b, 2), 0);
    KT_EQ(kl_bufring_take(&b, 0), 0);
    KT_EQ(b.out, 2);
    KT_EQ(kl_bufring_take(&b, 2), -EINVAL); /* a CQE cannot hand out a buffer twice */
    KT_EQ(kl_bufring_put(&b, 1), -EINVAL);  /* never taken */
    KT_EQ(kl_bufring_put(&b, 9), -EINVAL);  /* out of range */
    KT_EQ(kl_bufring_put(&b, 2), 0);
    KT_EQ(kl_bufring_put(&b, 2), -EINVAL); /* double put */
    KT_EQ(kl_bufring_put(&b, 0), 0);
    KT_EQ(b.out, 0);
    KT_EQ(tail_of(&b), 4); /* not visible before commit */
    kl_bufring_commit(&b);
    KT_EQ(tail_of(&b), 6);
    /* the two new entries sit after the old tail, in put order, wrapping the ring */
    KT_EQ(b.br->bufs[4 & 3].bid, 2);
    KT_EQ(b.br->bufs[5 & 3].bid, 0);
    kl_bufring_commit(&b); /* nothing pending: no change */
    KT_EQ(tail_of(&b), 6);
    kl_bufring_destroy(&b, NULL);
}

static void buffers_do_not_overlap(void) {
    kl_bufring_t b;
    KT_EQ(kl_bufring_init(&b, 16, 100, 0), 0);
    for (uint16_t i = 0; i < 16; i++) memset(kl_bufring_buf(&b, i), i, 100);
    for (uint16_t i = 0; i < 16; i++) {
        const char *p = kl_bufring_buf(&b, i);
        KT_CHECK(p[0] == (char)i && p[99] == (char)i);
    }
    kl_bufring_destroy(&b, NULL);
}

int main(void) {
    KT_RUN(init_publishes_every_buffer);
    KT_RUN(rejects_bad_sizes);
    KT_RUN(take_put_commit_cycle);
    KT_RUN(buffers_do_not_overlap);
    return KT_DONE();
}
