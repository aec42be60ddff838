/* routefile.h - parses one annotated SQL route file (ARCHITECTURE.md, "Route files").
 *
 * Pure: no I/O. The caller reads the file and passes its name and bytes; the parser checks
 * the annotations, rewrites the named parameters of the one SQL statement to $1..$n and
 * says where each $n comes from. It runs at startup only, so it allocates: every string a
 * kl_route_def_t points to lives in one malloc'd block owned by the def, released by
 * kl_routefile_free. Errors come back as "file:line: reason" and -EINVAL.
 *
 * The format, one annotation per `--` comment line (the comment starts its line):
 *
 *   -- @route   METHOD /path/{name:int|text|uuid}/...   {name} alone is text
 *   -- @query   NAME int|text|uuid|bool [default V] [min N] [max N] [one-of a|b|c]
 *                 no default = required; min/max bound an int's value and a text's length
 *                 in bytes; V may be "double quoted" (no escapes) to hold spaces or be empty
 *   -- @body    json [max 64k] [allow-extra]   bound as :body; size in bytes, or with suffix
 *                                              k or m (x1024); at most 1024m. allow-extra:
 *                                              members no @field declares are accepted
 *   -- @field   NAME TYPE required|optional [min N] [max N] [minlen N] [maxlen N] [one-of a|b]
 *                 one member of the body's top-level object, checked before the database and
 *                 bound as :body.NAME. TYPE: text, int (32-bit), bigint, bool, numeric (a JSON
 *                 number, bound as written), uuid, timestamptz (an RFC 3339 date-time string
 *                 with an offset) or json (any value, bound as its JSON text). min/max bound
 *                 an int's, bigint's or numeric's value (integers); minlen/maxlen a text's
 *                 length in characters; one-of lists a text's values. Needs @body json; with
 *                 any @field the body must be an object, and a member no @field names is
 *                 refused unless @body allow-extra. JSON null counts as absent: optional
 *                 binds SQL NULL, required refuses it. NAME is a keel name (letters, digits,
 *                 _) of at most 63 characters
 *   -- @auth    required|optional              claims bound as :auth.<claim>
 *   -- @returns one|many|none [status 2NN]     default status 200 (none: 204)
 *   -- @cache   DURATION [private|public] [swr DURATION]   GET only; private needs @auth,
 *                 and an @auth route's cache must be private (public is the default
 *                 elsewhere, and refused with @auth: one user's answer in a shared cache)
 *   -- @tags    T...                            needs @cache; T may hold {param} references
 *   -- @invalidates T...                        {param} references as in @tags
 *   -- @rate    N/sec|min|hour [burst M] [per ip|sub|claim.NAME]
 *                 period also written s, second, m, minute, h; N at most 1000000; burst M
 *                 (1 <= M < N): also at most M per period*M/N; per: who a client is (default:
 *                 the token's subject when the request carries one, else the address; sub
 *                 and claim.NAME need @auth, and count anonymous requests by address)
 *   -- @timeout DURATION                       DURATION: 500ms, 2s, 5m, 1h
 *   -- @idempotent required|optional [ttl DURATION]   Idempotency-Key (default ttl 24h);
 *                 not on GET, with @returns one or none, without @cache
 *   -- @primary                                GET only: read from the primary even when
 *                                              KEEL_REPLICA_URLS is set (writes always are)
 *   -- @location /path/{member}/...            not GET; needs @returns one: the answer gets a
 *                                              Location header, each {member} replaced by
 *                                              that top-level member of the returned object,
 *                                              percent-encoded (a member that is missing,
 *                                              null or a container is a 500, logged)
 *
 * References in tags are {name} (a path or query parameter), {body.field} (a declared
 * @field) or {auth.claim} (needs @auth).
 * @query, @field, @tags and @invalidates may repeat; every other annotation appears at most
 * once; only @route is required. Other comments are dropped from the SQL (their newlines are
 * kept, so a line in `sql` is the same line in the file). Each annotation is one row of
 * kl_routefile_annotations_table (routefile_annotations.c); routefile.c lists the parser's
 * parts.
 *
 * SQL parameters: `:name` (a path or @query parameter), `:body` (needs @body, type json),
 * `:body.NAME` (needs @field NAME), `:auth.claim` (needs @auth; bound by its JSON type:
 * null as NULL, objects and arrays as JSON text). Each distinct
 * name becomes one $n, numbered in order of first use and reused on repeats. Not parameters: anything inside '...', E'...'
 * (backslash escapes), "...", $$...$$ / $tag$...$tag$, -- and (nested) block comments, and
 * `::` casts (`:id::bigint` becomes `$1::bigint`). An array slice must be written with a
 * space after its colon (`a[1 : n]`), or `:n` is read as a parameter. Written $1 is refused.
 * Every parameter the SQL uses must be declared, every declared one used, and the file
 * must hold exactly one statement (a final `;` is optional and dropped). @body needs :body or
 * a :body.NAME in the SQL; an @field the SQL does not bind is allowed only when the SQL uses
 * :body (it then only validates what the SQL reads from the jsonb), since otherwise the
 * value a client sends for it would be checked and then silently dropped.
 */
