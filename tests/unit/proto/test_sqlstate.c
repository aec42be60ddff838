#include "proto/sqlstate.h"

#include "kt.h"

/* Maps s placed against a PROT_NONE page, so a read past its NUL faults. */
static int http(const char *s) {
    size_t n = strlen(s) + 1;
    char *g = kt_guard_copy(s, n);
    int r = kl_sqlstate_http(g);
    kt_guard_free(g, n);
    return r;
}

static void kh_final_statuses_only(void) {
    KT_EQ(http("KH404"), 404);
    KT_EQ(http("KH409"), 409);
    KT_EQ(http("KH422"), 422);
    KT_EQ(http("KH200"), 200);
    KT_EQ(http("KH201"), 201);
    KT_EQ(http("KH599"), 599);
    /* 1xx is not a final status: the client would wait for another response and take the
     * next request's answer for this one. */
    KT_EQ(http("KH100"), 500);
    KT_EQ(http("KH101"), 500);
    KT_EQ(http("KH103"), 500);
    KT_EQ(http("KH199"), 500);
    KT_EQ(http("KH000"), 500);
    KT_EQ(http("KH099"), 500);
    KT_EQ(http("KH600"), 500);
    KT_EQ(http("KH999"), 500);
}

static void kh_malformed(void) {
    KT_EQ(http("KH4x4"), 500);
    KT_EQ(http("KH-40"), 500);
    KT_EQ(http("KH 40"), 500);
    KT_EQ(http("KH40"), 500);
    KT_EQ(http("KH4040"), 500);
    KT_EQ(http("kh404"), 500);
    KT_EQ(http("KH"), 500);
    KT_EQ(http(""), 500);
    KT_EQ(kl_sqlstate_http(NULL), 500);
}

static void postgres_classes(void) {
    KT_EQ(http("23505"), 409);
    KT_EQ(http("23503"), 409);
    KT_EQ(http("23502"), 400);
    KT_EQ(http("23514"), 400);
    KT_EQ(http("22P02"), 400);
    KT_EQ(http("22003"), 400);
    KT_EQ(http("57014"), 504);
    KT_EQ(http("40001"), KL_SQLSTATE_RETRY);
    KT_EQ(http("40P01"), KL_SQLSTATE_RETRY);
    KT_EQ(http("08006"), 503);
    KT_EQ(http("57P01"), 503);
    KT_EQ(http("53300"), 503);
    KT_EQ(http("23000"), 500); /* other integrity violations */
    KT_EQ(http("P0001"), 500); /* a plain RAISE EXCEPTION */
    KT_EQ(http("XX000"), 500);
}

int main(void) {
    KT_RUN(kh_final_statuses_only);
    KT_RUN(kh_malformed);
    KT_RUN(postgres_classes);
    return KT_DONE();
}
