/* auth.c - see auth.h. */
#include "app/auth.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/keyring.h"
#include "app/token_cache.h"
#include "core/alloc.h"
#include "core/rand.h"
#include "proto/base64url.h"

/* A token verified without an exp (KEEL_JWT_REQUIRE_EXP=false) stays cached this long. */
#define NO_EXP_TTL_S 300
/* PostgreSQL's longest identifier (NAMEDATALEN - 1). */
#define ROLE_MAX 63

struct kl_auth {
    kl_keyring_t *keys;
    kl_jwt_policy_t policy;
    char *issuer, *audience, *role_claim;
    char **roles; /* the allow-list; roles[0] is the default */
    size_t nroles;
    size_t cache_entries, cache_bytes;
};

struct kl_auth_shard {
    kl_auth_t *auth;
    unsigned id;
    kl_token_cache_t *cache;
    kl_auth_stats_t stats;
};

/* The cached value of a token: the claims' tables, then their storage, the payload JSON and
 * the role's index in the allow-list (-1: none). */
typedef struct {
    uint32_t used, json_len;
    int32_t role;
} blob_t;
#define CLAIMS_HEAD offsetof(kl_jwt_claims_t, _storage)

static char *dup_or_null(const char *s) { return s && *s ? kl_strdup(s) : NULL; }

static int parse_roles(kl_auth_t *a, const char *list, char *err, size_t errlen) {
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t n = strcspn(p, ", ");
        if (!n) break;
        if (n > ROLE_MAX) {
            snprintf(err, errlen, "KEEL_JWT_ROLES: '%.*s' is longer than %d bytes", (int)n, p, ROLE_MAX);
            return -EINVAL;
        }
        a->roles = kl_realloc(a->roles, sizeof(char *) * (a->nroles + 1));
        a->roles[a->nroles++] = kl_strndup(p, n);
        p += n;
    }
    return 0;
}

int kl_auth_new(const kl_config_t *cfg, kl_auth_t **out, char *err, size_t errlen) {
    *out = NULL;
    if (!cfg->jwt_secret[0] && !cfg->jwt_jwks[0]) return 0;
    kl_jws_alg_t alg = kl_jws_alg_parse(cfg->jwt_secret_alg, strlen(cfg->jwt_secret_alg));
    if (!kl_jws_alg_is_hmac(alg)) {
        snprintf(err, errlen, "KEEL_JWT_SECRET_ALG must be HS256, HS384 or HS512, not '%s'", cfg->jwt_secret_alg);
        return -EINVAL;
    }
    size_t need = alg == KL_JWS_HS256 ? 32 : alg == KL_JWS_HS384 ? 48 : 64;
    if (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < need) {
        /* RFC 7518 3.2: an HMAC key must be at least as long as the hash output */
        snprintf(err, errlen, "KEEL_JWT_SECRET must be at least %zu bytes for %s (it has %zu)", need,
                 cfg->jwt_secret_alg, strlen(cfg->jwt_secret));
        return -EINVAL;
    }
    if (strlen(cfg->jwt_audience) > 1024) {
        snprintf(err, errlen, "KEEL_JWT_AUDIENCE is longer than 1024 bytes");
        return -EINVAL;
    }
    kl_auth_t *a = kl_calloc(sizeof(*a));
    int r;
    a->issuer = dup_or_null(cfg->jwt_issuer);
    a->audience = dup_or_null(cfg->jwt_audience);
    a->role_claim = dup_or_null(cfg->jwt_role_claim);
    a->policy = (kl_jwt_policy_t){.require_exp = cfg->jwt_require_exp, .leeway_s = cfg->jwt_leeway_ms / 1000,
                                  .issuer = a->issuer, .audience = a->audience};
    a->cache_entries = (size_t)cfg->jwt_cache_entries;
    a->cache_bytes = (size_t)cfg->jwt_cache_bytes;
    if ((r = parse_roles(a, cfg->jwt_roles, err, errlen)) < 0) goto fail;
    if (a->role_claim && !a->nroles) {
        snprintf(err, errlen, "KEEL_JWT_ROLE_CLAIM needs KEEL_JWT_ROLES (the roles a token may switch to)");
        r = -EINVAL;
        goto fail;
    }
    kl_keyring_config_t kc = {
        .secret = cfg->jwt_secret,
        .secret_alg = alg,
        .jwks = cfg->jwt_jwks,
        .min_refresh_ms = cfg->jwt_jwks_min_refresh_ms,
        .max_refresh_ms = 24 * 3600 * 1000,
        .kid_refetch_ms = cfg->jwt_jwks_kid_refetch_ms,
        .fetch_timeout_ms = 5000,
    };
    if (kc.max_refresh_ms < kc.min_refresh_ms) kc.max_refresh_ms = kc.min_refresh_ms;
    if ((r = kl_keyring_new(&kc, &a->keys, err, errlen)) < 0) goto fail;
    *out = a;
    return 0;
fail:
    kl_auth_free(a);
    return r;
}

