/* test_scenario.c - scenario files: parsing, rendering, weighted picks, file:line errors,
 * {env:NAME} templates, and the grouping of request lines into named routes. */
#include <errno.h>
#include <stdlib.h>

#include "kt.h"

#include "scenario.c"

static char err[512];

/* Parses text placed so that it ends at a PROT_NONE page. */
static int parse(kb_scenario_t *sc, const char *text) {
    size_t len = strlen(text);
    char *g = kt_guard_copy(text, len);
    int rc = kb_scenario_parse(sc, "t.scenario", g, len, err, sizeof err);
    kt_guard_free(g, len);
    return rc;
}

/* Expects parsing to fail with an error that starts with want (e.g. "t.scenario:3: "). */
static void expect_error(const char *text, const char *want_prefix, const char *want_part) {
    kb_scenario_t sc;
    err[0] = 0;
    int rc = parse(&sc, text);
    KT_EQ(rc, -EINVAL);
    if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 || !strstr(err, want_part)) {
        fprintf(stderr, "  input: %s\n  got error: %s\n  want: %s...%s\n", text, err, want_prefix, want_part);
        KT_CHECK(!"unexpected error text");
    }
    KT_CHECK(sc.text == NULL && sc.reqs == NULL); /* nothing left allocated */
}

static size_t render(kb_scenario_t *sc, size_t i, uint64_t *rng, char *out, size_t cap) {
    size_t n = kb_scenario_render(sc, &sc->reqs[i], "example.test:8080", rng, out, cap - 1);
    out[n < cap - 1 ? n : cap - 1] = 0;
    return n;
}

static void test_example_mix(void) {
    kb_scenario_t sc;
    const char *text = "# a realistic mix\n"
                       "header Accept: application/json\n"
                       "\n"
                       "request 70 GET /api/bounties?status=open&limit=20\n"
                       "request 25 GET /api/bounties/{int:1:100000}\n"
                       "request 5  GET /api/bounties/search?q={list:pizza,garden,dog}\n"
                       "  header Accept-Encoding: gzip\n"
                       "  # comments may be indented too\n";
    KT_EQ(parse(&sc, text), 0);
    KT_EQ(sc.nreqs, 3);
    KT_EQ(sc.nglobals, 1);
    KT_EQ(sc.total_weight, 100);
    KT_EQ(sc.reqs[0].weight, 70);
    KT_EQ(sc.reqs[2].weight, 5);
    KT_EQ(sc.reqs[2].nheaders, 1);
    KT_EQ(sc.reqs[0].nheaders, 0);
    KT_EQ(sc.reqs[1].line, 5);
    KT_STREQ(sc.text + sc.reqs[1].method.off, sc.reqs[1].method.len, "GET");

    char out[1024];
    uint64_t rng = 42;
    size_t n = render(&sc, 0, &rng, out, sizeof out);
    KT_STREQ(out, n, "GET /api/bounties?status=open&limit=20 HTTP/1.1\r\nHost: example.test:8080\r\n"
                     "Accept: application/json\r\n\r\n");
    for (int k = 0; k < 1000; k++) {
        render(&sc, 1, &rng, out, sizeof out);
        long id = -1;
        KT_EQ(sscanf(out, "GET /api/bounties/%ld HTTP/1.1\r\n", &id), 1);
        KT_CHECK(id >= 1 && id <= 100000);
    }
    int seen[3] = {0};
    for (int k = 0; k < 300; k++) {
        n = render(&sc, 2, &rng, out, sizeof out);
        KT_CHECK(strstr(out, "\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n\r\n") != NULL);
        if (strstr(out, "?q=pizza ")) seen[0]++;
        else if (strstr(out, "?q=garden ")) seen[1]++;
        else if (strstr(out, "?q=dog ")) seen[2]++;
        else KT_CHECK(!"unexpected list item");
    }
    KT_CHECK(seen[0] && seen[1] && seen[2]);
    kb_scenario_free(&sc);
}

