/* rate_check.h - @rate on the request path: which client a request counts for, its counts
 * in the shared table (ratelimit.h), the headers every response of a limited route
 * carries, and the 429. It runs in the SQL route's precheck: after @auth (the subject may
 * be the key), before the body is read, the cache is looked at or the database is asked; a
 * cache hit is a request like any other.
 *
 * Who a client is (the route's `per`, default: the token's subject when the request has a
 * verified one, else the address): the peer address, or when the peer is a trusted proxy
 * the client its forwarded header names (clients.h); IPv4 by address, IPv6 by /64.
 *
 * Policies: "default" (N per period), and with `burst M` also "burst" (M per period*M/N).
 * A request passes when every policy has room; refused requests count in none.
 *
 * Headers (draft-ietf-httpapi-ratelimit-headers-11, May 2026; RFC 8941 lists of items):
 *   RateLimit-Policy: "default";q=20;w=60, "burst";q=5;w=15
 *   RateLimit: "default";r=19;t=42, "burst";r=4;t=7
 * (w is left out of a policy whose window is not a whole number of seconds; r is what is
 * left, t the seconds until the window ends, rounded up), and as @fastify/rate-limit sends
 * them, for the policy with the least left:
 *   x-ratelimit-limit: 20, x-ratelimit-remaining: 19, x-ratelimit-reset: 42
 * A 429's RateLimit (and x-ratelimit-*) names only the policy that refused (r=0), with
 * Retry-After (seconds until its window ends) and the body
 * {"statusCode":429,"error":"Too Many Requests","message":...}.
 * Limits are per instance: each keel process counts alone. */
#ifndef KL_RATE_CHECK_H
#define KL_RATE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "app/config.h"
#include "app/request.h"
#include "app/router.h"
#include "proto/jwt.h"

typedef struct kl_rate kl_rate_t;

/** The process-wide counts, cfg->rate_limit_slots of them. */
kl_rate_t *kl_rate_new(const kl_config_t *cfg);

/** Frees r; no thread may use it any more. */
void kl_rate_free(kl_rate_t *r);

/** Shard `shard` of n, once a second: sweeps its share of the table (all of it is swept
 * about every minute); *cursor is the shard's own position, 0 at first. */
void kl_rate_tick(kl_rate_t *r, unsigned shard, unsigned n, size_t *cursor);

/** Counts req against rt's @rate (rt->def.rate_count > 0) with the verified claims (NULL:
 * anonymous). Returns true when req may go on, its responses then carrying the RateLimit
 * headers; false after answering 429. */
bool kl_rate_check(kl_request_t *req, const kl_route_t *rt, const kl_jwt_claims_t *claims);

#endif