int kl_auth_start(kl_auth_t *a, unsigned nshards) { return kl_keyring_start(a->keys, nshards); }

void kl_auth_reload(kl_auth_t *a) {
    if (a) kl_keyring_reload(a->keys);
}

void kl_auth_free(kl_auth_t *a) {
    if (!a) return;
    kl_keyring_free(a->keys);
    for (size_t i = 0; i < a->nroles; i++) kl_free(a->roles[i]);
    kl_free(a->roles);
    kl_free(a->issuer);
    kl_free(a->audience);
    kl_free(a->role_claim);
    kl_free(a);
}

bool kl_auth_switches_role(const kl_auth_t *a) { return a && a->nroles > 0; }

int kl_auth_check_db(const kl_auth_t *a, PGconn *pg, bool keel_schema, char *err, size_t errlen) {
    if (!a || !a->nroles) return 0;
    int r = 0;
    for (size_t i = 0; i < a->nroles && r == 0; i++) {
        /* the very statement requests use, in a transaction that is rolled back */
        PQclear(PQexec(pg, "BEGIN"));
        const char *v[1] = {a->roles[i]};
        PGresult *res = PQexecParams(pg, KL_AUTH_ROLE_SQL, 1, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(err, errlen, "KEEL_JWT_ROLES: keel's database role cannot switch to '%s' (%s); "
                     "GRANT %s TO the role keel connects as", a->roles[i], m ? m : "error", a->roles[i]);
            r = -EINVAL;
        }
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        if (r < 0 || !keel_schema) continue;
        /* @idempotent statements store their response in keel.idempotency as the switched
         * role (the claim itself runs before the switch) */
        char *id = PQescapeIdentifier(pg, a->roles[i], strlen(a->roles[i]));
        char sql[256];
        snprintf(sql, sizeof(sql), "GRANT USAGE ON SCHEMA keel TO %s; GRANT SELECT, UPDATE ON keel.idempotency TO %s",
                 id ? id : "\"\"", id ? id : "\"\"");
        PQfreemem(id);
        res = PQexec(pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "KEEL_JWT_ROLES: cannot grant '%s' the use of keel.idempotency: %s", a->roles[i],
                     PQerrorMessage(pg));
            err[strcspn(err, "\n")] = '\0';
            r = -EINVAL;
        }
        PQclear(res);
    }
    return r;
}

kl_auth_shard_t *kl_auth_shard_new(kl_auth_t *a, unsigned shard) {
    kl_auth_shard_t *s = kl_calloc(sizeof(*s));
    s->auth = a;
    s->id = shard;
    if (a->cache_entries && a->cache_bytes)
        s->cache = kl_token_cache_new(a->cache_entries, a->cache_bytes, kl_rand_seed(s));
    return s;
}

void kl_auth_shard_free(kl_auth_shard_t *s) {
    if (!s) return;
    kl_token_cache_free(s->cache);
    kl_free(s);
}

void kl_auth_tick(kl_auth_shard_t *s) { kl_keyring_quiescent(s->auth->keys, s->id); }

const kl_auth_stats_t *kl_auth_shard_stats(const kl_auth_shard_t *s, const kl_token_cache_stats_t **cache) {
    if (cache) *cache = s->cache ? kl_token_cache_stats(s->cache) : NULL;
    return &s->stats;
}

void kl_auth_anonymous(const kl_auth_shard_t *s, kl_auth_id_t *out) {
    *out = (kl_auth_id_t){.role = s->auth->nroles ? s->auth->roles[0] : NULL};
}

/* The allow-list index of the token's role: the claim's, the default (0) without the claim
 * or without KEEL_JWT_ROLE_CLAIM, -1 without roles, -2 when the claim names another role. */
