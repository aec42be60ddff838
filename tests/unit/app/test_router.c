#include <errno.h>

#include "app/router.h"
#include "core/alloc.h"
#include "kt.h"

/* Builds a table from route-file texts (each a tiny file: annotations + SQL). */
static int build(kl_route_table_t *t, const char *const *files, size_t n, char *err, size_t errlen) {
    memset(t, 0, sizeof(*t));
    t->routes = kl_calloc(sizeof(kl_route_t) * n);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "r%zu.sql", i);
        if (kl_routefile_parse(name, files[i], strlen(files[i]), &t->routes[i].def, err, errlen) != 0) {
            fprintf(stderr, "  parse: %s\n", err);
            return -EINVAL;
        }
        t->routes[i].stmt = (int)i;
        t->n++;
    }
    return kl_router_build(t, err, errlen);
}

static const char *const files[] = {
    "-- @route GET /api/bounties/{id:int}\nSELECT :id::bigint",
    "-- @route GET /api/bounties/search\n-- @query q text\nSELECT :q",
    "-- @route GET /api/bounties\nSELECT 1",
    "-- @route POST /api/bounties\nSELECT 2",
    "-- @route GET /x/{slug}\nSELECT :slug",
    "-- @route GET /x/{id:uuid}\nSELECT :id::uuid",
    "-- @route DELETE /api/bounties/{id:int}\nSELECT :id::bigint",
    "-- @route GET /\nSELECT 3",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static const kl_route_t *match(const kl_route_table_t *t, const char *method, const char *path, int *st, char *allow) {
    const kl_route_t *r = NULL;
    kl_str_t segs[KL_ROUTE_MAX_SEGMENTS];
    *st = kl_router_match(t, (kl_str_t){method, strlen(method)}, (kl_str_t){path, strlen(path)}, &r, segs, allow, 128);
    return *st == 0 ? r : NULL;
}

static void literal_beats_parameter_and_types_filter(void) {
    kl_route_table_t t;
    char err[256], allow[128];
    int st;
    KT_EQ(build(&t, files, NFILES, err, sizeof(err)), 0);
    const kl_route_t *r = match(&t, "GET", "/api/bounties/search", &st, allow);
    KT_CHECK(r && !strcmp(r->def.path, "/api/bounties/search"));
    r = match(&t, "GET", "/api/bounties/42", &st, allow);
    KT_CHECK(r && !strcmp(r->def.path, "/api/bounties/{id:int}"));
    r = match(&t, "GET", "/api/bounties/abc", &st, allow); /* not an int: no route */
    KT_EQ(st, 404);
    r = match(&t, "GET", "/x/123e4567-e89b-12d3-a456-426614174000", &st, allow);
    KT_CHECK(r && !strcmp(r->def.path, "/x/{id:uuid}")); /* uuid before text */
    r = match(&t, "GET", "/x/hello", &st, allow);
    KT_CHECK(r && !strcmp(r->def.path, "/x/{slug}"));
    r = match(&t, "GET", "/", &st, allow);
    KT_CHECK(r && !strcmp(r->def.path, "/"));
    kl_router_free(&t);
}

static void methods_head_and_allow(void) {
    kl_route_table_t t;
    char err[256], allow[128];
    int st;
    KT_EQ(build(&t, files, NFILES, err, sizeof(err)), 0);
    const kl_route_t *r = match(&t, "HEAD", "/api/bounties", &st, allow);
    KT_CHECK(r && r->def.method == KL_ROUTE_GET);
    r = match(&t, "POST", "/api/bounties", &st, allow);
    KT_CHECK(r && r->def.method == KL_ROUTE_POST);
    match(&t, "PUT", "/api/bounties/7", &st, allow);
    KT_EQ(st, 405);
    KT_CHECK(strstr(allow, "GET, HEAD") && strstr(allow, "DELETE"));
    match(&t, "PUT", "/api/bounties/search", &st, allow);
    KT_EQ(st, 405);
    KT_CHECK(!strcmp(allow, "GET, HEAD")); /* the literal route only, not {id:int} */
    kl_router_free(&t);
}

static void segment_edge_cases(void) {
    kl_route_table_t t;
    char err[256], allow[128];
    int st;
    KT_EQ(build(&t, files, NFILES, err, sizeof(err)), 0);
    match(&t, "GET", "/api/bounties/", &st, allow);
    KT_EQ(st, 404);
    match(&t, "GET", "/api/bounties/42/extra", &st, allow);
    KT_EQ(st, 404);
    match(&t, "GET", "/api//bounties", &st, allow);
    KT_EQ(st, 404);
    match(&t, "GET", "/api/bounties/%34%32", &st, allow); /* "42" percent-encoded */
    KT_EQ(st, 0);
    match(&t, "GET", "/api/bounties/%zz", &st, allow);
    KT_EQ(st, 404);
    match(&t, "GET", "*", &st, allow);
    KT_EQ(st, 404);
    kl_router_free(&t);
}

static void duplicates_are_refused(void) {
    const char *const dup[] = {
        "-- @route GET /a/{id:int}\nSELECT :id::int",
        "-- @route GET /a/{n:int}\nSELECT :n::int",
    };
    kl_route_table_t t;
    char err[256];
    KT_EQ(build(&t, dup, 2, err, sizeof(err)), -EINVAL);
    KT_CHECK(strstr(err, "duplicate route GET /a/") != NULL);
    kl_router_free(&t);
    const char *const ok[] = {
        "-- @route GET /a/{id:int}\nSELECT :id::int",
        "-- @route GET /a/{n}\nSELECT :n",
    };
    KT_EQ(build(&t, ok, 2, err, sizeof(err)), 0); /* int and text do not conflict */
    kl_router_free(&t);
}

int main(void) {
    KT_RUN(literal_beats_parameter_and_types_filter);
    KT_RUN(methods_head_and_allow);
    KT_RUN(segment_edge_cases);
    KT_RUN(duplicates_are_refused);
    return KT_DONE();
}
