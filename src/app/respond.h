/* respond.h - response framing shared by every handler: status line, Date, Content-Length,
 * X-Request-Id, Connection; JSON error bodies; request ids; the access log. */
#ifndef KL_RESPOND_H
#define KL_RESPOND_H

#include "app/app_shard.h"
#include "app/request.h"

/** Sets r->request_id from a client's X-Request-Id when it is safe to echo (1..64 of
 * [A-Za-z0-9._:/+=@-]), else generates a unique one. */
void kl_respond_set_request_id(kl_app_shard_t *as, kl_request_t *r, kl_str_t given);
/** Writes the shard's buffered access-log lines to stdout. */
void kl_respond_flush_log(kl_app_shard_t *as);

#endif
