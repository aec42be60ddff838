/* scenario.h - a weighted mix of request templates, read from a line-based file
 * (format in bench/README.md), and rendering of one concrete HTTP/1.1 request from it.
 *
 *   # comment
 *   header Accept: application/json                 unindented: sent with every request
 *   request 70 GET /api/bounties?status=open&limit=20
 *   request 25 GET /api/bounties/{int:1:100000}
 *   request 5  GET /api/bounties/search?q={list:pizza,garden,dog}
 *     header Accept-Encoding: gzip                  indented: belongs to the request above
 *     body {"any":"text"}                           (repeat body lines: joined with \n)
 *     name search                                   the route's name in the per-route report
 *
 * Templates: {int:LO:HI} a uniform random integer in [LO, HI]; {list:a,b,c} one item at
 * random; {env:NAME} the environment variable NAME, read once at parse time; {{ a literal
 * '{'. Any other '{' is literal, so JSON bodies need no escaping.
 * Request lines with the same name (default: METHOD and PATH as written) form one route,
 * which the report gives its own counts and latencies.
 * Parsing is pure (text and environment in, struct out); errors read `file:line: reason`.
 * The struct owns a copy of the text (and of the environment values it used); every string
 * in it is a span into those copies.
 * Self-contained so a unit test can #include "scenario.c".
 */
#ifndef KB_SCENARIO_H
#define KB_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest scenario file accepted. */
#define KB_SC_MAX_FILE (1u << 20)
/** Most request lines in one scenario. */
#define KB_SC_MAX_REQUESTS 1000
/** Most headers on one request, and most global headers. */
#define KB_SC_MAX_HEADERS 64
/** Largest weight of one request line. */
#define KB_SC_MAX_WEIGHT 1000000
/** Most routes reported apart; request lines beyond are counted together in the last one. */
#define KB_SC_MAX_ROUTES 64
/** Longest route name (a `name` line, or METHOD and PATH) kept for the report. */
#define KB_SC_MAX_ROUTE_NAME 120

/** A byte range of kb_scenario_t.text. */
typedef struct {
    uint32_t off; /**< offset into text */
    uint32_t len; /**< bytes */
} kb_span_t;

typedef enum {
    KB_PART_TEXT,    /**< literal bytes: span */
    KB_PART_NEWLINE, /**< a "\n" joining two body lines */
    KB_PART_INT,     /**< {int:lo:hi} */
    KB_PART_LIST,    /**< {list:...}: items[first_item .. first_item + nitems) */
    KB_PART_ENV,     /**< {env:NAME}: span is a range of kb_scenario_t.env (the value) */
} kb_part_kind_t;

typedef struct {
    kb_part_kind_t kind; /**< which of the fields below apply */
    kb_span_t span;      /**< KB_PART_TEXT (into text), KB_PART_ENV (into env) */
    int64_t lo, hi;      /**< KB_PART_INT, lo <= hi */
    uint32_t first_item; /**< KB_PART_LIST: index into items */
    uint32_t nitems;     /**< KB_PART_LIST: >= 1 */
} kb_part_t;

/** A template: parts[first .. first + n) rendered in order. */
typedef struct {
    uint32_t first; /**< index into parts */
    uint32_t n;     /**< number of parts */
} kb_tmpl_t;

typedef struct {
    kb_span_t name;  /**< field name (token characters) */
    kb_tmpl_t value; /**< field value template */
} kb_sc_header_t;

typedef struct {
    uint32_t weight;        /**< relative weight, 1..KB_SC_MAX_WEIGHT */
    uint64_t cum_weight;    /**< sum of the weights of this and every earlier request */
    unsigned line;          /**< line of its `request` directive */
    kb_span_t method;       /**< method token */
    kb_tmpl_t path;         /**< request-target template (origin-form) */
    uint32_t first_header;  /**< index into headers */
    uint32_t nheaders;      /**< its own headers */
    uint64_t globals_skip;  /**< bit i set: global header i is replaced by one of its own */
    bool sets_host;         /**< has its own Host header (or a global one does) */
    bool has_body;          /**< one or more body lines */
    bool is_head;           /**< method is HEAD: the response carries no body */
    kb_tmpl_t body;         /**< body template when has_body */
    kb_span_t name;         /**< its `name` line; len 0: METHOD and PATH name the route */
    kb_span_t path_text;    /**< the PATH as written (templates unexpanded) */
    uint32_t route;         /**< index into routes */
} kb_request_t;

/** Request lines that share a name, reported together. */
typedef struct {
    char name[KB_SC_MAX_ROUTE_NAME + 1]; /**< NUL-terminated, cut at KB_SC_MAX_ROUTE_NAME bytes */
    unsigned line;                       /**< line of its first request */
    uint32_t nreqs;                      /**< request lines counted in it */
} kb_sc_route_t;

typedef struct {
    char *text;               /**< owned copy of the file's text */
    size_t text_len;          /**< its length */
    kb_part_t *parts;         /**< every template part (owned) */
    size_t nparts;            /**< used */
    kb_span_t *items;         /**< every list item (owned) */
    size_t nitems;            /**< used */
    kb_sc_header_t *headers;  /**< per-request headers, each request's contiguous (owned) */
    size_t nheaders;          /**< used */
    kb_sc_header_t *globals;  /**< headers sent with every request (owned) */
    size_t nglobals;          /**< used */
    kb_request_t *reqs;       /**< request lines in file order (owned) */
    size_t nreqs;             /**< used, >= 1 after a successful parse */
    uint64_t total_weight;    /**< sum of all weights */
    kb_sc_route_t *routes;    /**< the routes, in order of their first request line (owned) */
    size_t nroutes;           /**< used, 1..KB_SC_MAX_ROUTES after a successful parse */
    bool routes_merged;       /**< more names than KB_SC_MAX_ROUTES: the last route holds the rest */
    char *env;                /**< the {env:} values used, back to back (owned) */
    size_t env_len;           /**< used */
    /* private: array capacities */
    size_t _cap_parts, _cap_items, _cap_headers, _cap_globals, _cap_reqs, _cap_env;
} kb_scenario_t;

/** Parses text[0..len) (name is used in error messages); {env:NAME} reads getenv(NAME). On success sc owns its memory
 * (release with kb_scenario_free) and 0 is returned; on error sc holds nothing, err holds
 * `name:line: reason` and -EINVAL (or -ENOMEM) is returned. */
int kb_scenario_parse(kb_scenario_t *sc, const char *name, const char *text, size_t len, char *err,
                      size_t errcap);

/** Reads and parses the file at path. Errors as kb_scenario_parse, plus -errno when the file
 * cannot be read (`path: reason` in err). */
int kb_scenario_load(kb_scenario_t *sc, const char *path, char *err, size_t errcap);

/** Releases what a successful parse allocated; sc may then be parsed into again. */
void kb_scenario_free(kb_scenario_t *sc);

/** Picks a request at random by weight. */
const kb_request_t *kb_scenario_pick(const kb_scenario_t *sc, uint64_t *rng);

/** Renders one request (request line, Host unless the scenario sets one, global then own
 * headers, Content-Length when there is a body or the method is POST/PUT/PATCH, body) into
 * out[0..cap). Returns the full length: when it exceeds cap, out holds a truncated prefix and
 * the caller must retry with a larger buffer and the rng state it passed in. */
size_t kb_scenario_render(const kb_scenario_t *sc, const kb_request_t *rq, const char *host, uint64_t *rng,
                          char *out, size_t cap);

/** xorshift64*: the per-thread random source for picks and templates (state must not be 0). */
static inline uint64_t kb_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