#ifndef KL_ROUTEFILE_H
#define KL_ROUTEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KL_ROUTE_MAX_SEGMENTS 16 /**< path segments per route */
#define KL_ROUTE_MAX_QUERY 32    /**< @query parameters per route */
#define KL_ROUTE_MAX_PARAMS 64   /**< distinct SQL parameters ($1..$64) per route */
#define KL_ROUTE_MAX_PARAM_USES 32 /**< parameter uses recorded in param_use[] */
#define KL_ROUTE_MAX_TAGS 16     /**< @tags (and, separately, @invalidates) per route */
#define KL_ROUTE_MAX_RATE 1000000 /**< largest N of @rate N/period */
#define KL_ROUTE_MAX_ONE_OF 32   /**< values in one one-of list */
#define KL_ROUTE_MAX_FIELDS 32   /**< @field lines per route */
#define KL_ROUTE_MAX_FIELD_NAME 63 /**< longest @field name (PostgreSQL's identifier limit) */
#define KL_ROUTEFILE_MAX_LEN (1u << 20) /**< longest route file accepted, bytes */

typedef enum {
    KL_ROUTE_GET,
    KL_ROUTE_POST,
    KL_ROUTE_PUT,
    KL_ROUTE_PATCH,
    KL_ROUTE_DELETE,
} kl_route_method_t;

typedef enum {
    KL_ROUTE_TEXT,
    KL_ROUTE_INT, /**< a signed 64-bit decimal integer */
    KL_ROUTE_UUID,
    KL_ROUTE_BOOL, /**< true or false */
    KL_ROUTE_JSON, /**< :body only */
} kl_route_type_t;

typedef enum {
    KL_ROUTE_FROM_PATH,  /**< a {name} segment of the path */
    KL_ROUTE_FROM_QUERY, /**< an @query parameter */
    KL_ROUTE_FROM_BODY,  /**< the request body (:body) */
    KL_ROUTE_FROM_AUTH,  /**< a claim of the verified token (:auth.claim) */
    KL_ROUTE_FROM_FIELD, /**< a declared member of the JSON body (:body.NAME) */
} kl_route_source_t;

/** The type of an @field: the JSON value it takes and the text it binds. */
typedef enum {
    KL_FIELD_TEXT,        /**< a string, bound decoded (a \u0000 in it is refused) */
    KL_FIELD_INT,         /**< an integer (no fraction or exponent) within int32, bound as written */
    KL_FIELD_BIGINT,      /**< an integer within int64, bound as written */
    KL_FIELD_BOOL,        /**< true or false, bound as "true" / "false" */
    KL_FIELD_NUMERIC,     /**< any number, bound as written */
    KL_FIELD_UUID,        /**< a string holding a canonical UUID (8-4-4-4-12 hex digits) */
    KL_FIELD_TIMESTAMPTZ, /**< a string holding an RFC 3339 date-time with offset (datetime.h) */
    KL_FIELD_JSON,        /**< any value, bound as its JSON text as written */
} kl_route_field_type_t;

typedef enum {
    KL_ROUTE_AUTH_NONE, /**< no @auth: tokens are not looked at */
    KL_ROUTE_AUTH_OPTIONAL,
    KL_ROUTE_AUTH_REQUIRED,
} kl_route_auth_t;

typedef enum {
    KL_ROUTE_IDEMPOTENT_NO,       /**< no @idempotent: Idempotency-Key is not looked at */
    KL_ROUTE_IDEMPOTENT_OPTIONAL, /**< a request with a key is run once per key */
    KL_ROUTE_IDEMPOTENT_REQUIRED, /**< a request without a key is refused (400) */
} kl_route_idempotent_t;

typedef enum {
    KL_ROUTE_RATE_DEFAULT, /**< the token's subject when the request has one, else the address */
    KL_ROUTE_RATE_IP,      /**< the client address (IPv6 by /64) */
    KL_ROUTE_RATE_SUB,     /**< the token's subject (anonymous requests: the address) */
    KL_ROUTE_RATE_CLAIM,   /**< one claim of the token (absent, or anonymous: the address) */
} kl_route_rate_per_t;

