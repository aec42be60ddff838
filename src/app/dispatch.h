/* dispatch.h - from a request head to the handler that answers it. Built-in endpoints
 * (/health) come first; SQL routes are added here by the route loader. */
#ifndef KL_DISPATCH_H
#define KL_DISPATCH_H

#include "app/app_shard.h"
#include "app/request.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    void (*fn)(kl_request_t *r, void *ctx); /**< answers r (now or later), its body read */
    /** Optional: runs before any body byte is read (and before 100 Continue is sent);
     * returns false after answering r itself (e.g. 401), true to go on. */
    bool (*precheck)(kl_request_t *r, void *ctx);
    void *ctx;                              /**< handler's own data */
    bool takes_body;                        /**< false: a request with a body gets 413 unread */
    uint64_t max_body;                      /**< this handler's body limit; 0 = the server's */
} kl_handler_t;

/** Finds the handler for r's method and path. Returns 0 with *h set, or an HTTP status
 * (404, or 405 with *allow set to the static Allow value) when there is none. */
int kl_dispatch_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow);

#endif
