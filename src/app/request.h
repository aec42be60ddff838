/* request.h - one HTTP request as handlers see it, and how they answer it.
 * The strings point into the connection's receive buffer while the handler runs
 * synchronously; a handler that answers later must call kl_request_detach first, which
 * copies them into the request's arena. Exactly one kl_respond* call ends a request. */
#ifndef KL_REQUEST_H
#define KL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/str.h"
#include "proto/http1.h"

typedef struct kl_conn kl_conn_t;

typedef struct kl_request {
    kl_conn_t *conn;              /**< the connection that carries it */
    kl_arena_t *arena;            /**< freed after the response */
    kl_str_t method, target, path, query;
    kl_http1_header_t *headers;   /**< request fields in order */
    size_t num_headers;
    kl_str_t body;                /**< decoded body (len 0 when none) */
    kl_str_t params[16];          /**< raw path-parameter segments of the matched route */
    char request_id[72];          /**< X-Request-Id passed through or generated, NUL-terminated */
    bool is_head;                 /**< HEAD: answer like GET without the body */
    int minor_version;            /**< 0 or 1 */
    uint64_t start_ns;            /**< when the head was complete */
} kl_request_t;

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

/** Answers r: status, Content-Type (NULL: none), extra header lines (each ending in CRLF,
 * may be NULL) and the body; HEAD requests get the headers only. */
void kl_respond(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len);
/** Answers r with a body given in pieces, written straight to the connection without
 * joining them first. */
void kl_respond_parts(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                      const kl_str_t *parts, size_t nparts);
/** Answers r with the JSON error body {"statusCode":N,"error":"Reason","message":"..."}. */
void kl_respond_error(kl_request_t *r, int status, const char *message, const char *extra_headers);

#endif