typedef enum {
    KL_ROUTE_RETURNS_ONE,  /**< first column of the one row; no row -> 404 (the default) */
    KL_ROUTE_RETURNS_MANY, /**< a JSON array of the rows' first columns */
    KL_ROUTE_RETURNS_NONE, /**< no body */
} kl_route_returns_t;

/** Annotation kinds, to index kl_route_def_t.ann_line (and the parser's table of them). */
typedef enum {
    KL_ROUTE_ANN_ROUTE,
    KL_ROUTE_ANN_QUERY,
    KL_ROUTE_ANN_BODY,
    KL_ROUTE_ANN_AUTH,
    KL_ROUTE_ANN_RETURNS,
    KL_ROUTE_ANN_CACHE,
    KL_ROUTE_ANN_TAGS,
    KL_ROUTE_ANN_INVALIDATES,
    KL_ROUTE_ANN_RATE,
    KL_ROUTE_ANN_TIMEOUT,
    KL_ROUTE_ANN_IDEMPOTENT,
    KL_ROUTE_ANN_FIELD,
    KL_ROUTE_ANN_LOCATION,
    KL_ROUTE_ANN_PRIMARY,
    KL_ROUTE_ANN_COUNT_,
} kl_route_ann_t;

typedef struct {
    const char *literal;  /**< the segment's text (no '/') when it is a literal, else NULL */
    const char *name;     /**< the parameter's name when the segment is {name[:type]}, else NULL */
    kl_route_type_t type; /**< the parameter's type: TEXT, INT or UUID (TEXT for literals) */
    int param;            /**< the parameter's index in params[] ($n is param + 1); -1 for literals */
} kl_route_segment_t;

typedef struct {
    const char *name;          /**< the query-string key */
    kl_route_type_t type;      /**< TEXT, INT, UUID or BOOL */
    const char *default_value; /**< used when the key is absent; NULL: the key is required */
    bool has_min, has_max;     /**< whether min / max were given */
    int64_t min, max;          /**< INT: value bounds; TEXT: length bounds in bytes (inclusive) */
    const char **one_of;       /**< allowed values, n_one_of of them; NULL when not restricted */
    size_t n_one_of;           /**< number of values in one_of */
    int param;                 /**< index in params[] ($n is param + 1) */
    int line;                  /**< line of its @query */
} kl_route_query_t;

typedef struct {
    const char *name;             /**< the member's name */
    kl_route_field_type_t type;   /**< what it takes and binds */
    bool required;                /**< required: absent or null is a 400; optional: binds NULL */
    bool has_min, has_max;        /**< whether min / max were given (INT, BIGINT, NUMERIC) */
    int64_t min, max;             /**< value bounds (inclusive); INT's lie within int32 */
    int64_t minlen, maxlen;       /**< TEXT: length bounds in characters (inclusive); -1: none */
    const char **one_of;          /**< TEXT: allowed values, n_one_of of them; NULL: any */
    size_t n_one_of;              /**< number of values in one_of */
    int param;                    /**< index in params[] of :body.NAME; -1 when the SQL does not use it */
    int line;                     /**< line of its @field */
} kl_route_field_t;

typedef struct {
    kl_route_source_t source; /**< where the value comes from */
    kl_route_type_t type;     /**< declared type (JSON for :body, TEXT for auth claims and
                                   fields: a field's own type is in fields[index]) */
    const char *name;         /**< parameter name; without "auth." / "body." for AUTH / FIELD */
    int index;                /**< PATH: index in segments[]; QUERY: index in query[];
                                   FIELD: index in fields[]; else -1 */
    int line;                 /**< line of its first use in the SQL */
} kl_route_param_t;

