/* respond.h - how handlers answer a request: status line, Date, Content-Length,
 * X-Request-Id and Connection framing; JSON error bodies; request ids; the access log.
 * Bytes reach the connection only through the request's ops (request.h). */
#ifndef KL_RESPOND_H
#define KL_RESPOND_H

#include "app/app_shard.h"
#include "app/request.h"

/** Answers r: status, Content-Type (NULL: none), extra header lines (each ending in CRLF,
 * may be NULL) and the body; HEAD requests get the headers only. Ends r. */
void kl_respond(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len);
/** Answers r with a body given in pieces, written straight to the connection without
 * joining them first. Ends r. A GET's body larger than max_pending_out that would take the
 * shard's output buffers past its share of max_output is a 503 instead: a client that
 * asks and never reads keeps its answer in keel until the send timeout. */
void kl_respond_parts(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                      const kl_str_t *parts, size_t nparts);
/** Answers r with the JSON error body {"statusCode":N,"error":"Reason","message":"..."}. Ends r. */
void kl_respond_error(kl_request_t *r, int status, const char *message, const char *extra_headers);
/** Sets r->request_id from a client's X-Request-Id when it is safe to echo (1..64 of
 * [A-Za-z0-9._:/+=@-]), else generates a unique one. */
void kl_respond_set_request_id(kl_app_shard_t *as, kl_request_t *r, kl_str_t given);

#endif
