/* clients.c - see clients.h. */
#include "app/clients.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/rand.h"
#include "proto/hash.h"

#define PAGE_FDS 4096u               /* entries per page of the fd table */
#define MAX_FDS (1u << 24)           /* fds beyond this are closed at once (never seen in practice) */
#define PROBES 32
#define COUNT_BITS 24
#define COUNT_MASK ((1ull << COUNT_BITS) - 1)

typedef struct {
    kl_client_t c;
} entry_t;

struct kl_clients {
    kl_cidr_t *trusted;
    size_t ntrusted;
    kl_ip_fwd_t fwd;
    const char *fwd_name;
    uint64_t cap;              /* 0: no cap */
    uint64_t seed;
    /* fd table: pages allocated by the acceptor thread on first use, published with
     * release, read by shards with acquire */
    _Atomic(entry_t *) *pages;
    size_t npages;
    /* connection counts */
    _Atomic uint64_t *counts;
    uint64_t mask;
};

kl_clients_t *kl_clients_new(const kl_config_t *cfg, uint64_t max_conns, char *err, size_t errlen) {
    size_t n;
    const char *bad;
    size_t bad_len;
    const char *list = cfg->trusted_proxies;
    if (kl_cidr_list_parse(list, strlen(list), NULL, 0, &n, &bad, &bad_len) < 0) {
        snprintf(err, errlen, "KEEL_TRUSTED_PROXIES: '%.*s' is not an address or a network", (int)bad_len, bad);
        return NULL;
    }
    kl_clients_t *c = kl_calloc(sizeof(*c));
    c->trusted = kl_calloc(sizeof(kl_cidr_t) * (n ? n : 1));
    kl_cidr_list_parse(list, strlen(list), c->trusted, n, &c->ntrusted, &bad, &bad_len);
    bool fwd = strcasecmp(cfg->forwarded_header, "forwarded") == 0; /* else x-forwarded-for (config.c checked) */
    c->fwd = fwd ? KL_IP_FWD_FORWARDED : KL_IP_FWD_XFF;
    c->fwd_name = fwd ? "forwarded" : "x-forwarded-for";
    c->cap = cfg->max_conns_per_ip > 0 ? (uint64_t)cfg->max_conns_per_ip : 0;
    c->seed = kl_rand_seed(c);
    struct rlimit rl;
    uint64_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : MAX_FDS;
    if (fds > MAX_FDS) fds = MAX_FDS;
    c->npages = (size_t)((fds + PAGE_FDS - 1) / PAGE_FDS);
    c->pages = kl_calloc(sizeof(*c->pages) * c->npages);
    if (c->cap) {
        /* room for every connection from a distinct address, at half load */
        uint64_t slots = 1024;
        while (slots < 2 * max_conns && slots < (1u << 22)) slots *= 2;
        c->counts = kl_calloc(sizeof(*c->counts) * slots);
        c->mask = slots - 1;
    }
    return c;
}

void kl_clients_free(kl_clients_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->npages; i++) kl_free(atomic_load_explicit(&c->pages[i], memory_order_relaxed));
    kl_free(c->pages);
    kl_free(c->counts);
    kl_free(c->trusted);
    kl_free(c);
}

static entry_t *entry(kl_clients_t *c, int fd, bool create) {
    if (fd < 0 || (size_t)fd / PAGE_FDS >= c->npages) return NULL;
    _Atomic(entry_t *) *pp = &c->pages[(size_t)fd / PAGE_FDS];
    entry_t *page = atomic_load_explicit(pp, memory_order_acquire);
    if (!page && create) {
        /* only the acceptor thread creates pages, so no other writer can race this store */
        page = kl_trymalloc(sizeof(entry_t) * PAGE_FDS);
        if (!page) return NULL;
        memset(page, 0, sizeof(entry_t) * PAGE_FDS);
        atomic_store_explicit(pp, page, memory_order_release);
    }
    return page ? &page[(size_t)fd % PAGE_FDS] : NULL;
}

