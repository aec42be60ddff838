#include "app/routes_gen.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/alloc.h"

/* One shard's use of a reloaded table; a cache line each, as only that shard writes it. */
typedef struct {
    uint64_t users; /* requests and fills holding the table */
    bool retired;   /* the shard installed a newer table */
} __attribute__((aligned(64))) slot_t;

struct kl_routes_gen {
    unsigned n;
    _Atomic unsigned released; /* shards that retired it and hold it no more */
    slot_t *slots;  /* inside raw, on a cache-line boundary (kl_calloc aligns to 16) */
    void *raw;
};

void kl_routes_gen_new(kl_route_table_t *t, unsigned nshards) {
    t->gen = kl_calloc(sizeof(*t->gen));
    t->gen->n = nshards;
    t->gen->raw = kl_calloc(sizeof(slot_t) * nshards + sizeof(slot_t) - 1);
    t->gen->slots = (slot_t *)(((uintptr_t)t->gen->raw + sizeof(slot_t) - 1) & ~(uintptr_t)(sizeof(slot_t) - 1));
}

void kl_routes_gen_free(kl_route_table_t *t) {
    for (size_t i = 0; i < t->n; i++) kl_routefile_free(&t->routes[i].def);
    kl_free(t->routes);
    kl_free(t->stmts); /* the array only: its strings belong to the reload registry */
    kl_free(t->gen->raw);
    kl_free(t->gen);
    kl_free(t);
}

static void shard_done(kl_route_table_t *t) {
    struct kl_routes_gen *g = t->gen;
    if (atomic_fetch_add_explicit(&g->released, 1, memory_order_acq_rel) + 1 == g->n) kl_routes_gen_free(t);
}

void kl_routes_hold(kl_app_shard_t *as, const kl_route_table_t *t) {
    if (t && t->gen) t->gen->slots[as->shard->id].users++;
}

void kl_routes_release(kl_app_shard_t *as, const kl_route_table_t *t) {
    if (!t || !t->gen) return;
    slot_t *s = &t->gen->slots[as->shard->id];
    if (--s->users == 0 && s->retired) shard_done((kl_route_table_t *)t);
}

void kl_routes_retire(kl_app_shard_t *as, const kl_route_table_t *t) {
    if (!t || !t->gen) return;
    slot_t *s = &t->gen->slots[as->shard->id];
    s->retired = true;
    if (s->users == 0) shard_done((kl_route_table_t *)t);
}
