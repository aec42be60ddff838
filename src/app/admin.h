/* admin.h - the admin listener's endpoints (/metrics, /health, /ready, GET /cache,
 * POST /cache/purge?tag=..., GET /routes) and the per-shard bookkeeping behind /metrics:
 * publishing the shard's gauges once a millisecond, and rendering every shard's counters,
 * summed, as Prometheus text. Requests on the admin listener are never SQL routes, and
 * these endpoints are never on the public port, except /metrics with KEEL_METRICS_PUBLIC. */
#ifndef KL_ADMIN_H
#define KL_ADMIN_H

#include "app/app_shard.h"
#include "app/dispatch.h"
#include "app/request.h"
#include "proto/prom.h"

/** Finds the admin endpoint for r (a request that came in on the admin listener). Returns
 * 0 with *h set, or 404 / 405 (with *allow set). */
int kl_admin_resolve(kl_app_shard_t *as, kl_request_t *r, kl_handler_t *h, const char **allow);
/** The /metrics handler (ctx: the shard), for the public port's KEEL_METRICS_PUBLIC. */
void kl_admin_metrics(kl_request_t *r, void *ctx);
/** Renders every shard's metrics, summed, into o (Prometheus text format 0.0.4). */
void kl_admin_render_metrics(kl_app_shard_t *as, kl_prom_out_t *o);
/** The route label of a metrics slot: the SQL route's pattern, "/health", "/ready",
 * "/metrics", or "unmatched" (also for KL_MX_SLOT_NONE: "admin"). */
const char *kl_admin_slot_name(const kl_app_shard_t *as, int slot);
/** Called from the shard's tick: copies its gauges (pool, queue, cache, connections, loop
 * lag) into its kl_metrics_t, at most once a millisecond, where scrapes read them. */
void kl_admin_tick(kl_app_shard_t *as);

#endif