int kl_clients_peer_addr(int fd, kl_ip_t *out) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(out, 0, sizeof(*out));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    if (ss.ss_family == AF_INET) {
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
    return 0;
}

/* Adds one connection to the count of addr's group. Acceptor thread only: the one thread
 * that ever makes a count go from 0 to 1, so a group never has two counts; shards only
 * decrement, hence the compare-and-swap. Returns the slot, or -1 when refused. */
static int32_t count_in(kl_clients_t *c, const kl_ip_t *addr) {
    kl_ip_t g;
    kl_ip_group(addr, &g);
    uint64_t h = kl_hash64(g.b, 16, c->seed);
    uint64_t fp = h >> COUNT_BITS, home = h & c->mask;
    long free_at = -1;
    for (unsigned i = 0; i < PROBES; i++) {
        uint64_t idx = (home + i) & c->mask;
        uint64_t v = atomic_load_explicit(&c->counts[idx], memory_order_acquire);
        if ((v & COUNT_MASK) == 0) {
            if (free_at < 0) free_at = (long)idx;
            continue; /* free: keep looking, the group may hold a slot further on */
        }
        if (v >> COUNT_BITS != fp) continue;
        for (;;) { /* the group's slot */
            if ((v & COUNT_MASK) >= c->cap) return -1;
            if ((v & COUNT_MASK) == 0) break; /* its last connection just ended */
            if (atomic_compare_exchange_weak_explicit(&c->counts[idx], &v, v + 1, memory_order_acq_rel,
                                                      memory_order_acquire))
                return (int32_t)idx;
        }
        if (free_at < 0) free_at = (long)idx;
        break;
    }
    if (free_at < 0) return -1; /* every slot in reach holds another address's connections */
    /* Nobody else makes a free slot busy: this store cannot be lost. */
    atomic_store_explicit(&c->counts[free_at], fp << COUNT_BITS | 1, memory_order_release);
    return (int32_t)free_at;
}

int kl_clients_admit(void *ctx, int fd) {
    kl_clients_t *c = ctx;
    kl_client_t cl = {.slot = -1, .known = true};
    int r = kl_clients_peer_addr(fd, &cl.addr);
    if (r < 0) return r; /* reset already */
    entry_t *e = entry(c, fd, true);
    if (!e) return -ENOMEM;
    if (c->cap && !kl_cidr_match(c->trusted, c->ntrusted, &cl.addr)) {
        cl.slot = count_in(c, &cl.addr);
        cl.refused = cl.slot < 0;
    }
    e->c = cl;
    /* The shard reads the entry after the socket reaches it through io_uring (whose ring
     * tail is published with release); this fence pairs with the acquire in take. */
    atomic_thread_fence(memory_order_release);
    return 0;
}

void kl_clients_unadmit(void *ctx, int fd) {
    kl_clients_t *c = ctx;
    entry_t *e = entry(c, fd, false);
    if (e && e->c.known) kl_clients_release(c, &e->c);
    if (e) e->c.known = false;
}

void kl_clients_take(kl_clients_t *c, int fd, kl_client_t *out) {
    atomic_thread_fence(memory_order_acquire);
    entry_t *e = entry(c, fd, false);
    if (e && e->c.known) *out = e->c;
    else *out = (kl_client_t){.slot = -1};
}

void kl_clients_release(kl_clients_t *c, const kl_client_t *cl) {
    if (cl->slot < 0 || !c->counts) return;
    atomic_fetch_sub_explicit(&c->counts[cl->slot], 1, memory_order_acq_rel);
}

void kl_clients_resolve(const kl_clients_t *c, const kl_ip_t *peer, const char *hdr, size_t hdr_len, kl_ip_t *out) {
    kl_ip_client(peer, c->trusted, c->ntrusted, c->fwd, hdr, hdr_len, out);
}

bool kl_clients_trusted(const kl_clients_t *c, const kl_ip_t *ip) { return kl_cidr_match(c->trusted, c->ntrusted, ip); }

const char *kl_clients_header(const kl_clients_t *c) { return c->fwd_name; }
