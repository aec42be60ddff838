/* config.h - keel's settings: every one has a flag, an environment variable and a default,
 * listed by `keel --help`. Flags win over the environment (12-factor). */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** keel's version (--version, keel_build_info). */
#define KL_VERSION "0.1.0"

typedef struct {
    char *listen;              /**< address to bind (KEEL_LISTEN) */
    int64_t port;              /**< TCP port (PORT) */
    int64_t shards;            /**< shard threads; 0 = one per CPU (KEEL_SHARDS) */
    bool pin;                  /**< pin each shard thread to its CPU (KEEL_PIN) */
    bool accept_by_load;       /**< the acceptor weighs shards by load (KEEL_ACCEPT_BY_LOAD) */
    int64_t max_conns;         /**< open connections per shard (KEEL_MAX_CONNS) */
    int64_t header_timeout_ms; /**< whole request head must arrive within (KEEL_HEADER_TIMEOUT) */
    int64_t body_timeout_ms;   /**< longest silence while a body arrives (KEEL_BODY_TIMEOUT) */
    int64_t keepalive_ms;      /**< idle keep-alive connections close after (KEEL_KEEPALIVE_TIMEOUT) */
    int64_t gather_us;         /**< a busy shard's wait gathers completions this long (KEEL_GATHER_US; shard.c) */
    int64_t send_timeout_ms;   /**< a peer taking none of our output this long is closed (KEEL_SEND_TIMEOUT) */
    int64_t shutdown_ms;       /**< graceful shutdown deadline (KEEL_SHUTDOWN_TIMEOUT) */
    int64_t max_request_line;  /**< bytes, else 414 (KEEL_MAX_REQUEST_LINE) */
    int64_t max_head;          /**< bytes of request head, else 431 (KEEL_MAX_HEADER_SIZE) */
    int64_t max_headers;       /**< header fields, else 431 (KEEL_MAX_HEADERS) */
    int64_t max_body;          /**< bytes of request body, else 413 (KEEL_MAX_BODY) */
    int64_t max_answer;        /**< bytes of one query's rows held, else 500 (KEEL_MAX_ANSWER; db.h) */
    int64_t max_output;        /**< unsent response bytes all connections hold, split across shards,
                                    before a large response is a 503 (KEEL_MAX_OUTPUT; respond.h) */
    int64_t max_pending_out;   /**< unsent response bytes before a connection stops reading (KEEL_MAX_PENDING_OUTPUT) */
    int64_t recv_buffers;      /**< provided receive buffers per shard (KEEL_RECV_BUFFERS) */
    int64_t recv_buffer_size;  /**< bytes per receive buffer (KEEL_RECV_BUFFER_SIZE) */
    bool access_log;           /**< one JSON line per request on stdout (KEEL_ACCESS_LOG) */
    char *admin_listen;        /**< host:port of the admin listener, or "off" (KEEL_ADMIN_LISTEN) */
    bool metrics_public;       /**< /metrics on the public port too (KEEL_METRICS_PUBLIC) */
    char *database_url;        /**< libpq URL or conninfo; "" = PG* variables (DATABASE_URL) */
    char *replica_urls;        /**< comma-separated replica URLs; "" = none (KEEL_REPLICA_URLS) */
    int64_t replica_max_lag_ms; /**< lag beyond which a replica leaves rotation (KEEL_REPLICA_MAX_LAG) */
    char *routes;              /**< folder of annotated .sql route files; "" = none (KEEL_ROUTES) */
    int64_t db_conns;          /**< PostgreSQL connections per shard (KEEL_DB_CONNS_PER_SHARD) */
    int64_t db_depth;          /**< queries in flight per connection (KEEL_DB_PIPELINE_DEPTH) */
    int64_t db_batch;          /**< most queries in one batch execution (KEEL_DB_BATCH; db.h) */
    int64_t db_queue;          /**< queries waiting for a connection per shard (KEEL_DB_QUEUE) */
    int64_t db_acquire_ms;     /**< longest wait for a connection before 503 (KEEL_DB_ACQUIRE_TIMEOUT) */
    int64_t db_queue_target_ms; /**< shed with 503 once queue waits stand above this (KEEL_DB_QUEUE_TARGET) */
    int64_t statement_timeout_ms; /**< statement_timeout per connection (KEEL_STATEMENT_TIMEOUT) */
    int64_t slow_query_ms;     /**< log queries slower than this; 0 = off (KEEL_SLOW_QUERY_MS) */
    int64_t cache_mb;          /**< response cache, MiB in total, split across shards (KEEL_CACHE_MB; auto: kl_config_default_cache_mb) */
    int64_t gzip_level;        /**< libdeflate level for gzip responses, 1 fastest (KEEL_GZIP_LEVEL) */
    char *jwt_secret;          /**< HMAC key for @auth routes; "" = none (KEEL_JWT_SECRET) */
    char *jwt_secret_alg;      /**< HS256, HS384 or HS512: the secret's algorithm (KEEL_JWT_SECRET_ALG) */
    char *jwt_jwks;            /**< JWK Set file or http(s) URL; "" = none (KEEL_JWT_JWKS) */
    int64_t jwt_jwks_min_refresh_ms; /**< a JWKS URL is refetched no sooner (KEEL_JWT_JWKS_MIN_REFRESH) */
    int64_t jwt_jwks_kid_refetch_ms; /**< an unknown kid refetches at most this often (KEEL_JWT_JWKS_KID_REFETCH) */
    bool jwt_require_exp;      /**< tokens without exp are refused (KEEL_JWT_REQUIRE_EXP) */
    int64_t jwt_leeway_ms;     /**< clock skew allowed on exp, nbf, iat (KEEL_JWT_LEEWAY) */
    char *jwt_issuer;          /**< required iss; "" = not checked (KEEL_JWT_ISSUER) */
    char *jwt_audience;        /**< required aud; "" = not checked (KEEL_JWT_AUDIENCE) */
    char *jwt_role_claim;      /**< claim naming the role to switch to; "" = none (KEEL_JWT_ROLE_CLAIM) */
    char *jwt_roles;           /**< comma-separated roles a request may switch to, default first (KEEL_JWT_ROLES) */
    int64_t jwt_cache_entries; /**< verified tokens cached per shard; 0 = off (KEEL_JWT_CACHE_ENTRIES) */
    int64_t jwt_cache_bytes;   /**< bytes of verified tokens cached per shard (KEEL_JWT_CACHE_SIZE) */
    bool expose_db_errors;     /**< 4xx answers carry PostgreSQL's own message (KEEL_EXPOSE_DB_ERRORS) */
    char *trusted_proxies;     /**< CIDR list whose forwarded header is believed; "" = none (KEEL_TRUSTED_PROXIES) */
    char *forwarded_header;    /**< "x-forwarded-for" or "forwarded" (KEEL_FORWARDED_HEADER) */
    int64_t max_conns_per_ip;  /**< open connections per client address; 0 = no cap (KEEL_MAX_CONNS_PER_IP) */
    int64_t rate_limit_slots;  /**< @rate table slots, a power of two (KEEL_RATE_LIMIT_SLOTS) */
} kl_config_t;

