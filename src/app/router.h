/* router.h - the compiled SQL routes and how a request finds one. Built once at startup,
 * read-only afterwards, shared by every shard. Literal segments win over parameters at
 * each position (so /api/bounties/search beats /api/bounties/{id}); HEAD matches GET. */
#ifndef KL_ROUTER_H
#define KL_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/db.h"
#include "core/str.h"

#define KL_MAX_PATH_PARAMS 16

typedef enum { KL_TYPE_TEXT, KL_TYPE_INT, KL_TYPE_UUID, KL_TYPE_BOOL } kl_type_t;

typedef struct {
    char *literal;  /**< the segment's text, or NULL for a parameter */
    char *name;     /**< parameter name (NULL for a literal) */
    kl_type_t type; /**< parameter type */
} kl_seg_t;

typedef struct {
    char *name;
    kl_type_t type;
    char *def;             /**< default value text; NULL = required */
    bool has_min, has_max; /**< bounds (int) */
    int64_t min, max;
    char **one_of;         /**< allowed values (text), n_one_of of them; none = any */
    size_t n_one_of;
} kl_qparam_t;

typedef enum { KL_BIND_PATH, KL_BIND_QUERY, KL_BIND_BODY, KL_BIND_AUTH } kl_bind_kind_t;

typedef struct {
    kl_bind_kind_t kind; /**< where $n comes from */
    int index;           /**< path segment index or query parameter index */
} kl_bind_t;

typedef enum { KL_RETURNS_ONE, KL_RETURNS_MANY, KL_RETURNS_NONE } kl_returns_t;

typedef struct {
    char *method;         /**< GET, POST, ... */
    char *pattern;        /**< as written, e.g. "/api/bounties/{id:int}" (logs, errors) */
    char *file;           /**< the route file */
    kl_seg_t *segs;
    size_t nsegs;
    kl_qparam_t *qparams;
    size_t nqparams;
    kl_bind_t *binds;     /**< one per $n, in order */
    int nbinds;
    kl_returns_t returns;
    int status;           /**< success status (200/204 unless @returns ... status N) */
    int timeout_ms;       /**< @timeout; 0 = the connection's statement_timeout */
    int stmt;             /**< index into the table's statements */
} kl_route_t;

typedef struct {
    kl_route_t *routes;   /**< sorted for matching */
    size_t n;
    kl_db_stmt_t *stmts;  /**< one per route, same index as route->stmt */
    size_t nstmts;
} kl_route_table_t;

/** Sorts the routes for matching (literal before parameter, segment by segment) and
 * reports two routes with the same method and shape in err. Returns 0 or -EINVAL. */
int kl_router_build(kl_route_table_t *t, char *err, size_t errlen);
/** Finds the route for method and raw path; the raw text of each parameter segment goes
 * to params[] (at most KL_MAX_PATH_PARAMS). Returns 0 with *out set, 404 when no route has
 * this path, or 405 with the Allow value written to allow. */
int kl_router_match(const kl_route_table_t *t, kl_str_t method, kl_str_t path, const kl_route_t **out,
                    kl_str_t *params, char *allow, size_t allowlen);
/** Frees everything the table owns. */
void kl_router_free(kl_route_table_t *t);
/** "int", "text", "uuid" or "bool". */
const char *kl_type_name(kl_type_t t);

#endif