static int role_of(const kl_auth_t *a, const kl_jwt_claims_t *c) {
    if (!a->nroles) return -1;
    int i = a->role_claim ? kl_jwt_claim_index(c, a->role_claim) : -1;
    if (i < 0) return 0;
    if (kl_jwt_claim_type(c, (size_t)i) != KL_JWT_STRING) return -2;
    const char *v = kl_jwt_claim_value(c, (size_t)i);
    for (size_t k = 0; k < a->nroles; k++)
        if (!strcmp(v, a->roles[k])) return (int)k;
    return -2;
}

int kl_auth_verify(kl_auth_shard_t *s, kl_arena_t *arena, const char *token, size_t len, int64_t now_s,
                   kl_auth_id_t *out, const char **why) {
    kl_auth_t *a = s->auth;
    const kl_jws_keys_t *ks = kl_keyring_get(a->keys); /* valid until this shard's next tick */
    kl_jwt_claims_t *c = kl_arena_alloc(arena, sizeof(*c));
    size_t vlen;
    const uint8_t *v = s->cache ? kl_token_cache_get(s->cache, token, len, ks->version, now_s, &vlen) : NULL;
    if (v) {
        blob_t b;
        memcpy(&b, v, sizeof(b));
        memcpy(c, v + sizeof(b), CLAIMS_HEAD);
        memcpy(c->_storage, v + sizeof(b) + CLAIMS_HEAD, b.used);
        char *json = kl_arena_alloc(arena, b.json_len + 1);
        memcpy(json, v + sizeof(b) + CLAIMS_HEAD + b.used, b.json_len);
        json[b.json_len] = '\0';
        *out = (kl_auth_id_t){.claims = c, .claims_json = json, .role = b.role >= 0 ? a->roles[b.role] : NULL};
        s->stats.cached++;
        return 0;
    }
    int rc = kl_jwt_verify(token, len, ks, &a->policy, now_s, c, NULL, 0);
    if (rc != KL_JWT_OK) {
        if (rc == KL_JWT_EKEY) kl_keyring_want_kid(a->keys); /* a key published since? */
        *why = kl_jwt_strerror(rc);
        s->stats.refused++;
        return -1;
    }
    int role = role_of(a, c);
    if (role == -2) {
        *why = "role not allowed";
        s->stats.refused++;
        return -1;
    }
    /* request.jwt.claims: the payload exactly as signed (strict JSON without raw NULs) */
    char *json = kl_arena_alloc(arena, KL_BASE64URL_DECODED_MAX(len) + 1);
    ssize_t jl = kl_jwt_payload(token, len, json, KL_BASE64URL_DECODED_MAX(len));
    if (jl < 0) jl = 0; /* cannot happen after kl_jwt_verify accepted it */
    json[jl] = '\0';
    *out = (kl_auth_id_t){.claims = c, .claims_json = json, .role = role >= 0 ? a->roles[role] : NULL};
    s->stats.verified++;
    if (!s->cache) return 0;

    /* valid while now < exp + leeway (kl_jwt_claim_seconds rounds down: never longer) */
    int64_t exp, until;
    if (kl_jwt_claim_seconds(c, "exp", &exp) == 0)
        until = exp > INT64_MAX - a->policy.leeway_s ? INT64_MAX : exp + a->policy.leeway_s;
    else
        until = now_s + NO_EXP_TTL_S;
    blob_t b = {.used = (uint32_t)kl_jwt_claims_used(c), .json_len = (uint32_t)jl, .role = role};
    size_t n = sizeof(b) + CLAIMS_HEAD + b.used + b.json_len;
    uint8_t *blob = kl_arena_tryalloc(arena, n);
    if (!blob) return 0;
    memcpy(blob, &b, sizeof(b));
    memcpy(blob + sizeof(b), c, CLAIMS_HEAD);
    memcpy(blob + sizeof(b) + CLAIMS_HEAD, c->_storage, b.used);
    memcpy(blob + sizeof(b) + CLAIMS_HEAD + b.used, json, b.json_len);
    kl_token_cache_put(s->cache, token, len, ks->version, until, blob, n); /* full or too big: just not kept */
    return 0;
}

int kl_auth_calls(int stmt_claims, int stmt_role, const char *claims_json, const char *role, kl_db_call_t calls[2],
                  const char *vals[2]) {
    int n = 0;
    if (claims_json && stmt_claims >= 0) {
        vals[0] = claims_json;
        calls[n++] = (kl_db_call_t){.stmt = stmt_claims, .nparams = 1, .values = &vals[0]};
    }
    if (role && stmt_role >= 0) {
        vals[1] = role;
        calls[n++] = (kl_db_call_t){.stmt = stmt_role, .nparams = 1, .values = &vals[1]};
    }
    return n;
}