static void test_weighted_pick(void) {
    kb_scenario_t sc;
    KT_EQ(parse(&sc, "request 70 GET /a\nrequest 25 GET /b\nrequest 5 GET /c\n"), 0);
    int count[3] = {0};
    uint64_t rng = 7;
    for (int k = 0; k < 100000; k++) count[kb_scenario_pick(&sc, &rng) - sc.reqs]++;
    /* a fixed seed makes this deterministic; the bands are wide enough for any decent generator */
    KT_CHECK(count[0] > 69000 && count[0] < 71000);
    KT_CHECK(count[1] > 24000 && count[1] < 26000);
    KT_CHECK(count[2] > 4500 && count[2] < 5500);
    kb_scenario_free(&sc);
    KT_EQ(parse(&sc, "request 1 GET /only\n"), 0);
    KT_CHECK(kb_scenario_pick(&sc, &rng) == &sc.reqs[0]);
    kb_scenario_free(&sc);
}

static void test_body_and_length(void) {
    kb_scenario_t sc;
    const char *text = "request 1 POST /api/bounties\r\n"
                       "  header Content-Type: application/json\r\n"
                       "  body {\"title\":\"t{int:7:7}\",\"tags\":[\"{list:a,b}\"],\"n\":{\"x\":1}}\r\n"
                       "  body  second line keeps its leading space\r\n"
                       "request 1 POST /empty\n"
                       "request 1 DELETE /x/{int:-3:-3}\n";
    KT_EQ(parse(&sc, text), 0);
    char out[1024];
    uint64_t rng = 99;
    size_t n = render(&sc, 0, &rng, out, sizeof out);
    const char *body = strstr(out, "\r\n\r\n");
    KT_CHECK(body != NULL);
    if (!body) return;
    body += 4;
    size_t blen = n - (size_t)(body - out);
    char want_cl[64];
    snprintf(want_cl, sizeof want_cl, "Content-Length: %zu\r\n", blen);
    KT_CHECK(strstr(out, want_cl) != NULL);
    KT_CHECK(!strncmp(body, "{\"title\":\"t7\",\"tags\":[\"", 22));
    KT_CHECK(strstr(body, "\"],\"n\":{\"x\":1}}\n second line keeps its leading space") != NULL);
    KT_CHECK(body[blen - 1] == 'e');

    n = render(&sc, 1, &rng, out, sizeof out); /* POST without a body still says how long it is */
    KT_STREQ(out, n, "POST /empty HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 0\r\n\r\n");
    n = render(&sc, 2, &rng, out, sizeof out);
    KT_STREQ(out, n, "DELETE /x/-3 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    kb_scenario_free(&sc);
}

static void test_escape_and_overrides(void) {
    kb_scenario_t sc;
    const char *text = "header Host: from-global\n"
                       "header X-Trace: g\n"
                       "request 1 GET /a{{int:1:2}/{b}\n"
                       "  header x-trace: own\n"
                       "request 1 HEAD /h\n";
    KT_EQ(parse(&sc, text), 0);
    KT_CHECK(sc.reqs[0].sets_host && sc.reqs[1].sets_host);
    KT_CHECK(sc.reqs[1].is_head && !sc.reqs[0].is_head);
    char out[512];
    uint64_t rng = 1;
    size_t n = render(&sc, 0, &rng, out, sizeof out);
    KT_STREQ(out, n, "GET /a{int:1:2}/{b} HTTP/1.1\r\nHost: from-global\r\nx-trace: own\r\n\r\n");
    n = render(&sc, 1, &rng, out, sizeof out);
    KT_STREQ(out, n, "HEAD /h HTTP/1.1\r\nHost: from-global\r\nX-Trace: g\r\n\r\n");
    kb_scenario_free(&sc);
}

static void test_render_truncates_and_reports_length(void) {
    kb_scenario_t sc;
    KT_EQ(parse(&sc, "request 1 GET /items/{int:1000:9999}?q={list:alpha,beta}\n"), 0);
    char small[16], big[256];
    uint64_t rng = 5, saved = rng;
    size_t need = kb_scenario_render(&sc, &sc.reqs[0], "h", &rng, small, sizeof small);
    KT_CHECK(need > sizeof small);
    rng = saved;
    size_t n = kb_scenario_render(&sc, &sc.reqs[0], "h", &rng, big, sizeof big);
    KT_EQ(n, need);
    KT_CHECK(memcmp(small, big, sizeof small) == 0); /* the same draws from the same state */
    kb_scenario_free(&sc);
}

static void test_full_int_range(void) {
    kb_scenario_t sc;
    KT_EQ(parse(&sc, "request 1 GET /{int:-9223372036854775808:9223372036854775807}\n"), 0);
    KT_EQ(sc.parts[1].lo, INT64_MIN);
    KT_EQ(sc.parts[1].hi, INT64_MAX);
    char out[128];
    uint64_t rng = 3;
    render(&sc, 0, &rng, out, sizeof out);
    KT_CHECK(!strncmp(out, "GET /", 5));
    kb_scenario_free(&sc);
}

static void test_errors_name_file_and_line(void) {
    expect_error("request 1 GET /a\nfrobnicate x\n", "t.scenario:2: ", "unknown directive 'frobnicate'");
    expect_error("request 0 GET /a\n", "t.scenario:1: ", "WEIGHT");
    expect_error("request x GET /a\n", "t.scenario:1: ", "WEIGHT");
    expect_error("request 1000001 GET /a\n", "t.scenario:1: ", "WEIGHT");
    expect_error("request 1 GET\n", "t.scenario:1: ", "expected a path");
    expect_error("request 1\n", "t.scenario:1: ", "expected a method");
    expect_error("request 1 G(T /a\n", "t.scenario:1: ", "bad character in method");
    expect_error("# c\nrequest 1 GET api\n", "t.scenario:2: ", "must start with '/'");
    expect_error("request 1 GET /a HTTP/1.1\n", "t.scenario:1: ", "unexpected 'HTTP/1.1'");
    expect_error("request 1 GET /a/{int:1:5\n", "t.scenario:1: ", "unterminated {int");
    expect_error("request 1 GET /a/{int:5:1}\n", "t.scenario:1: ", "greater than HI");
    expect_error("request 1 GET /a/{int:x:1}\n", "t.scenario:1: ", "must be integers");
    expect_error("request 1 GET /a/{int:1:99999999999999999999}\n", "t.scenario:1: ", "must be integers");
    expect_error("request 1 GET /a/{list:a,,b}\n", "t.scenario:1: ", "empty item");
    expect_error("request 1 GET /a/{list:}\n", "t.scenario:1: ", "empty item");
    expect_error("request 1 GET /a/{list:x\n", "t.scenario:1: ", "unterminated {list");
    expect_error("request 1 GET /a\n  header Bad Name: x\n", "t.scenario:2: ", "expected 'header Name: value'");
    expect_error("request 1 GET /a\n  header Name : x\n", "t.scenario:2: ", "expected 'header Name: value'");
    expect_error("request 1 GET /a\n  header Content-Length: 5\n", "t.scenario:2: ", "set by keel-bench");
    expect_error("request 1 GET /a\n  header Transfer-Encoding: chunked\n", "t.scenario:2: ", "set by keel-bench");
    expect_error("request 1 GET /a\n  header X: a\001b\n", "t.scenario:2: ", "not allowed in a header value");
    expect_error("  header X: y\nrequest 1 GET /a\n", "t.scenario:1: ", "before any request");
    expect_error("request 1 GET /a\nbody x\n", "t.scenario:2: ", "indent it");
    expect_error("  request 1 GET /a\n", "t.scenario:1: ", "beginning of the line");
    expect_error("request 1 GET /a\n  body x\n  header X: y\n", "t.scenario:3: ", "header after body");
    expect_error("request 1 GET /a\n  body x\nheader G: {int:1:2}\n  body y\n", "t.scenario:4: ", "consecutive");
    expect_error("# only comments\n\n", "t.scenario:2: ", "no 'request' line");
    expect_error("", "t.scenario:1: ", "no 'request' line");
}

static void test_nul_byte_and_limits(void) {
    kb_scenario_t sc;
    static const char with_nul[] = "request 1 GET /a\nrequest 1 GET /b\0\n";
    int rc = kb_scenario_parse(&sc, "n.scenario", with_nul, sizeof with_nul - 1, err, sizeof err);
    KT_EQ(rc, -EINVAL);
    KT_CHECK(!strncmp(err, "n.scenario:2: NUL byte", 22));

    size_t cap = (KB_SC_MAX_REQUESTS + 1) * 20, len = 0;
    char *many = malloc(cap);
    for (int i = 0; i <= KB_SC_MAX_REQUESTS; i++) len += (size_t)snprintf(many + len, cap - len, "request 1 GET /%d\n", i);
    rc = kb_scenario_parse(&sc, "m.scenario", many, len, err, sizeof err);
    KT_EQ(rc, -EINVAL);
    KT_CHECK(strstr(err, "m.scenario:1001: more than 1000 requests") != NULL);
    free(many);

    char *huge = calloc(1, KB_SC_MAX_FILE + 2);
    memset(huge, '#', KB_SC_MAX_FILE + 1);
    rc = kb_scenario_parse(&sc, "h.scenario", huge, KB_SC_MAX_FILE + 1, err, sizeof err);
    KT_EQ(rc, -EINVAL);
    KT_CHECK(strstr(err, "larger than") != NULL);
    free(huge);
}

static void test_load_missing_file(void) {
    kb_scenario_t sc;
    int rc = kb_scenario_load(&sc, "/nonexistent/keel-bench.scenario", err, sizeof err);
    KT_EQ(rc, -ENOENT);
    KT_CHECK(strstr(err, "/nonexistent/keel-bench.scenario: ") == err);
}

static void test_example_file_parses(void) {
    /* the example shipped next to the sources must stay valid */
    kb_scenario_t sc;
    int rc = kb_scenario_load(&sc, "bench/keel-bench/example.scenario", err, sizeof err);
    if (rc == -ENOENT) rc = kb_scenario_load(&sc, "../../../bench/keel-bench/example.scenario", err, sizeof err);
    if (rc < 0) fprintf(stderr, "  %s\n", err);
    KT_EQ(rc, 0);
    if (rc == 0) {
        KT_CHECK(sc.nreqs >= 3);
        kb_scenario_free(&sc);
    }
}

static void test_env_template(void) {
    /* a per-user token kept out of the file: read once at parse time, sent as given */
    kb_scenario_t sc;
    setenv("KB_TEST_TOKEN", "eyJ.abc.def", 1);
    setenv("KB_TEST_ID", "42", 1);
    setenv("KB_TEST_EMPTY", "", 1);
    KT_EQ(parse(&sc, "request 1 POST /c/{env:KB_TEST_ID}/m{env:KB_TEST_EMPTY}\n"
                     "  header Authorization: Bearer {env:KB_TEST_TOKEN}\n"
                     "  body {\"to\":{env:KB_TEST_ID}}\n"),
          0);
    setenv("KB_TEST_TOKEN", "changed", 1); /* the run uses the value parsed */
    char out[512];
    uint64_t rng = 7;
    size_t n = render(&sc, 0, &rng, out, sizeof out);
    KT_EQ(n, strlen(out));
    KT_CHECK(!strncmp(out, "POST /c/42/m HTTP/1.1\r\n", 23));
    KT_CHECK(strstr(out, "\r\nAuthorization: Bearer eyJ.abc.def\r\n") != NULL);
    KT_CHECK(strstr(out, "\r\nContent-Length: 9\r\n\r\n{\"to\":42}") != NULL);
    kb_scenario_free(&sc);

    unsetenv("KB_TEST_UNSET");
    expect_error("request 1 GET /a\nrequest 1 GET /{env:KB_TEST_UNSET}\n", "t.scenario:2: ", "KB_TEST_UNSET is not set");
    expect_error("request 1 GET /{env:}\n", "t.scenario:1: ", "bad {env:NAME}");
    expect_error("request 1 GET /{env:A-B}\n", "t.scenario:1: ", "bad {env:NAME}");
    expect_error("request 1 GET /{env:1A}\n", "t.scenario:1: ", "bad {env:NAME}");
    expect_error("request 1 GET /{env:KB_TEST_ID\n", "t.scenario:1: ", "unterminated {env");
    /* a value must be valid where it lands: no space in a path, no CR/LF in a header */
    setenv("KB_TEST_BAD", "a b", 1);
    expect_error("request 1 GET /{env:KB_TEST_BAD}\n", "t.scenario:1: ", "not allowed in a path");
    setenv("KB_TEST_BAD", "x\r\nInjected: 1", 1);
    expect_error("request 1 GET /a\n  header X: {env:KB_TEST_BAD}\n", "t.scenario:2: ", "not allowed in a header value");
    /* {{env:...} stays literal */
    KT_EQ(parse(&sc, "request 1 GET /a\n  body {{env:KB_TEST_UNSET}\n"), 0);
    rng = 1;
    render(&sc, 0, &rng, out, sizeof out);
    KT_CHECK(strstr(out, "\r\n\r\n{env:KB_TEST_UNSET}") != NULL);
    kb_scenario_free(&sc);
}

static void test_routes_group_by_name(void) {
    kb_scenario_t sc;
    const char *text = "request 5 GET /api/bounties/{int:1:9}\n"
                       "request 1 POST /api/c/1/messages\n"
                       "  name POST messages  \n"
                       "  header X: y\n"
                       "request 1 POST /api/c/2/messages\n"
                       "  header X: y\n"
                       "  name POST messages\n"
                       "request 2 GET /api/bounties/{int:1:9}\n";
    KT_EQ(parse(&sc, text), 0);
    KT_EQ(sc.nreqs, 4);
    KT_EQ(sc.nroutes, 2);
    KT_CHECK(!sc.routes_merged);
    /* unnamed lines are named by METHOD and PATH as written: identical ones share a route */
    KT_CHECK(!strcmp(sc.routes[0].name, "GET /api/bounties/{int:1:9}"));
    KT_EQ(sc.routes[0].line, 1);
    KT_EQ(sc.routes[0].nreqs, 2);
    KT_CHECK(!strcmp(sc.routes[1].name, "POST messages")); /* trailing blanks dropped */
    KT_EQ(sc.routes[1].line, 2);
    KT_EQ(sc.routes[1].nreqs, 2);
    KT_EQ(sc.reqs[0].route, 0);
    KT_EQ(sc.reqs[1].route, 1);
    KT_EQ(sc.reqs[2].route, 1);
    KT_EQ(sc.reqs[3].route, 0);
    /* a name is not sent */
    char out[512];
    uint64_t rng = 3;
    render(&sc, 1, &rng, out, sizeof out);
    KT_CHECK(strstr(out, "messages\r\n") == NULL && strstr(out, "name") == NULL);
    kb_scenario_free(&sc);

    expect_error("request 1 GET /a\n  name\n", "t.scenario:2: ", "expected 'name TEXT'");
    expect_error("request 1 GET /a\nname x\n", "t.scenario:2: ", "indent it");
    expect_error("  name x\nrequest 1 GET /a\n", "t.scenario:1: ", "indent it");
    expect_error("request 1 GET /a\n  name x\n  name y\n", "t.scenario:3: ", "second 'name'");
    expect_error("request 1 GET /a\n  name a\001b\n", "t.scenario:2: ", "not allowed in a name");
}

static void test_routes_beyond_the_cap_are_merged(void) {
    /* distinct request lines past KB_SC_MAX_ROUTES share the last route: bounded memory per
     * worker thread, and every request is still counted somewhere */
    kb_scenario_t sc;
    size_t cap = 100 * 40, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 100; i++) len += (size_t)snprintf(text + len, cap - len, "request 1 GET /r%d\n", i);
    KT_EQ(kb_scenario_parse(&sc, "c.scenario", text, len, err, sizeof err), 0);
    KT_EQ(sc.nroutes, KB_SC_MAX_ROUTES);
    KT_CHECK(sc.routes_merged);
    KT_CHECK(!strcmp(sc.routes[0].name, "GET /r0"));
    KT_CHECK(!strcmp(sc.routes[KB_SC_MAX_ROUTES - 2].name, "GET /r62"));
    KT_CHECK(!strcmp(sc.routes[KB_SC_MAX_ROUTES - 1].name, "(every other request line)"));
    KT_EQ(sc.routes[KB_SC_MAX_ROUTES - 1].nreqs, 100 - (KB_SC_MAX_ROUTES - 1));
    for (size_t i = 0; i < sc.nreqs; i++) KT_CHECK(sc.reqs[i].route < KB_SC_MAX_ROUTES);
    KT_EQ(sc.reqs[99].route, KB_SC_MAX_ROUTES - 1);
    kb_scenario_free(&sc);
    free(text);
}