/** Fills cfg from defaults, then the environment, then argv. Returns 0, 1 when --help or
 * --version was printed (exit 0), or -EINVAL after printing a clear error to stderr. */
int kl_config_load(kl_config_t *cfg, int argc, char **argv);
/** Splits cfg->admin_listen into host and port. Returns 0, 1 when it is "off", or -EINVAL. */
int kl_config_admin_addr(const kl_config_t *cfg, char *host, size_t hostlen, int *port);
/** Prints every setting with its flag, variable, default and meaning. */
void kl_config_usage(FILE *out);
/** Frees the strings cfg owns. */
void kl_config_free(kl_config_t *cfg);
/** Parses "10s", "500ms", "2m", "1h" or plain milliseconds. Returns 0 or -EINVAL. */
int kl_config_parse_duration(const char *s, int64_t *ms);
/** Parses "16k", "1m", "64KiB" or plain bytes. Returns 0 or -EINVAL. */
int kl_config_parse_size(const char *s, int64_t *bytes);
/** The default KEEL_CACHE_MB for a machine with mem_bytes of memory: 1/8 of it, 16 to 4096
 * MiB; 64 when mem_bytes is 0 (unknown). */
int64_t kl_config_default_cache_mb(uint64_t mem_bytes);
/** This machine's memory in bytes: physical pages, or the cgroup memory limit when lower;
 * 0 when unknown. */
uint64_t kl_config_memory_bytes(void);

#endif
