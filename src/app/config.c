#include "app/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "proto/ipaddr.h"

typedef enum { T_STR, T_INT, T_DURATION, T_SIZE, T_BOOL } kind_t;

typedef struct {
    const char *flag;
    const char *env;
    kind_t kind;
    size_t off;
    const char *def;
    int64_t min, max;
    const char *help;
} opt_t;

#define O(f) offsetof(kl_config_t, f)
static const opt_t opts[] = {
    {"listen", "KEEL_LISTEN", T_STR, O(listen), "127.0.0.1", 0, 0, "address to listen on (0.0.0.0 for all)"},
    {"port", "PORT", T_INT, O(port), "8080", 1, 65535, "TCP port"},
    {"shards", "KEEL_SHARDS", T_INT, O(shards), "0", 0, 1024, "shard threads, one per CPU; 0 = number of CPUs"},
    {"pin", "KEEL_PIN", T_BOOL, O(pin), "false", 0, 1, "pin each shard thread to one CPU (off: on a 2-CPU box shared with a one-thread load generator and PostgreSQL, pinned shards measured 0.81-1.10x of unpinned ones; README, Placement)"},
    {"accept-by-load", "KEEL_ACCEPT_BY_LOAD", T_BOOL, O(accept_by_load), "false", 0, 1, "new connections go to the shard with the fewest, weighed by how busy or CPU-starved each shard was in the last 100 ms (measured no gain on a shared 2-CPU box: off)"},
    {"max-conns", "KEEL_MAX_CONNS", T_INT, O(max_conns), "65536", 1, 1 << 24, "open connections per shard"},
    {"header-timeout", "KEEL_HEADER_TIMEOUT", T_DURATION, O(header_timeout_ms), "10s", 1, 86400000, "a request head must arrive within this (slowloris)"},
    {"body-timeout", "KEEL_BODY_TIMEOUT", T_DURATION, O(body_timeout_ms), "30s", 1, 86400000, "longest pause while a request body arrives"},
    {"keepalive-timeout", "KEEL_KEEPALIVE_TIMEOUT", T_DURATION, O(keepalive_ms), "75s", 1, 86400000, "idle keep-alive connections are closed after this"},
    {"send-timeout", "KEEL_SEND_TIMEOUT", T_DURATION, O(send_timeout_ms), "30s", 1, 86400000, "a client that takes none of our output for this long is disconnected"},
    {"shutdown-timeout", "KEEL_SHUTDOWN_TIMEOUT", T_DURATION, O(shutdown_ms), "10s", 0, 3600000, "SIGTERM/SIGINT: in-flight work must finish within this"},
    {"max-request-line", "KEEL_MAX_REQUEST_LINE", T_SIZE, O(max_request_line), "8k", 64, 1 << 20, "longest request line (414 beyond)"},
    {"max-header-size", "KEEL_MAX_HEADER_SIZE", T_SIZE, O(max_head), "16k", 256, 1 << 20, "largest request head (431 beyond)"},
    {"max-headers", "KEEL_MAX_HEADERS", T_INT, O(max_headers), "100", 1, 1000, "most header fields in a request (431 beyond)"},
    {"max-body", "KEEL_MAX_BODY", T_SIZE, O(max_body), "1m", 0, 1ll << 32, "largest request body (413 beyond)"},
    {"max-answer", "KEEL_MAX_ANSWER", T_SIZE, O(max_answer), "16m", 0, 1ll << 40, "most bytes of database rows a GET route's query may answer with (each value plus 16), read row by row; beyond: 500, the rest read and dropped; 0 = off, results held whole (faster for many-row answers, no bound)"},
    {"max-output", "KEEL_MAX_OUTPUT", T_SIZE, O(max_output), "256m", 0, 1ll << 40, "unsent response bytes all connections may hold, split across shards; beyond, a GET's response larger than --max-pending-output is a 503 (clients that ask for large answers and never read them); writes' and the admin listener's never; 0 = off"},
    {"max-pending-output", "KEEL_MAX_PENDING_OUTPUT", T_SIZE, O(max_pending_out), "64k", 4096, 1 << 30, "unsent response bytes before a connection stops reading requests"},
    {"gather-us", "KEEL_GATHER_US", T_INT, O(gather_us), "15", 0, 1000, "while 64+ of a shard's connections are active and it awaits no database answer, each wait gathers completions this long (Linux 6.12+); 0 = off"},
    {"recv-buffers", "KEEL_RECV_BUFFERS", T_INT, O(recv_buffers), "1024", 16, 32768, "provided receive buffers per shard (power of two)"},
    {"recv-buffer-size", "KEEL_RECV_BUFFER_SIZE", T_SIZE, O(recv_buffer_size), "4k", 1024, 1 << 20, "bytes per receive buffer"},
    {"access-log", "KEEL_ACCESS_LOG", T_BOOL, O(access_log), "false", 0, 1, "write one pino-compatible JSON line per request to stdout"},
    {"admin-listen", "KEEL_ADMIN_LISTEN", T_STR, O(admin_listen), "127.0.0.1:9180", 0, 0, "host:port of the admin listener (/metrics, /health, /ready, /cache, /cache/purge, /routes); off = none"},
    {"metrics-public", "KEEL_METRICS_PUBLIC", T_BOOL, O(metrics_public), "false", 0, 1, "also serve /metrics on the public port"},
    {"database-url", "DATABASE_URL", T_STR, O(database_url), "", 0, 0, "PostgreSQL URL or conninfo; empty = libpq's PG* variables"},
    {"replica-urls", "KEEL_REPLICA_URLS", T_STR, O(replica_urls), "", 0, 0, "comma-separated PostgreSQL URLs of streaming replicas: GET routes (not @primary) read from them (replica.h)"},
    {"replica-max-lag", "KEEL_REPLICA_MAX_LAG", T_DURATION, O(replica_max_lag_ms), "1s", 1, 3600000, "a replica further behind the primary than this is out of rotation until it catches up"},
    {"routes", "KEEL_ROUTES", T_STR, O(routes), "", 0, 0, "folder of annotated .sql route files"},
    {"db-conns", "KEEL_DB_CONNS_PER_SHARD", T_INT, O(db_conns), "2", 1, 64, "PostgreSQL connections per shard (pipelined)"},
    {"db-pipeline-depth", "KEEL_DB_PIPELINE_DEPTH", T_INT, O(db_depth), "64", 1, 4096, "queries in flight per connection"},
    {"db-batch", "KEEL_DB_BATCH", T_INT, O(db_batch), "64", 1, 64, "most concurrent lookups of one route run as one batched statement (1 = never batch)"},
    {"db-queue", "KEEL_DB_QUEUE", T_INT, O(db_queue), "1024", 0, 1 << 20, "queries waiting for a connection, per shard (503 beyond)"},
    {"db-acquire-timeout", "KEEL_DB_ACQUIRE_TIMEOUT", T_DURATION, O(db_acquire_ms), "2s", 1, 600000, "longest wait for a connection (503 with Retry-After beyond)"},
    {"db-queue-target", "KEEL_DB_QUEUE_TARGET", T_DURATION, O(db_queue_target_ms), "20ms", 0, 600000, "overload: once queued queries wait longer than this for 100 ms, the excess gets 503 at once (CoDel); 0 = off"},
    {"statement-timeout", "KEEL_STATEMENT_TIMEOUT", T_DURATION, O(statement_timeout_ms), "5s", 1, 3600000, "statement_timeout on every connection (504 beyond); @timeout overrides per route"},
    {"cache-mb", "KEEL_CACHE_MB", T_INT, O(cache_mb), "auto", 0, 1 << 20, "response cache in MiB, split across shards; 0 = off; auto = 1/8 of the memory (or cgroup limit), 16 to 4096 (a 4 GiB box: ~480, enough for 100,000 cached 315-byte bodies on every shard)"},
    {"gzip-level", "KEEL_GZIP_LEVEL", T_INT, O(gzip_level), "1", 1, 12, "gzip level for responses of 1 KiB and more (1 fastest, 12 smallest)"},
    {"jwt-secret", "KEEL_JWT_SECRET", T_STR, O(jwt_secret), "", 0, 0, "HMAC secret that @auth routes verify Bearer tokens with (prefer the variable: flags show in ps)"},
    {"jwt-secret-alg", "KEEL_JWT_SECRET_ALG", T_STR, O(jwt_secret_alg), "HS256", 0, 0, "the secret's algorithm: HS256, HS384 or HS512 (a token must use exactly this one)"},
    {"jwt-jwks", "KEEL_JWT_JWKS", T_STR, O(jwt_jwks), "", 0, 0, "JWK Set of the token issuer's public keys: a file (reloaded on SIGHUP) or an https URL (http only to a loopback address)"},
    {"jwt-jwks-min-refresh", "KEEL_JWT_JWKS_MIN_REFRESH", T_DURATION, O(jwt_jwks_min_refresh_ms), "5m", 1000, 86400000, "a JWKS URL is refetched per its Cache-Control max-age, but no sooner than this (and no later than 24h)"},
    {"jwt-jwks-kid-refetch", "KEEL_JWT_JWKS_KID_REFETCH", T_DURATION, O(jwt_jwks_kid_refetch_ms), "1m", 1000, 3600000, "a token with an unknown kid refetches the JWKS URL at most this often"},
    {"jwt-require-exp", "KEEL_JWT_REQUIRE_EXP", T_BOOL, O(jwt_require_exp), "true", 0, 1, "refuse tokens without an exp claim"},
    {"jwt-leeway", "KEEL_JWT_LEEWAY", T_DURATION, O(jwt_leeway_ms), "30s", 0, 3600000, "clock skew allowed when checking exp, nbf and iat (whole seconds)"},
    {"jwt-issuer", "KEEL_JWT_ISSUER", T_STR, O(jwt_issuer), "", 0, 0, "when set, a token's iss must be exactly this"},
    {"jwt-audience", "KEEL_JWT_AUDIENCE", T_STR, O(jwt_audience), "", 0, 0, "when set, a token's aud must be this or an array holding it"},
    {"jwt-role-claim", "KEEL_JWT_ROLE_CLAIM", T_STR, O(jwt_role_claim), "", 0, 0, "claim naming the PostgreSQL role a request runs as (SET LOCAL ROLE); must be in --jwt-roles"},
    {"jwt-roles", "KEEL_JWT_ROLES", T_STR, O(jwt_roles), "", 0, 0, "comma-separated roles @auth requests may run as; the first is the default (tokens without the claim, anonymous requests)"},
    {"jwt-cache-entries", "KEEL_JWT_CACHE_ENTRIES", T_INT, O(jwt_cache_entries), "4096", 0, 1 << 22, "verified tokens cached per shard (a cached token skips its signature check); 0 = off"},
    {"jwt-cache-size", "KEEL_JWT_CACHE_SIZE", T_SIZE, O(jwt_cache_bytes), "4m", 65536, 1ll << 32, "bytes of verified tokens cached per shard"},
    {"expose-db-errors", "KEEL_EXPOSE_DB_ERRORS", T_BOOL, O(expose_db_errors), "false", 0, 1, "4xx answers to database errors carry PostgreSQL's message (development only: it names constraints and values)"},
    {"slow-query", "KEEL_SLOW_QUERY_MS", T_DURATION, O(slow_query_ms), "100", 0, 3600000, "log queries slower than this (plain number = ms); 0 = off"},
    {"trusted-proxies", "KEEL_TRUSTED_PROXIES", T_STR, O(trusted_proxies), "", 0, 0, "proxies (addresses or CIDR networks, comma- or space-separated) whose --forwarded-header names the client; empty = none, the peer is the client"},
    {"forwarded-header", "KEEL_FORWARDED_HEADER", T_STR, O(forwarded_header), "x-forwarded-for", 0, 0, "the header trusted proxies report clients in: x-forwarded-for or forwarded (RFC 7239)"},
    {"max-conns-per-ip", "KEEL_MAX_CONNS_PER_IP", T_INT, O(max_conns_per_ip), "0", 0, 1 << 24, "open connections per client address (IPv6: per /64), beyond: 503 and close; trusted proxies exempt; per instance; 0 = off"},
    {"rate-limit-slots", "KEEL_RATE_LIMIT_SLOTS", T_INT, O(rate_limit_slots), "262144", 64, 1 << 24, "@rate: clients (per route) counted at once, 8 bytes each (power of two; new clients may be refused past ~70% full); limits are per instance"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int parse_int(const char *s, int64_t *v) {
    if (!*s) return -EINVAL;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return -EINVAL;
    *v = x;
    return 0;
}

static int parse_scaled(const char *s, int64_t *v, const char *const *units, const int64_t *mult, size_t n) {
    if (!*s || *s == '-' || *s == '+') return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s) return -EINVAL;
    int64_t m = 1;
    if (*end) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcasecmp(end, units[i]) == 0) break;
        if (i == n) return -EINVAL;
        m = mult[i];
    }
    if (x > (unsigned long long)INT64_MAX / (unsigned long long)m) return -EINVAL;
    *v = (int64_t)x * m;
    return 0;
}

