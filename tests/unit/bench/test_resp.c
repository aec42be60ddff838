/* test_resp.c - client-side response framing: every split point, pipelining, keep-alive,
 * bodies without framing, interim responses and the malformed cases. */
#include "kt.h"

#include "resp.c"

typedef struct {
    int n;          /* complete responses */
    int status[8];  /* their status codes */
    bool close[8];  /* their close flags */
    bool error;     /* a parse error happened */
    size_t left;    /* bytes never consumed at the end */
} outcome_t;

/* Feeds input the way the client does: chunks of `step` bytes appended to a buffer, the
 * parser consuming what it can, the rest carried over. eof: the peer closes at the end. */
static outcome_t drive(const char *input, size_t len, size_t step, bool head_only, bool eof) {
    outcome_t o = {0};
    static char buf[1 << 16];
    size_t have = 0, fed = 0;
    kb_resp_t r;
    kb_resp_init(&r, head_only);
    while (fed < len) {
        size_t n = len - fed < step ? len - fed : step;
        memcpy(buf + have, input + fed, n);
        have += n;
        fed += n;
        for (;;) {
            bool done;
            char *g = kt_guard_copy(buf, have); /* over-reads fault */
            ssize_t c = kb_resp_feed(&r, g, have, &done);
            kt_guard_free(g, have);
            if (c < 0) {
                o.error = true;
                return o;
            }
            memmove(buf, buf + c, have - (size_t)c);
            have -= (size_t)c;
            if (!done) break;
            if (o.n < 8) {
                o.status[o.n] = r.status;
                o.close[o.n] = r.close;
            }
            o.n++;
            kb_resp_init(&r, head_only);
            if (!have) break;
        }
    }
    if (eof && kb_resp_complete_at_eof(&r)) {
        if (o.n < 8) o.status[o.n] = r.status, o.close[o.n] = r.close;
        o.n++;
    }
    o.left = have;
    return o;
}

/* Every chunk size from 1 byte to the whole input must give the same result. */
static void check_all_steps(const char *input, bool head_only, bool eof, int want_n, int want_status, bool want_close) {
    size_t len = strlen(input);
    for (size_t step = 1; step <= len; step++) {
        outcome_t o = drive(input, len, step, head_only, eof);
        if (o.error || o.n != want_n || (want_n && (o.status[want_n - 1] != want_status || o.close[want_n - 1] != want_close))) {
            fprintf(stderr, "  step %zu: n=%d error=%d status=%d close=%d\n  input: %s\n", step, o.n, o.error,
                    o.status[0], o.close[0], input);
            KT_CHECK(!"unexpected outcome");
            return;
        }
    }
}

static void test_content_length(void) {
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello", false, false, 1, 200, false);
    check_all_steps("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", false, false, 1, 404, false);
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false, false, 1, 200, false);
}

static void test_chunked(void) {
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;ext=1\r\n"
                    "abcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n",
                    false, false, 1, 200, false);
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", false,
                    false, 1, 200, false);
}

static void test_pipelined_and_keep_alive(void) {
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                      "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                      "HTTP/1.1 204 No Content\r\n\r\n";
    for (size_t step = 1; step <= strlen(two); step++) {
        outcome_t o = drive(two, strlen(two), step, false, false);
        KT_EQ(o.n, 3);
        KT_EQ(o.status[0], 200);
        KT_EQ(o.status[1], 500);
        KT_EQ(o.status[2], 204);
        KT_EQ(o.left, 0);
        if (o.n != 3) break;
    }
}

static void test_close_and_http10(void) {
    check_all_steps("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false, false, 1, 200, true);
    check_all_steps("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", false, false, 1, 200, true);
    check_all_steps("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, 1, 200, true);
    check_all_steps("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false, false, 1, 200, false);
    /* no framing at all: the body runs until the server closes */
    check_all_steps("HTTP/1.1 200 OK\r\n\r\nuntil the end", false, true, 1, 200, true);
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzzz", false, true, 1, 200, true);
    outcome_t o = drive("HTTP/1.1 200 OK\r\n\r\nabc", 22, 22, false, false);
    KT_EQ(o.n, 0); /* without the close it is not complete */
}

static void test_no_body_responses(void) {
    check_all_steps("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", false, false, 1, 304, false);
    check_all_steps("HTTP/1.1 204 No Content\r\n\r\n", false, false, 1, 204, false);
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, false, 1, 200, false); /* HEAD */
}

static void test_interim_and_bare_lf(void) {
    check_all_steps("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
                    false, false, 1, 201, false);
    check_all_steps("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, false, 1, 200, false);
    check_all_steps("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false, false, 1, 200, false); /* no reason */
}

static void expect_error(const char *input) {
    size_t len = strlen(input);
    for (size_t step = 1; step <= len; step++) {
        outcome_t o = drive(input, len, step, false, false);
        if (!o.error) {
            fprintf(stderr, "  step %zu accepted: %s\n", step, input);
            KT_CHECK(!"malformed response accepted");
            return;
        }
    }
}

static void test_malformed(void) {
    expect_error("HTTP/2 200 OK\r\n\r\n");
    expect_error("SMTP 220 hello\r\n\r\n");
    expect_error("HTTP/1.1 2x0 OK\r\n\r\n");
    expect_error("HTTP/1.1 099 Low\r\n\r\n");
    expect_error("HTTP/1.1 2000 OK\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n");
    expect_error("HTTP/1.1 101 Switching Protocols\r\n\r\n");
}

static void test_head_too_large(void) {
    static char big[KB_RESP_MAX_HEAD + 64];
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', sizeof big - 21);
    outcome_t o = drive(big, sizeof big - 1, 4096, false, false);
    KT_CHECK(o.error);
}

int main(void) {
    KT_RUN(test_content_length);
    KT_RUN(test_chunked);
    KT_RUN(test_pipelined_and_keep_alive);
    KT_RUN(test_close_and_http10);
    KT_RUN(test_no_body_responses);
    KT_RUN(test_interim_and_bare_lf);
    KT_RUN(test_malformed);
    KT_RUN(test_head_too_large);
    return KT_DONE();
}
