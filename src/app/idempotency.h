/* idempotency.h - write routes that run once per Idempotency-Key
 * (draft-ietf-httpapi-idempotency-key-header), the effect and its stored response committed
 * together, in one round trip on a pipelined connection that other requests share.
 *
 * keel owns one table, keel.idempotency (subject, route, key, fingerprint, status, body,
 * created_at, expires_at; primary key subject, route, key), created at startup when some
 * route is @idempotent. A keyed request is one pipeline segment, so one transaction that no
 * other request's statement can join:
 *   1. keel.idempotency_claim(subject, route, key, fingerprint, ttl_s) inserts the key's row.
 *      A live row of a committed request answers instead: a different fingerprint (method,
 *      target, body) raises KH422, the same one KI001 ("replay"), and either way the
 *      transaction aborts before the route's statement runs. A row of a transaction still in
 *      flight makes the claim wait for that transaction's outcome (then replay, or go on if
 *      it rolled back): concurrent requests with one key wait and replay, never run twice.
 *   2. the route's statement, wrapped (kl_idem_wrap_sql) so that it writes the response it
 *      produces into the claimed row and returns that row's status and body;
 *   3. the NOTIFYs of the route's @invalidates.
 * So a crash, a timeout or a lost connection leaves either both the effect and its stored
 * response, or neither: the client's retry with the same key then replays or runs once.
 * Failed requests (an error anywhere) store nothing. Expired rows are purged in batches, off
 * the request path (kl_idem_purge_sql). */
#ifndef KL_IDEMPOTENCY_H
#define KL_IDEMPOTENCY_H

#include <stddef.h>

#include "app/routefile.h"
#include "core/str.h"

/** Longest Idempotency-Key accepted, in bytes. */
#define KL_IDEM_KEY_MAX 255
/** SQLSTATE keel.idempotency_claim raises when the key's stored response should be replayed. */
#define KL_IDEM_REPLAY_SQLSTATE "KI001"

/** Creates schema keel, its table and function when missing (idempotent; serialized across
 * instances starting together by an advisory lock); run in one transaction at startup. */
extern const char kl_idem_schema_sql[];
/** $1 subject, $2 route, $3 key, $4 fingerprint, $5 ttl in seconds: claims the key. */
extern const char kl_idem_claim_sql[];
/** $1 subject, $2 route, $3 key -> one row (status, body) when the key's response is stored. */
extern const char kl_idem_lookup_sql[];
/** Deletes up to 1,000 expired rows; returns nothing. */
extern const char kl_idem_purge_sql[];

/** The SQL of d's statement wrapped to store its response (d->sql uses $1..$n, n =
 * d->n_params; the wrapper adds $n+1 subject, $n+2 route, $n+3 key) and to return one row
 * (status, body): d->status and the first column of the first row, or 404 and NULL when
 * @returns one found no row; for @returns none, d->status and NULL. A new allocation. */
char *kl_idem_wrap_sql(const kl_route_def_t *d);

/** The key of an Idempotency-Key field value: an RFC 8941 string ("..." with \" and \\) as the
 * draft specifies, or, as many clients send it, a bare token of visible ASCII. Writes it
 * NUL-terminated to out (KL_IDEM_KEY_MAX + 1 bytes) and returns its length, or -1 when the
 * value is empty, longer than KL_IDEM_KEY_MAX, or malformed. */
int kl_idem_parse_key(kl_str_t field, char out[KL_IDEM_KEY_MAX + 1]);

/** The request's fingerprint: SHA-256 over method, target and body (each length-prefixed, so
 * no two requests share one by shifting bytes between them), as 64 hex digits and a NUL. */
void kl_idem_fingerprint(kl_str_t method, kl_str_t target, kl_str_t body, char out[65]);

#endif
