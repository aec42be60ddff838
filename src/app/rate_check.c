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

/* The headers are written on every request of a limited route: plain appends, no printf. */
typedef struct {
    char *p, *end;
} out_t;

static void put(out_t *o, const char *s) {
    size_t n = strlen(s);
    if (n > (size_t)(o->end - o->p)) n = (size_t)(o->end - o->p);
    memcpy(o->p, s, n);
    o->p += n;
}

static void put_u(out_t *o, uint64_t v) {
    char d[20];
    size_t i = sizeof(d);
    do d[--i] = (char)('0' + v % 10); while ((v /= 10) != 0);
    size_t n = sizeof(d) - i;
    if (n > (size_t)(o->end - o->p)) n = (size_t)(o->end - o->p);
    memcpy(o->p, d + i, n);
    o->p += n;
}

static uint32_t left_of(const policy_t *p) { return p->verdict == KL_RATELIMIT_OK ? p->limit - p->hit.count : 0; }

/* RateLimit-Policy for every policy p[0..n) (the field stays the same from response to
 * response), RateLimit for those of p[from..to), then the x-ratelimit-* of the one of those
 * with the least left. */
static void write_headers(out_t *o, const policy_t *p, size_t n, size_t from, size_t to) {
    put(o, "RateLimit-Policy: ");
    for (size_t i = 0; i < n; i++) {
        put(o, i ? ", \"" : "\"");
        put(o, p[i].name);
        put(o, "\";q=");
        put_u(o, p[i].limit);
        if (p[i].window_ms % 1000 == 0) {
            put(o, ";w=");
            put_u(o, p[i].window_ms / 1000);
        }
    }
    put(o, "\r\nRateLimit: ");
    size_t least = from;
    for (size_t i = from; i < to; i++) {
        if (left_of(&p[i]) < left_of(&p[least])) least = i;
        put(o, i > from ? ", \"" : "\"");
        put(o, p[i].name);
        put(o, "\";r=");
        put_u(o, left_of(&p[i]));
        put(o, ";t=");
        put_u(o, secs_up(p[i].hit.reset_ms));
    }
    put(o, "\r\nx-ratelimit-limit: ");
    put_u(o, p[least].limit);
    put(o, "\r\nx-ratelimit-remaining: ");
    put_u(o, left_of(&p[least]));
    put(o, "\r\nx-ratelimit-reset: ");
    put_u(o, secs_up(p[least].hit.reset_ms));
    put(o, "\r\n");
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
    /* one key per route and policy */
    size_t route = (size_t)(rt - as->routes->routes);
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
    out_t o = {hdr, hdr + 511};
    if (!refused) {
        write_headers(&o, p, n, 0, n);
        *o.p = '\0';
        req->resp_headers = hdr;
        return true;
    }
    write_headers(&o, p, n, (size_t)(refused - p), (size_t)(refused - p) + 1);
    uint64_t retry = secs_up(refused->hit.reset_ms);
    put(&o, "Retry-After: ");
    put_u(&o, retry);
    put(&o, "\r\n");
    *o.p = '\0';
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
