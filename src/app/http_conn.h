/* http_conn.h - an HTTP/1.1 server connection: frames requests off a kl_stream with the
 * strict parser, enforces the deadlines (head, body idle, keep-alive idle), answers
 * pipelined requests strictly in order, and closes after any rejected request. */
#ifndef KL_HTTP_CONN_H
#define KL_HTTP_CONN_H

#include "app/app_shard.h"

/** Takes over an accepted socket on shard as's thread. */
void kl_http_conn_accept(kl_app_shard_t *as, int fd);
/** Takes over a socket accepted on the admin listener: its requests reach only the admin
 * endpoints (admin.h). */
void kl_http_conn_accept_admin(kl_app_shard_t *as, int fd);
/** Graceful shutdown: idle connections close now, busy ones after their response. */
void kl_http_conn_drain_all(kl_app_shard_t *as);
/** Closes every connection at once (final teardown). */
void kl_http_conn_abort_all(kl_app_shard_t *as);

#endif
