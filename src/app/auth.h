/* auth.h - `@auth`: a request's Bearer token verified against keel's keys (keyring.h) and
 * policy (jwt.h), through the shard's cache of verified tokens (token_cache.h), and what the
 * request's SQL then sees of who is asking:
 *   - each claim bound as :auth.<claim> by its JSON type: null as SQL NULL, a string as its
 *     text, a number or boolean as written, an object or array as its JSON text (a jsonb
 *     cast reads it);
 *   - the payload, exactly as signed, as `current_setting('request.jwt.claims', true)` for
 *     the request's transaction only (set_config(..., true) in front of its statement), as
 *     PostgREST does;
 *   - optionally a role for that transaction (set_config('role', ..., true), i.e. SET LOCAL
 *     ROLE): the token's KEEL_JWT_ROLE_CLAIM when it is in the KEEL_JWT_ROLES allow-list
 *     (another value is refused with 401), else the list's first role, which also applies
 *     to anonymous requests on `@auth optional` routes. So row-level security policies see
 *     both the role and the claims.
 * The process-wide kl_auth_t is read-only after kl_auth_start; each shard keeps its own
 * kl_auth_shard_t (its token cache), touched only by its thread. */
#ifndef KL_AUTH_H
#define KL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "app/db.h"
#include "app/token_cache.h"
#include "core/arena.h"
#include "proto/jwt.h"

typedef struct kl_auth kl_auth_t;
typedef struct kl_auth_shard kl_auth_shard_t;

/** Who a request is, in its arena. */
typedef struct {
    kl_jwt_claims_t *claims; /**< the token's payload members; NULL when anonymous */
    const char *claims_json; /**< the payload JSON as signed; NULL when anonymous */
    const char *role;        /**< the role its transaction switches to; NULL: none */
} kl_auth_id_t;

/** Counters of one shard. */
typedef struct {
    uint64_t verified; /**< tokens whose signature was checked and accepted */
    uint64_t refused;  /**< tokens refused (401) */
    uint64_t cached;   /**< tokens accepted from the cache, with no signature check */
} kl_auth_stats_t;

/** Reads the KEEL_JWT_* settings and loads the keys (keyring.h). Returns 0 with *out set, or
 * NULL when neither KEEL_JWT_SECRET nor KEEL_JWT_JWKS is set (no @auth route may then
 * load); -EINVAL with a reason in err for a bad setting or key source. */
int kl_auth_new(const kl_config_t *cfg, kl_auth_t **out, char *err, size_t errlen);
/** Gives each of nshards shards its reader slot and starts the key refresh thread. */
int kl_auth_start(kl_auth_t *a, unsigned nshards);
/** SIGHUP: rereads a JWKS file, refetches a JWKS URL. */
void kl_auth_reload(kl_auth_t *a);
/** Stops the refresh thread and frees a, once no shard runs (NULL is fine). */
void kl_auth_free(kl_auth_t *a);
/** Whether a switches roles (KEEL_JWT_ROLES is set). */
bool kl_auth_switches_role(const kl_auth_t *a);
/** Checks on pg (a startup connection, kl_db_connect_blocking) that keel's role may switch
 * to every KEEL_JWT_ROLES role, and, when keel's schema is in use (keel_schema), grants them
 * what keel's own statements need in it. Blocking, at startup. Returns 0, or -EINVAL with
 * err saying which role and what to grant. */
int kl_auth_check_db(const kl_auth_t *a, PGconn *pg, bool keel_schema, char *err, size_t errlen);

/** Shard `shard`'s state (token cache per KEEL_JWT_CACHE_ENTRIES/_SIZE). */
kl_auth_shard_t *kl_auth_shard_new(kl_auth_t *a, unsigned shard);
/** Frees it (NULL is fine). */
void kl_auth_shard_free(kl_auth_shard_t *s);
/** Once per loop tick: the shard holds no key set from before (keyring.h). */
void kl_auth_tick(kl_auth_shard_t *s);
/** Verifies the token[0..len) at now_s. Returns 0 with *out filled in arena, or -1 with
 * *why the client-safe reason (for the 401's error_description). */
int kl_auth_verify(kl_auth_shard_t *s, kl_arena_t *arena, const char *token, size_t len, int64_t now_s,
                   kl_auth_id_t *out, const char **why);
/** An anonymous request's identity (no claims; the default role when roles are switched). */
void kl_auth_anonymous(const kl_auth_shard_t *s, kl_auth_id_t *out);
/** The shard's counters, and its token cache's when it has one (else NULL). */
const kl_auth_stats_t *kl_auth_shard_stats(const kl_auth_shard_t *s, const kl_token_cache_stats_t **cache);

/** The statements that set a request's claims and role in its transaction: fills calls[]
 * (at most 2) with stmt_claims and stmt_role (the route table's), their values pointing into
 * vals[], which must live as long as the query (claims_json and role too). Either string may
 * be NULL (nothing to set). Returns how many calls it filled. */
int kl_auth_calls(int stmt_claims, int stmt_role, const char *claims_json, const char *role, kl_db_call_t calls[2],
                  const char *vals[2]);

/** Set in front of an @auth request's statement: the claims for its transaction. */
#define KL_AUTH_CLAIMS_SQL "SELECT set_config('request.jwt.claims', $1, true)"
/** The role for its transaction (SET LOCAL ROLE). */
#define KL_AUTH_ROLE_SQL "SELECT set_config('role', $1, true)"

#endif
