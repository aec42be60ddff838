/* clients.h - who is at the other end of each connection, for @rate and the per-address
 * connection cap (KEEL_MAX_CONNS_PER_IP). One process-wide object.
 *
 * The acceptor thread reads each new connection's peer address once (getpeername) in
 * kl_clients_admit, before the socket goes to a shard, and leaves it in a table indexed by
 * the fd, where the shard takes it (kl_clients_take) when it takes the socket over: the fd
 * cannot be reused before that shard closes it, so the entry cannot change under it.
 *
 * The connection cap is exact across shards: only the acceptor thread ever adds a
 * connection to an address's count (so one address can never get two counts), shards only
 * take theirs away when a connection ends. Counts live in a fixed table of 64-bit words
 * (fingerprint 40 bits | open connections 24 bits; a word with no connections is free),
 * found by linear probing, at most 32 slots, sized for every connection keel may hold at
 * once. A connection beyond the cap (or, the table being full in its reach, any new
 * address) is marked refused: the shard writes a 503 with Connection: close at once,
 * without waiting for a request, and closes after it. Trusted proxies are never capped: one
 * proxy carries many clients. */
#ifndef KL_CLIENTS_H
#define KL_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "proto/ipaddr.h"

typedef struct kl_clients kl_clients_t;

/** What the acceptor learnt about one connection. */
typedef struct {
    kl_ip_t addr;  /**< the peer's address (IPv4 as ::ffff:a.b.c.d) */
    int32_t slot;  /**< its connection count's slot; -1: not counted */
    bool known;    /**< addr is set (kl_clients_admit ran for this fd) */
    bool refused;  /**< over the per-address cap: answer 503 and close */
} kl_client_t;

/** From cfg (trusted proxies, forwarded header, max_conns_per_ip) for at most max_conns
 * connections open at once. Returns NULL after writing why into err (a setting that does
 * not parse). */
kl_clients_t *kl_clients_new(const kl_config_t *cfg, uint64_t max_conns, char *err, size_t errlen);

/** Frees c; no thread may use it any more. */
void kl_clients_free(kl_clients_t *c);

/** fd's peer address (IPv4 as ::ffff:a.b.c.d; all zero for another family). Returns 0, or
 * -errno from getpeername (out all zero). */
int kl_clients_peer_addr(int fd, kl_ip_t *out);

/** Acceptor thread (a kl_acceptor_admit_t's admit; ctx is the kl_clients_t): records fd's
 * peer and counts it against the cap. Returns 0, or -errno when the socket should be closed
 * at once (the peer is gone already, or no memory for its entry). */
int kl_clients_admit(void *ctx, int fd);

/** Acceptor thread: fd was admitted but closed before a shard took it: uncounts it. */
void kl_clients_unadmit(void *ctx, int fd);

/** Shard thread, once, when it takes fd over: what kl_clients_admit recorded (out->known
 * false when it did not run for fd). */
void kl_clients_take(kl_clients_t *c, int fd, kl_client_t *out);

/** Shard thread: the connection of cl ended (once per taken connection). */
void kl_clients_release(kl_clients_t *c, const kl_client_t *cl);

/** The client a request speaks for: peer itself, or when peer is a trusted proxy, the one
 * its forwarded header names (ipaddr.h, kl_ip_client); hdr is that header's value (every
 * line joined), NULL when absent. */
void kl_clients_resolve(const kl_clients_t *c, const kl_ip_t *peer, const char *hdr, size_t hdr_len, kl_ip_t *out);

/** Whether ip is one of the trusted proxies. */
bool kl_clients_trusted(const kl_clients_t *c, const kl_ip_t *ip);

/** The header trusted proxies report clients in, lower case ("x-forwarded-for" or
 * "forwarded"). */
const char *kl_clients_header(const kl_clients_t *c);

#endif
