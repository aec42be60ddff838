/* http_conn.h - an HTTP/1.1 server connection: frames requests off a kl_stream with the
 * strict parser, enforces the deadlines (head, body idle, keep-alive idle), answers
 * pipelined requests strictly in order, and closes after any rejected request. */
#ifndef KL_HTTP_CONN_H
#define KL_HTTP_CONN_H

#include "app/app_shard.h"
#include "app/request.h"

struct kl_stream;

/** Takes over an accepted socket on shard as's thread. */
void kl_http_conn_accept(kl_app_shard_t *as, int fd);
/** Graceful shutdown: idle connections close now, busy ones after their response. */
void kl_http_conn_drain_all(kl_app_shard_t *as);
/** Closes every connection at once (final teardown). */
void kl_http_conn_abort_all(kl_app_shard_t *as);

/* internals shared with respond.c */
/** Called by kl_respond once the response is queued: ends the request. */
void kl_http_conn__request_done(kl_conn_t *c);
/** The shard state the connection belongs to. */
kl_app_shard_t *kl_http_conn__shard(kl_conn_t *c);
/** The connection's transport. */
struct kl_stream *kl_http_conn__stream(kl_conn_t *c);
/** True when the client went away while a deferred answer was pending. */
bool kl_http_conn__gone(kl_conn_t *c);
/** Marks the current request as answered later. */
void kl_http_conn__defer(kl_conn_t *c);
/** Whether the response should keep the connection open. */
bool kl_http_conn__keep_alive(kl_conn_t *c);

#endif
