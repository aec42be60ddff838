/* keyring.h - keel's JWT verification keys: where they come from, how a new set reaches
 * the shards without a lock on the request path, and the thread that keeps it fresh.
 *
 * Sources: KEEL_JWT_SECRET (one HMAC key without a kid) and/or KEEL_JWT_JWKS, a JWK Set
 * (jwks.h) in a file or at an https URL (http only to a loopback address). Every set is
 * built whole (the secret plus the JWKS keys) and then published; nothing is ever changed
 * in a published set.
 *
 * Publication (read-copy-update with quiescent-state reclamation): the current set is one
 * atomic pointer. A shard reads it with one load and uses it only while handling one
 * request, never across loop iterations; once per iteration (the tick) it records in its
 * own cache line the publication epoch it has seen. The writer swaps the pointer, then
 * bumps the epoch, and frees the old set only when every shard has recorded that epoch or a
 * later one: a shard that has, read the pointer after the swap, so it can no longer hold
 * the old set. Readers take no lock and write nothing shared; a shard that is idle still
 * ticks at least every 100 ms (its loop's longest wait), so sets are freed within about
 * that. A shard that has stopped keeps its old sets alive until kl_keyring_free.
 *
 * The refresh thread is the only writer once started (before that, kl_keyring_new
 * publishes the first set). It fetches a URL with libcurl (off the shard threads, so a slow
 * issuer never stalls a request): again after the response's Cache-Control max-age,
 * bounded to [min_refresh, max_refresh]; sooner when a shard meets a token whose kid it
 * does not know, at most once per kid_refetch; after a failure with a backoff from 1 s (or
 * min_refresh when lower) doubling up to 5 min. A failed fetch or a document without a
 * usable key keeps the last good set. SIGHUP (kl_keyring_reload) rereads a file and
 * refetches a URL at once. A document identical to the last one is not republished, so
 * the shards' token caches (which key entries by set version) survive routine refreshes. */
#ifndef KL_KEYRING_H
#define KL_KEYRING_H

#include <stdint.h>

#include "proto/jws.h"

typedef struct kl_keyring kl_keyring_t;

typedef struct {
    const char *secret;      /**< HMAC secret; "" = none */
    kl_jws_alg_t secret_alg; /**< its algorithm: HS256, HS384 or HS512 */
    const char *jwks;        /**< a file path or an http(s) URL; "" = none */
    int64_t min_refresh_ms;  /**< a URL is fetched again no sooner than this after a success */
    int64_t max_refresh_ms;  /**< ... and no later than this */
    int64_t kid_refetch_ms;  /**< an unknown kid triggers a fetch at most this often */
    int64_t fetch_timeout_ms; /**< one fetch, connection included */
} kl_keyring_config_t;

/** Counters, updated by the refresh thread (read them with relaxed loads). */
typedef struct {
    _Atomic uint64_t fetches, fetch_failures, publications, reclaimed;
} kl_keyring_stats_t;

/** Validates cfg and loads the first set: the secret, a JWKS file (an error when it cannot
 * be read or holds no usable key), or a first fetch of a URL (waited for, within the fetch
 * timeout; when it fails keel starts with what else it has and the thread retries). Returns
 * 0 with *out set, or -EINVAL with a reason in err. */
int kl_keyring_new(const kl_keyring_config_t *cfg, kl_keyring_t **out, char *err, size_t errlen);
/** Readies nreaders reader slots (one per shard) and, for a JWKS, starts the refresh
 * thread. Call once, before any reader calls kl_keyring_quiescent. Returns 0 or -errno. */
int kl_keyring_start(kl_keyring_t *k, unsigned nreaders);
/** The current set; valid until the calling reader's next kl_keyring_quiescent. */
const kl_jws_keys_t *kl_keyring_get(const kl_keyring_t *k);
/** Reader `reader` holds no set from before this call any more (call once per loop tick). */
void kl_keyring_quiescent(kl_keyring_t *k, unsigned reader);
/** A token named a kid no key has: asks the refresh thread for a fetch (a URL only; at most
 * once per kid_refetch). Cheap and lock-free; safe from any thread. */
void kl_keyring_want_kid(kl_keyring_t *k);
/** SIGHUP: reread the file or refetch the URL now. Safe from any thread. */
void kl_keyring_reload(kl_keyring_t *k);
/** The counters. */
const kl_keyring_stats_t *kl_keyring_stats(const kl_keyring_t *k);
/** Stops the thread, abandoning a fetch under way, and frees every set; no reader may use k any more (NULL is fine). */
void kl_keyring_free(kl_keyring_t *k);

/** Whether the http(s) URL may be fetched: https, or http to 127.0.0.0/8, [::1] or
 * localhost. Returns 0, or -EINVAL with the reason in err. */
int kl_keyring_check_url(const char *url, char *err, size_t errlen);

#endif