typedef struct {
    const char *file;         /**< the file name given to kl_routefile_parse (a copy) */
    kl_route_method_t method; /**< the HTTP method */
    const char *method_name;  /**< "GET", "POST", ... (static) */
    const char *path;         /**< the path as written in @route */
    kl_route_segment_t segments[KL_ROUTE_MAX_SEGMENTS]; /**< the path split at '/' */
    size_t n_segments;        /**< 0 for the path "/" */
    kl_route_query_t query[KL_ROUTE_MAX_QUERY]; /**< @query parameters in file order */
    size_t n_query;           /**< number of @query parameters */
    bool has_body;            /**< @body given: the route reads a JSON body bound as :body */
    uint64_t body_max;        /**< @body max in bytes; 0 when not given (server default) */
    bool body_allow_extra;    /**< @body allow-extra: members no @field names are accepted */
    kl_route_field_t fields[KL_ROUTE_MAX_FIELDS]; /**< @field declarations in file order */
    size_t n_fields;          /**< number of @field lines; > 0: the body must be an object */
    kl_route_auth_t auth;     /**< @auth */
    kl_route_returns_t returns; /**< @returns (default ONE) */
    int status;               /**< success status: @returns status, else 200 (204 for NONE) */
    uint64_t cache_ms;        /**< @cache TTL in ms; 0: not cached */
    bool cache_private;       /**< @cache private: the cache key includes the token's subject */
    bool cache_public;        /**< @cache public written out (the default without @auth) */
    uint64_t swr_ms;          /**< @cache swr: serve-stale-while-revalidate window in ms; 0: none */
    const char *tags[KL_ROUTE_MAX_TAGS]; /**< @tags templates, n_tags of them */
    size_t n_tags;            /**< number of tags */
    const char *invalidates[KL_ROUTE_MAX_TAGS]; /**< @invalidates templates */
    size_t n_invalidates;     /**< number of @invalidates templates */
    uint32_t rate_count;      /**< @rate: requests allowed per rate_period_ms; 0: no limit */
    uint64_t rate_period_ms;  /**< @rate period: 1000, 60000 or 3600000 */
    uint32_t rate_burst;      /**< @rate burst M: also at most M per rate_period_ms * M /
                                   rate_count; 0: no burst limit */
    kl_route_rate_per_t rate_per; /**< @rate per: who a client is */
    const char *rate_claim;   /**< per claim.NAME: NAME; NULL otherwise */
    uint64_t timeout_ms;      /**< @timeout; 0: the server's statement_timeout */
    kl_route_idempotent_t idempotent; /**< @idempotent */
    uint64_t idempotent_ttl_ms; /**< @idempotent ttl: how long a key's stored response is kept */
    const char *location;     /**< @location template ("/api/things/{id}"); NULL when absent */
    bool primary;             /**< @primary: a GET that never reads from a replica (replica.h) */
    int ann_line[KL_ROUTE_ANN_COUNT_]; /**< line of each annotation kind (first one); 0: absent */
    const char *sql;          /**< the statement with $n parameters, trimmed, no final ';' */
    size_t sql_len;           /**< strlen(sql) */
    int sql_line;             /**< the file line where sql starts */
    kl_route_param_t params[KL_ROUTE_MAX_PARAMS]; /**< params[i] describes $(i + 1) */
    size_t n_params;          /**< number of distinct parameters */
    uint32_t param_use[KL_ROUTE_MAX_PARAM_USES]; /**< where each $n written starts in sql, in order */
    size_t n_param_uses;      /**< uses of parameters in sql; above KL_ROUTE_MAX_PARAM_USES only
                                   the first KL_ROUTE_MAX_PARAM_USES are in param_use[] */
    bool params_cast;         /**< every use is followed by an explicit cast (:id::bigint), so
                                   its type does not come from where it stands (sql_batch.h) */
    uint32_t rows_max;        /**< the most rows the statement returns by its own final LIMIT:
                                   `LIMIT n` or `LIMIT :q` with q an int @query with a max (its
                                   max), optionally with an OFFSET; 0: not bounded that way */
    void *_mem;               /**< the block holding every string above */
} kl_route_def_t;

/** Parses the route file `filename` (used in messages only) from text[0..len). Returns 0
 * with *out filled (free it with kl_routefile_free), or -EINVAL with err holding
 * "filename:line: reason" (truncated to errlen) and *out left empty, or -ENOMEM. */
int kl_routefile_parse(const char *filename, const char *text, size_t len, kl_route_def_t *out,
                       char *err, size_t errlen);

/** Releases what kl_routefile_parse allocated and zeroes *def; safe on a zeroed def. */
void kl_routefile_free(kl_route_def_t *def);

/** The file line of PostgreSQL's error position `pos` (1-based, in characters of def->sql,
 * as PQresultErrorField(PG_DIAG_STATEMENT_POSITION) reports it): def->sql_line for pos < 1,
 * the statement's last line for pos past its end ("at end of input"). */
int kl_routefile_sql_line(const kl_route_def_t *def, long pos);

/** True when a and b answer the same requests: same method and, segment by segment, equal
 * literals or parameters of the same type. Literal and parameter segments, and parameters of
 * different types, do not conflict: the router tries literal, then int and uuid, then text. */
bool kl_routefile_conflicts(const kl_route_def_t *a, const kl_route_def_t *b);

/** "int", "text", "uuid", "bool" or "json". */
const char *kl_routefile_type_name(kl_route_type_t type);

/** The @field type's name as written: "text", "int", "bigint", ... */
const char *kl_routefile_field_type_name(kl_route_field_type_t type);

/** The annotation's name with its '@' ("@cache"). */
const char *kl_routefile_ann_name(kl_route_ann_t ann);

#endif
