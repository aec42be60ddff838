/* rate_check.c - see rate_check.h. */
#include "app/rate_check.h"

#include <stdio.h>
#include <string.h>

#include "app/app_shard.h"
#include "app/clients.h"
#include "app/ratelimit.h"
#include "app/respond.h"
#include "core/alloc.h"
#include "core/rand.h"
#include "core/sbuf.h"
#include "proto/hash.h"

_Static_assert(KL_ROUTE_MAX_RATE <= KL_RATELIMIT_MAX_LIMIT, "@rate N fits a window's count");

struct kl_rate {
    kl_ratelimit_t *table;
    uint64_t seed; /* secret: clients cannot aim their keys at one probe range */
};

kl_rate_t *kl_rate_new(const kl_config_t *cfg) {
    kl_ratelimit_t *t = kl_ratelimit_new((size_t)cfg->rate_limit_slots, NULL, NULL);
    if (!t) return NULL;
    kl_rate_t *r = kl_calloc(sizeof(*r));
    r->table = t;
    r->seed = kl_rand_seed(r);
    return r;
}

void kl_rate_free(kl_rate_t *r) {
    if (!r) return;
    kl_ratelimit_free(r->table);
    kl_free(r);
}

void kl_rate_tick(kl_rate_t *r, unsigned shard, unsigned n, size_t *cursor) {
    size_t slots = kl_ratelimit_slots(r->table);
    size_t share = slots / (60 * (size_t)n) + 1;
    if (*cursor == 0) *cursor = slots / n * shard; /* the shards start spread out */
    kl_ratelimit_sweep(r->table, *cursor, share);
    *cursor = (*cursor + share) % slots;
    if (*cursor == 0) *cursor = 1;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct {
    const char *name; /* "default" or "burst" */
    uint32_t limit;
    uint32_t window_ms;
    uint64_t key;
    int verdict;
    kl_ratelimit_hit_t hit;
} policy_t;

static uint64_t secs_up(uint64_t ms) { return (ms + 999) / 1000; }

static uint32_t left_of(const policy_t *p) { return p->verdict == KL_RATELIMIT_OK ? p->limit - p->hit.count : 0; }

/* RateLimit-Policy for every policy p[0..n) (the field stays the same from response to
 * response), RateLimit for those of p[from..to), then the x-ratelimit-* of the one of those
 * with the least left. Written on every request of a limited route: no printf. */
static void write_headers(kl_sbuf_t *o, const policy_t *p, size_t n, size_t from, size_t to) {
    kl_sbuf_str(o, "RateLimit-Policy: ");
    for (size_t i = 0; i < n; i++) {
        kl_sbuf_str(o, i ? ", \"" : "\"");
        kl_sbuf_str(o, p[i].name);
        kl_sbuf_str(o, "\";q=");
        kl_sbuf_u64(o, p[i].limit);
        if (p[i].window_ms % 1000 == 0) {
            kl_sbuf_str(o, ";w=");
            kl_sbuf_u64(o, p[i].window_ms / 1000);
        }
    }
    kl_sbuf_str(o, "\r\nRateLimit: ");
    size_t least = from;
    for (size_t i = from; i < to; i++) {
        if (left_of(&p[i]) < left_of(&p[least])) least = i;
        kl_sbuf_str(o, i > from ? ", \"" : "\"");
        kl_sbuf_str(o, p[i].name);
        kl_sbuf_str(o, "\";r=");
        kl_sbuf_u64(o, left_of(&p[i]));
        kl_sbuf_str(o, ";t=");
        kl_sbuf_u64(o, secs_up(p[i].hit.reset_ms));
    }
    kl_sbuf_str(o, "\r\nx-ratelimit-limit: ");
    kl_sbuf_u64(o, p[least].limit);
    kl_sbuf_str(o, "\r\nx-ratelimit-remaining: ");
    kl_sbuf_u64(o, left_of(&p[least]));
    kl_sbuf_str(o, "\r\nx-ratelimit-reset: ");
    kl_sbuf_u64(o, secs_up(p[least].hit.reset_ms));
    kl_sbuf_str(o, "\r\n");
}

bool kl_rate_check(kl_request_t *req, const kl_route_t *rt, const kl_jwt_claims_t *claims) {
    kl_app_shard_t *as = req->as;
    const kl_route_def_t *d = &rt->def;
    kl_rate_t *rate = as->rate;
    /* who the client is: its kind tag, then its bytes */
    const char *who = NULL;
    kl_route_rate_per_t per = d->rate_per;
    if (per == KL_ROUTE_RATE_DEFAULT) per = claims ? KL_ROUTE_RATE_SUB : KL_ROUTE_RATE_IP;
    if (per == KL_ROUTE_RATE_SUB && claims) who = kl_jwt_subject(claims);
    if (per == KL_ROUTE_RATE_CLAIM && claims) who = kl_jwt_claim(claims, d->rate_claim);
    uint64_t h;
    if (who) {
        h = kl_hash64(who, strlen(who), rate->seed ^ (per == KL_ROUTE_RATE_SUB ? 's' : 'c'));
    } else { /* the address: anonymous, or a token without the claim */
        kl_ip_t client = req->peer, group;
        if (as->clients && kl_clients_trusted(as->clients, &req->peer)) {
            kl_str_t fwd = kl_request_header_list(req, kl_clients_header(as->clients));
            kl_clients_resolve(as->clients, &req->peer, fwd.base, fwd.len, &client);
        }
        kl_ip_group(&client, &group);
        h = kl_hash64(group.b, sizeof(group.b), rate->seed ^ 'i');
    }
    /* one key per route and policy: its statement's index names it across reloads */
    size_t route = (size_t)rt->stmt;
    policy_t p[2];
    size_t n = 0;
    p[n++] = (policy_t){.name = "default", .limit = d->rate_count, .window_ms = (uint32_t)d->rate_period_ms,
                        .key = mix(h ^ mix(route * 2 + 1))};
    if (d->rate_burst)
        p[n++] = (policy_t){.name = "burst", .limit = d->rate_burst,
                            .window_ms = (uint32_t)(d->rate_period_ms * d->rate_burst / d->rate_count),
                            .key = mix(h ^ mix(route * 2 + 2))};
    /* The shorter window first: its refusals are the common ones, and then nothing needs
     * taking back; a refusal by the longer one takes back the shorter one's count. */
    policy_t *refused = NULL;
    for (size_t i = n; i-- > 0;) {
        p[i].verdict = kl_ratelimit_hit(rate->table, p[i].key, p[i].limit, p[i].window_ms, &p[i].hit);
        if (p[i].verdict != KL_RATELIMIT_OK) {
            refused = &p[i];
            for (size_t j = i + 1; j < n; j++) kl_ratelimit_undo(rate->table, p[j].key, p[j].hit.window);
            break;
        }
    }
    /* two policies' worth is under 300 bytes: 512 never truncates */
    char *hdr = kl_arena_alloc(req->arena, 512);
    kl_sbuf_t o = kl_sbuf(hdr, 511);
    if (!refused) {
        write_headers(&o, p, n, 0, n);
        hdr[kl_sbuf_len(&o)] = '\0';
        req->resp_headers = hdr;
        return true;
    }
    write_headers(&o, p, n, (size_t)(refused - p), (size_t)(refused - p) + 1);
    uint64_t retry = secs_up(refused->hit.reset_ms);
    kl_sbuf_str(&o, "Retry-After: ");
    kl_sbuf_u64(&o, retry);
    kl_sbuf_str(&o, "\r\n");
    hdr[kl_sbuf_len(&o)] = '\0';
    char msg[160];
    if (refused->verdict == KL_RATELIMIT_FULL) {
        as->stats.rate_full++;
        snprintf(msg, sizeof(msg), "Rate limit exceeded: too many clients are counted at once, retry in %llu second%s",
                 (unsigned long long)retry, retry == 1 ? "" : "s");
    } else {
        snprintf(msg, sizeof(msg), "Rate limit exceeded, retry in %llu second%s", (unsigned long long)retry,
                 retry == 1 ? "" : "s");
    }
    as->stats.rate_limited++;
    if (req->mx_slot >= 0 && (unsigned)req->mx_slot < as->mx.nslots) kl_mx_add(&as->mx.routes[req->mx_slot].rate_rejected, 1);
    kl_respond_error(req, 429, msg, hdr);
    return false;
}
