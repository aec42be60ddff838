/* request.h - one HTTP request as handlers see it.
 * The strings point into the connection's receive buffer while the handler runs
 * synchronously; a handler that answers later must call kl_request_defer (or
 * kl_request_detach) first, which copies them into the request's arena. Exactly one
 * kl_respond* call (respond.h) ends a request.
 *
 * The request knows its connection only through the ops table the connection sets when the
 * request begins (as h2o's http1.c sets req->_ostr_top in init_request), so the code that
 * answers requests never depends on the code that carries them. */
#ifndef KL_REQUEST_H
#define KL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/str.h"
#include "proto/http1.h"
#include "proto/ipaddr.h"

typedef struct kl_request kl_request_t;
typedef struct kl_conn kl_conn_t;
struct kl_app_shard;

/** What a request may ask of the connection that carries it. */
typedef struct {
    /** Queues len bytes of r's response (copied); sent at the end of the loop iteration. */
    void (*write)(kl_request_t *r, const void *data, size_t len);
    /** r's response is completely queued (or r is abandoned): the connection releases r,
     * its arena included, and moves on. r must not be touched afterwards. */
    void (*done)(kl_request_t *r);
    /** Whether the connection stays open after r's response. */
    bool (*keep_alive)(const kl_request_t *r);
} kl_request_ops_t;

struct kl_request {
    const kl_request_ops_t *ops;  /**< set by the connection when the request begins */
    kl_conn_t *conn;              /**< the connection that carries it (opaque here) */
    struct kl_app_shard *as;      /**< the shard the request runs on */
    kl_arena_t *arena;            /**< freed after the response */
    kl_str_t method, target, path, query;
    kl_http1_header_t *headers;   /**< request fields in order */
    size_t num_headers;
    kl_str_t body;                /**< decoded body (len 0 when none) */
    kl_str_t params[16];          /**< raw path-parameter segments of the matched route */
    char request_id[72];          /**< X-Request-Id passed through or generated, NUL-terminated */
    bool is_head;                 /**< HEAD: answer like GET without the body */
    bool deferred;                /**< answered after the handler returned (kl_request_defer) */
    bool gone;                    /**< the client disconnected while the answer was deferred:
                                       responding only ends the request */
    int minor_version;            /**< 0 or 1 */
    uint64_t start_ns;            /**< when the head was complete */
    void *state;                  /**< the handler's own, e.g. verified claims from its precheck */
    kl_ip_t peer;                 /**< the connection's peer address (all zero when not known) */
    bool admin;                   /**< came in on the admin listener (admin.h) */
    int mx_slot;                  /**< route slot it is counted under (metrics.h); 0 = unmatched */
    uint8_t cache;                /**< kl_mx_cache_t: how the cache answered (0: not a cached route) */
    uint64_t db_us;               /**< time its queries took (send to answer), for the access log */
    const char *resp_headers;     /**< header lines (each ending in CRLF) that every response to
                                       r carries, e.g. its rate-limit state; NULL: none. In the
                                       arena or static. */
};

/** Copies every string of the request into its arena so it outlives the receive buffer. */
void kl_request_detach(kl_request_t *r);
/** Declares that the handler answers after it returns (e.g. from a database callback):
 * detaches the request and keeps it alive even if the client disconnects meanwhile. */
void kl_request_defer(kl_request_t *r);
/** The value of the first field named name (case-insensitive), or len 0 when absent. */
kl_str_t kl_request_header(const kl_request_t *r, const char *name);
/** Every line of a list-valued field joined with ", " (RFC 9110 5.3), in r's arena when
 * there is more than one; base NULL when absent. */
kl_str_t kl_request_header_list(kl_request_t *r, const char *name);

#endif