int kl_config_parse_duration(const char *s, int64_t *ms) {
    static const char *const u[] = {"ms", "s", "m", "h"};
    static const int64_t m[] = {1, 1000, 60000, 3600000};
    return parse_scaled(s, ms, u, m, 4);
}

int64_t kl_config_default_cache_mb(uint64_t mem_bytes) {
    if (mem_bytes == 0) return 64; /* unknown: the old fixed default */
    uint64_t mb = mem_bytes / 8 / (1024 * 1024);
    return mb < 16 ? 16 : mb > 4096 ? 4096 : (int64_t)mb;
}

/* A cgroup limit file's value in bytes; 0 when absent or "max". */
static uint64_t read_limit(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
}

uint64_t kl_config_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
    /* cgroup v2, then v1 (whose "unlimited" is a huge number, above mem anyway) */
    const char *limits[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < 2; i++) {
        uint64_t l = read_limit(limits[i]);
        if (l && (mem == 0 || l < mem)) mem = l;
    }
    return mem;
}

int kl_config_parse_size(const char *s, int64_t *bytes) {
    static const char *const u[] = {"b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib"};
    static const int64_t m[] = {1, 1 << 10, 1 << 10, 1 << 10, 1 << 20, 1 << 20, 1 << 20, 1 << 30, 1 << 30, 1 << 30};
    return parse_scaled(s, bytes, u, m, 10);
}

