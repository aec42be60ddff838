/* routes_gen.h - the lifetime of a route table that a reload made (routes_reload.h): each
 * shard counts the requests and cache fills that hold it, and the table is freed by the
 * last shard to let go of it after every shard installed a newer one. A table without a
 * generation (the startup table) is its loader's: holding it does nothing. Kept apart from
 * the reload itself, so that request code depends on nothing but this. */
#ifndef KL_ROUTES_GEN_H
#define KL_ROUTES_GEN_H

#include "app/app_shard.h"
#include "app/router.h"

/** Gives t (heap-allocated, its stmts array its own, their strings not) a lifetime over
 * nshards shards. */
void kl_routes_gen_new(kl_route_table_t *t, unsigned nshards);
/** Frees t with everything it owns; only when no shard can use it any more. */
void kl_routes_gen_free(kl_route_table_t *t);
/** Marks one more user of t on as's shard (a request or fill that keeps pointers into it). */
void kl_routes_hold(kl_app_shard_t *as, const kl_route_table_t *t);
/** Ends a kl_routes_hold; frees t when it was retired everywhere and this was its last user. */
void kl_routes_release(kl_app_shard_t *as, const kl_route_table_t *t);
/** as's shard installed a newer table than t: it takes no new users of t there. */
void kl_routes_retire(kl_app_shard_t *as, const kl_route_table_t *t);

#endif
