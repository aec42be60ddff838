#include "app/dispatch.h"

static void health(kl_request_t *r, void *ctx) {
    (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    kl_respond(r, 200, "application/json", "Cache-Control: no-store\r\n", body, sizeof(body) - 1);
}

static bool is_get_or_head(const kl_request_t *r) {
    return kl_str_eq(r->method, "GET") || kl_str_eq(r->method, "HEAD");
}

int kl_dispatch_resolve(kl_app_shard_t *as, const kl_request_t *r, kl_handler_t *h, const char **allow) {
    (void)as;
    if (kl_str_eq(r->path, "/health")) {
        if (!is_get_or_head(r)) {
            *allow = "GET, HEAD";
            return 405;
        }
        *h = (kl_handler_t){.fn = health};
        return 0;
    }
    return 404;
}