static int set(kl_config_t *cfg, const opt_t *o, const char *val, const char *from) {
    char *base = (char *)cfg + o->off;
    int64_t v = 0;
    int r = 0;
    if (o->off == O(cache_mb) && !strcasecmp(val, "auto")) { /* sized once every source is read */
        *(int64_t *)base = -1;
        return 0;
    }
    switch (o->kind) {
    case T_STR:
        kl_free(*(char **)base);
        *(char **)base = kl_strdup(val);
        return 0;
    case T_BOOL:
        if (!strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcasecmp(val, "on")) v = 1;
        else if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") || !strcasecmp(val, "off")) v = 0;
        else r = -EINVAL;
        if (r == 0) *(bool *)base = v != 0;
        break;
    case T_INT: r = parse_int(val, &v); break;
    case T_DURATION: r = kl_config_parse_duration(val, &v); break;
    case T_SIZE: r = kl_config_parse_size(val, &v); break;
    }
    if (r == 0 && o->kind != T_BOOL && (v < o->min || v > o->max)) r = -ERANGE;
    if (r < 0) {
        static const char *const what[] = {"text", "an integer", "a duration (e.g. 500ms, 10s, 2m)", "a size (e.g. 512, 16k, 1m)", "true or false"};
        char range[64] = "";
        if (o->kind != T_BOOL && o->kind != T_STR)
            snprintf(range, sizeof(range), " from %lld to %lld", (long long)o->min, (long long)o->max);
        kl_log_text("keel: %s: expected %s%s, got '%s'", from, what[o->kind], range, val);
        return -EINVAL;
    }
    if (o->kind != T_BOOL) *(int64_t *)base = v;
    return 0;
}

