/* routes_reload.h - live route reload. kl_routes_reload re-reads the route folder, checks
 * every statement against the database on a blocking connection of its own (on the calling
 * thread, never a shard), and posts the new table to every shard (IORING_OP_MSG_RING), which
 * installs it between requests. A file that does not load, or SQL that does not prepare,
 * leaves the old table serving.
 *
 * Statement indices are process-wide and append-only: a route whose file, method and path
 * are unchanged keeps its statement (name and index), a new or changed one gets a new
 * statement, and nothing is renumbered, so a query an old request still has in flight means
 * what it meant. Each shard's pool prepares the new statements on every connection before
 * that connection takes another query (kl_db_set_stmts). Statements of removed or changed
 * routes stay prepared until their connection reconnects.
 *
 * A request (and a cache fill) holds the table it was matched against (routes_gen.h) until
 * it ends, so a swap drops nothing in flight; a replaced table is freed by the last shard to
 * let go of it. When a cached route changed or was removed, every shard clears its cache
 * (cache keys name a route by its statement index, which a changed file may keep). */
#ifndef KL_ROUTES_RELOAD_H
#define KL_ROUTES_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app_shard.h"
#include "app/auth.h"
#include "app/config.h"
#include "app/router.h"
#include "app/routes_gen.h"

typedef struct kl_routes_live kl_routes_live_t;

/** Prepares reloads of cfg->routes for the n shards apps (call before the shards start; it
 * sets their reload_io). startup is the table they start with (its owner frees it after they
 * stopped), auth the JWT keys (NULL: none; @auth routes are then refused), have_rate whether
 * the process-wide @rate table exists (a reload cannot add @rate without it). */
kl_routes_live_t *kl_routes_live_new(const kl_config_t *cfg, const kl_route_table_t *startup, kl_app_shard_t *apps,
                                     unsigned n, const kl_auth_t *auth, bool have_rate);
/** Reloads the routes (blocking; from any thread but a shard's; concurrent calls are
 * serialized). Returns 0 once every shard serves the new table, with a one-line summary in
 * err, or -errno with err = "file:line: reason" (or what failed) and the old table serving. */
int kl_routes_reload(kl_routes_live_t *l, char *err, size_t errlen);
/** Frees what reloads made; after every shard stopped. */
void kl_routes_live_free(kl_routes_live_t *l);

#endif