static void test_long_route_names_are_cut(void) {
    kb_scenario_t sc;
    char text[600];
    char path[400];
    memset(path, 'x', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    snprintf(text, sizeof text, "request 1 GET %s\n", path);
    KT_EQ(parse(&sc, text), 0);
    KT_EQ(strlen(sc.routes[0].name), KB_SC_MAX_ROUTE_NAME);
    KT_CHECK(!strncmp(sc.routes[0].name, "GET /xxx", 8));
    kb_scenario_free(&sc);
}

static void test_marketplace_file_parses(void) {
    /* the bounties write mix (bench/bench_writes.sh) must stay valid; its tokens come from
     * the environment */
    char name[32];
    for (int u = 1; u <= 20; u++) {
        snprintf(name, sizeof name, "KEEL_BENCH_TOKEN_%d", u);
        setenv(name, "t.o.k", 1);
    }
    setenv("KEEL_BENCH_RUN", "r1", 1);
    kb_scenario_t sc;
    int rc = kb_scenario_load(&sc, "examples/bounties/bench/marketplace.scenario", err, sizeof err);
    if (rc == -ENOENT) rc = kb_scenario_load(&sc, "../../../examples/bounties/bench/marketplace.scenario", err, sizeof err);
    if (rc < 0) fprintf(stderr, "  %s\n", err);
    KT_EQ(rc, 0);
    if (rc == 0) {
        /* 80% reads, 15% message posts, 5% transfers */
        uint64_t reads = 0, posts = 0, transfers = 0;
        for (size_t i = 0; i < sc.nreqs; i++) {
            const kb_request_t *rq = &sc.reqs[i];
            const char *rname = sc.routes[rq->route].name;
            if (!strncmp(sc.text + rq->method.off, "GET", 3)) reads += rq->weight;
            else if (strstr(rname, "messages")) posts += rq->weight;
            else if (strstr(rname, "transfers")) transfers += rq->weight;
        }
        KT_EQ(reads + posts + transfers, sc.total_weight);
        KT_EQ(reads * 100, sc.total_weight * 80);
        KT_EQ(posts * 100, sc.total_weight * 15);
        KT_EQ(transfers * 100, sc.total_weight * 5);
        kb_scenario_free(&sc);
    }
}

int main(void) {
    KT_RUN(test_example_mix);
    KT_RUN(test_weighted_pick);
    KT_RUN(test_body_and_length);
    KT_RUN(test_escape_and_overrides);
    KT_RUN(test_render_truncates_and_reports_length);
    KT_RUN(test_full_int_range);
    KT_RUN(test_errors_name_file_and_line);
    KT_RUN(test_nul_byte_and_limits);
    KT_RUN(test_load_missing_file);
    KT_RUN(test_example_file_parses);
    KT_RUN(test_env_template);
    KT_RUN(test_routes_group_by_name);
    KT_RUN(test_routes_beyond_the_cap_are_merged);
    KT_RUN(test_long_route_names_are_cut);
    KT_RUN(test_marketplace_file_parses);
    return KT_DONE();
}