void kl_config_usage(FILE *out) {
    fprintf(out, "usage: keel [--setting value | --setting=value]...\n\n"
                 "Serves an HTTP/1.1 API on io_uring, one shard thread per CPU.\n"
                 "Every setting can also come from its environment variable; flags win.\n"
                 "Rate limits (@rate) and --max-conns-per-ip are per instance: each keel process\n"
                 "counts on its own, so N instances behind a balancer allow up to N times as much.\n\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(out, "  --%-20s %-24s default %-10s %s\n", opts[i].flag, opts[i].env, opts[i].def, opts[i].help);
    fprintf(out, "\n  --help                 this text\n  --version              print the version\n");
}

void kl_config_free(kl_config_t *cfg) {
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].kind == T_STR) {
            char **p = (char **)((char *)cfg + opts[i].off);
            kl_free(*p);
            *p = NULL;
        }
}

int kl_config_admin_addr(const kl_config_t *cfg, char *host, size_t hostlen, int *port) {
    const char *s = cfg->admin_listen, *colon = strrchr(s, ':');
    if (!strcasecmp(s, "off")) return 1;
    if (!colon || colon == s) return -EINVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[') { /* [v6]:port */
        if (hl < 3 || h[hl - 1] != ']') return -EINVAL;
        h++;
        hl -= 2;
    }
    int64_t p;
    if (hl == 0 || hl >= hostlen || parse_int(colon + 1, &p) < 0 || p < 1 || p > 65535) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int kl_config_load(kl_config_t *cfg, int argc, char **argv) {
    memset(cfg, 0, sizeof(*cfg));
    char from[128];
    for (size_t i = 0; i < NOPTS; i++) {
        snprintf(from, sizeof(from), "default of --%s", opts[i].flag);
        if (set(cfg, &opts[i], opts[i].def, from) < 0) return -EINVAL;
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (!v) continue;
        snprintf(from, sizeof(from), "%s", opts[i].env);
        if (set(cfg, &opts[i], v, from) < 0) return -EINVAL;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            kl_config_usage(stdout);
            return 1;
        }
        if (!strcmp(arg, "--version")) {
            printf("keel " KL_VERSION "\n");
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            kl_log_text("keel: unexpected argument '%s' (see --help)", arg);
            return -EINVAL;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t i = 0; i < NOPTS; i++)
            if (strlen(opts[i].flag) == nlen && !strncmp(opts[i].flag, name, nlen)) o = &opts[i];
        if (!o) {
            kl_log_text("keel: unknown setting '%.*s' (see --help)", (int)(nlen + 2), arg);
            return -EINVAL;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (a + 1 >= argc) {
                kl_log_text("keel: --%s needs a value", o->flag);
                return -EINVAL;
            }
            val = argv[++a];
        }
        snprintf(from, sizeof(from), "--%s", o->flag);
        if (set(cfg, o, val, from) < 0) return -EINVAL;
    }
    if (cfg->recv_buffers & (cfg->recv_buffers - 1)) {
        kl_log_text("keel: --recv-buffers must be a power of two, got %lld", (long long)cfg->recv_buffers);
        return -EINVAL;
    }
    if (cfg->max_request_line > cfg->max_head) cfg->max_request_line = cfg->max_head;
    if (cfg->cache_mb < 0) cfg->cache_mb = kl_config_default_cache_mb(kl_config_memory_bytes());
    if (cfg->rate_limit_slots & (cfg->rate_limit_slots - 1)) {
        kl_log_text("keel: --rate-limit-slots must be a power of two, got %lld", (long long)cfg->rate_limit_slots);
        return -EINVAL;
    }
    if (strcasecmp(cfg->forwarded_header, "x-forwarded-for") != 0 && strcasecmp(cfg->forwarded_header, "forwarded") != 0) {
        kl_log_text("keel: --forwarded-header must be x-forwarded-for or forwarded, got '%s'", cfg->forwarded_header);
        return -EINVAL;
    }
    char ahost[256];
    int aport;
    if (kl_config_admin_addr(cfg, ahost, sizeof(ahost), &aport) < 0) {
        kl_log_text("keel: --admin-listen must be HOST:PORT (e.g. 127.0.0.1:9180, [::1]:9180) or off, got '%s'",
                    cfg->admin_listen);
        return -EINVAL;
    }
    size_t n;
    const char *bad;
    size_t bad_len;
    if (kl_cidr_list_parse(cfg->trusted_proxies, strlen(cfg->trusted_proxies), NULL, 0, &n, &bad, &bad_len) < 0) {
        kl_log_text("keel: --trusted-proxies: '%.*s' is not an address or a network (ADDRESS or ADDRESS/PREFIX, "
                    "host bits zero)", (int)(bad_len > 64 ? 64 : bad_len), bad);
        return -EINVAL;
    }
    return 0;
}
