/* keyring.c - see keyring.h. */
#include "app/keyring.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/log.h"
#include "proto/json.h"
#include "proto/jwks.h"

/* Longest backoff after failed fetches. */
#define BACKOFF_MAX_MS 300000
/* The thread wakes at least this often to free what the shards have let go of. */
#define RECLAIM_EVERY_MS 1000

/* One shard's record of the newest epoch it has seen, alone in its cache line so that
 * shards recording theirs never contend. */
typedef struct {
    _Alignas(64) _Atomic uint64_t seen;
} slot_t;

typedef struct retired {
    struct retired *next;
    kl_jws_keys_t *ks;
    uint64_t epoch; /* freed once every slot has seen it */
} retired_t;

struct kl_keyring {
    kl_keyring_config_t cfg; /* strings are our copies */
    uint8_t *secret;
    size_t secret_len;
    bool is_url;
    CURLM *multi; /* a URL's transfers, run so that kl_keyring_free can wake a hanging one */
    /* published state */
    _Atomic(kl_jws_keys_t *) current;
    _Atomic uint64_t epoch;
    slot_t *slots;
    unsigned nslots;
    /* the writer's own (the thread, or kl_keyring_new before it starts) */
    retired_t *retired;
    uint8_t digest[32]; /* of the last JWKS document published */
    bool have_digest;
    bool have_jwks; /* a JWKS document was published: there are last good keys to keep */
    uint64_t next_fetch_ms, last_attempt_ms;
    unsigned failures;
    /* the thread and what other threads ask of it */
    pthread_t thread;
    bool running;
    int efd;
    _Atomic bool stop, reload, want_kid;
    kl_keyring_stats_t stats;
};

static void log_event(int level, const kl_keyring_t *k, const char *msg, const char *error, size_t added,
                      size_t refused) {
    char src[512], e[512];
    kl_json_escape(src, sizeof(src), k->cfg.jwks, strlen(k->cfg.jwks));
    kl_json_escape(e, sizeof(e), error ? error : "", error ? strlen(error) : 0);
    kl_log(level, msg, "\"jwks\":\"%s\",\"keys\":%zu,\"refused\":%zu%s%s%s", src, added, refused,
           error ? ",\"error\":\"" : "", error ? e : "", error ? "\"" : "");
}

int kl_keyring_check_url(const char *url, char *err, size_t errlen) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int r = -EINVAL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "KEEL_JWT_JWKS: '%s' is not a URL libcurl can read", url);
        goto out;
    }
    if (!strcasecmp(scheme, "https")) {
        r = 0;
    } else if (!strcasecmp(scheme, "http")) {
        /* plain http only where no one else is on the path: the loopback interface */
        struct in_addr a4;
        struct in6_addr a6;
        char h[64];
        size_t hl = strlen(host);
        if (hl >= 2 && hl - 2 < sizeof(h) && host[0] == '[') { /* an IPv6 literal */
            memcpy(h, host + 1, hl - 2);
            h[hl - 2] = '\0';
        } else {
            snprintf(h, sizeof(h), "%s", host);
        }
        if (!strcasecmp(h, "localhost") || (inet_pton(AF_INET, h, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
            (inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
            r = 0;
        else
            snprintf(err, errlen, "KEEL_JWT_JWKS: http is allowed only to a loopback address (127.0.0.0/8, [::1], "
                                  "localhost); use https for %s", host);
    } else {
        snprintf(err, errlen, "KEEL_JWT_JWKS: only https URLs (or http to a loopback address), not %s", scheme);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return r;
}

/* ---- building and publishing sets -------------------------------------------------- */

/* A new set: the secret, then the JWKS document's keys (doc NULL: none). Returns NULL with
 * err set when the document is not a JWK Set or has no usable key; *rep says what it held. */
static kl_jws_keys_t *build(kl_keyring_t *k, const char *doc, size_t len, kl_jwks_report_t *rep, char *err,
                            size_t errlen) {
    kl_jws_keys_t *ks = kl_jws_keys_new();
    memset(rep, 0, sizeof(*rep));
    if (k->secret_len &&
        kl_jws_keys_add_hmac(ks, k->cfg.secret_alg, k->secret, k->secret_len, NULL, 0, err, errlen) < 0)
        goto fail;
    if (doc) {
        if (kl_jwks_parse(doc, len, ks, rep, err, errlen) < 0) goto fail;
        if (rep->added == 0) {
            snprintf(err, errlen, "no usable signature key in the JWK Set (%zu keys%s%s)", rep->elements,
                     rep->why[0] ? "; " : "", rep->why);
            goto fail;
        }
    }
    return ks;
fail:
    kl_jws_keys_free(ks);
    return NULL;
}

/* Swaps ks in and retires the set it replaces (see keyring.h for why this order is safe). */
static void publish(kl_keyring_t *k, kl_jws_keys_t *ks) {
    ks->version = atomic_load(&k->epoch) + 1; /* the writer is alone: the epoch it will bump to */
    kl_jws_keys_t *old = atomic_exchange(&k->current, ks);
    uint64_t e = atomic_fetch_add(&k->epoch, 1) + 1;
    atomic_fetch_add_explicit(&k->stats.publications, 1, memory_order_relaxed);
    if (!old) return;
    retired_t *r = kl_malloc(sizeof(*r));
    *r = (retired_t){.next = k->retired, .ks = old, .epoch = e};
    k->retired = r;
}

/* Frees the retired sets every reader has moved past. */
static void reclaim(kl_keyring_t *k) {
    if (!k->retired) return;
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < k->nslots; i++) {
        uint64_t s = atomic_load(&k->slots[i].seen);
        if (s < min) min = s;
    }
    for (retired_t **pp = &k->retired; *pp;) {
        retired_t *r = *pp;
        if (r->epoch <= min) {
            *pp = r->next;
            kl_jws_keys_free(r->ks);
            kl_free(r);
            atomic_fetch_add_explicit(&k->stats.reclaimed, 1, memory_order_relaxed);
        } else {
            pp = &r->next;
        }
    }
}

/* Builds and publishes a set from a JWKS document unless it is the one already published.
 * Returns 0, or -EINVAL with err set (the current set stays). */
static int take_document(kl_keyring_t *k, const char *doc, size_t len, bool at_start, char *err, size_t errlen) {
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (!EVP_Digest(doc, len, d, &dl, EVP_sha256(), NULL) || dl != 32) dl = 0;
    if (dl && k->have_digest && !memcmp(d, k->digest, 32)) return 0; /* unchanged: caches stay valid */
    kl_jwks_report_t rep;
    kl_jws_keys_t *ks = build(k, doc, len, &rep, err, errlen);
    if (!ks) return -EINVAL;
    publish(k, ks);
    k->have_jwks = true;
    if (dl) memcpy(k->digest, d, 32);
    k->have_digest = dl != 0;
    log_event(rep.refused ? KL_LOG_WARN : KL_LOG_INFO, k, at_start ? "JWKS loaded" : "JWKS changed: new keys published",
              rep.refused ? rep.why : NULL, rep.added, rep.refused);
    return 0;
}

/* ---- sources --------------------------------------------------------------------------- */

static int read_file(kl_keyring_t *k, bool at_start, char *err, size_t errlen) {
    char *buf;
    size_t n;
    int r = kl_file_read(k->cfg.jwks, KL_JWKS_MAX_BYTES, &buf, &n);
    if (r == -EFBIG) snprintf(err, errlen, "%s is larger than %d bytes", k->cfg.jwks, KL_JWKS_MAX_BYTES);
    else if (r == -EINVAL) snprintf(err, errlen, "cannot read %s: not a regular file", k->cfg.jwks);
    else if (r < 0) snprintf(err, errlen, "cannot read %s: %s", k->cfg.jwks, strerror(-r));
    if (r < 0) return -EINVAL;
    r = take_document(k, buf, n, at_start, err, errlen);
    kl_free(buf);
    return r;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_big;
    int cc;         /* kl_jwks_max_age's result over the Cache-Control fields so far */
    int64_t max_age;
} fetch_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    fetch_t *f = ud;
    size_t n = size * nmemb;
    if (f->len + n > KL_JWKS_MAX_BYTES) {
        f->too_big = true;
        return 0; /* libcurl stops the transfer */
    }
    if (f->len + n > f->cap) {
        f->cap = f->len + n > 2 * f->cap ? f->len + n : 2 * f->cap;
        f->buf = kl_realloc(f->buf, f->cap);
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
    fetch_t *f = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (after a 1xx): start over */
        f->cc = -1;
        f->max_age = 0;
    } else if (n > 14 && !strncasecmp(p, "cache-control:", 14)) {
        int64_t secs = 0;
        size_t vl = n - 14; /* libcurl hands over the whole line: the value without its CRLF */
        while (vl > 0 && (p[14 + vl - 1] == '\r' || p[14 + vl - 1] == '\n')) vl--;
        int r = kl_jwks_max_age(p + 14, vl, &secs);
        if (r == 0) f->cc = 0, f->max_age = 0;   /* no-store / no-cache wins */
        else if (r == 1 && f->cc < 0) f->cc = 1, f->max_age = secs;
    }
    return n;
}

/* Runs transfer c to its end (its own timeouts bound it), or until kl_keyring_free asks the
 * thread to stop: a JWKS server that never answers must not hold keel's exit for the fetch
 * timeout. curl_multi_wakeup is the one call another thread may make on the multi handle,
 * and it also wakes a poll that has not begun yet, so no stop is missed. */
static CURLcode perform(kl_keyring_t *k, CURL *c) {
    CURLcode cr = CURLE_ABORTED_BY_CALLBACK;
    if (curl_multi_add_handle(k->multi, c) != CURLM_OK) return CURLE_FAILED_INIT;
    for (;;) {
        int running = 0, left = 0;
        if (curl_multi_perform(k->multi, &running) != CURLM_OK) {
            cr = CURLE_FAILED_INIT;
            break;
        }
        if (!running) {
            CURLMsg *m = curl_multi_info_read(k->multi, &left);
            cr = m && m->msg == CURLMSG_DONE ? m->data.result : CURLE_FAILED_INIT;
            break;
        }
        if (atomic_load(&k->stop)) break;
        if (curl_multi_poll(k->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            cr = CURLE_FAILED_INIT;
            break;
        }
    }
    curl_multi_remove_handle(k->multi, c);
    return cr;
}

/* One fetch of the URL; on success publishes (when changed) and schedules the next. */
static int fetch(kl_keyring_t *k, bool at_start) {
    char err[512] = "";
    fetch_t f = {.cc = -1};
    CURLcode cr = CURLE_FAILED_INIT;
    int r = -EINVAL;
    uint64_t now = kl_clock_ms();
    k->last_attempt_ms = now;
    atomic_store(&k->want_kid, false); /* this fetch answers whoever asked so far */
    atomic_fetch_add_explicit(&k->stats.fetches, 1, memory_order_relaxed);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, sizeof(err), "libcurl cannot start a transfer");
        goto done;
    }
    /* plain http is allowed only to a loopback address (kl_keyring_check_url) */
    bool https = !strncasecmp(k->cfg.jwks, "https:", 6);
    char ua[32];
    snprintf(ua, sizeof(ua), "keel/0.1");
    curl_easy_setopt(c, CURLOPT_URL, k->cfg.jwks);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could leave https */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);       /* we are a thread: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->cfg.fetch_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)k->cfg.fetch_timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)KL_JWKS_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
    cr = perform(k, c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    /* too big as received (on_body) or as announced (Content-Length, CURLOPT_MAXFILESIZE) */
    if (f.too_big || cr == CURLE_FILESIZE_EXCEEDED)
        snprintf(err, sizeof(err), "the JWK Set is larger than %d bytes", KL_JWKS_MAX_BYTES);
    else if (cr != CURLE_OK) snprintf(err, sizeof(err), "%s", curl_easy_strerror(cr));
    else if (status != 200) snprintf(err, sizeof(err), "HTTP status %ld", status);
    else r = take_document(k, f.buf ? f.buf : "", f.len, at_start, err, sizeof(err));
done:
    kl_free(f.buf);
    now = kl_clock_ms();
    if (r == 0) {
        int64_t every = f.cc == 1 ? f.max_age * 1000 : 0;
        if (every < k->cfg.min_refresh_ms) every = k->cfg.min_refresh_ms;
        if (every > k->cfg.max_refresh_ms) every = k->cfg.max_refresh_ms;
        k->next_fetch_ms = now + (uint64_t)every;
        k->failures = 0;
        return 0;
    }
    if (cr == CURLE_ABORTED_BY_CALLBACK && atomic_load(&k->stop)) return -ECANCELED; /* keel is stopping */
    atomic_fetch_add_explicit(&k->stats.fetch_failures, 1, memory_order_relaxed);
    int64_t first = k->cfg.min_refresh_ms < 1000 ? k->cfg.min_refresh_ms : 1000;
    int64_t backoff = first << (k->failures < 20 ? k->failures : 20);
    if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
    k->failures++;
    k->next_fetch_ms = now + (uint64_t)backoff;
    /* Without a document yet, the published set holds the secret at most: no keys to keep. */
    log_event(KL_LOG_WARN, k, k->have_jwks ? "JWKS fetch failed; keeping the last good keys" : "JWKS fetch failed",
              err, 0, 0);
    return r;
}

/* ---- the refresh thread ----------------------------------------------------------------- */

static void wake(kl_keyring_t *k) {
    if (k->efd < 0) return;
    uint64_t one = 1;
    ssize_t w = write(k->efd, &one, sizeof(one)); /* a non-blocking eventfd: never waits */
    (void)w;
}

static void *run(void *arg) {
    kl_keyring_t *k = arg;
    for (;;) {
        uint64_t now = kl_clock_ms();
        int64_t wait = RECLAIM_EVERY_MS;
        if (k->is_url) {
            uint64_t due = k->next_fetch_ms;
            if (atomic_load(&k->want_kid) && k->last_attempt_ms + (uint64_t)k->cfg.kid_refetch_ms < due)
                due = k->last_attempt_ms + (uint64_t)k->cfg.kid_refetch_ms;
            int64_t until = due > now ? (int64_t)(due - now) : 0;
            if (until < wait) wait = until;
        }
        struct pollfd p = {.fd = k->efd, .events = POLLIN};
        if (wait > 0 && poll(&p, 1, (int)wait) > 0) {
            uint64_t v;
            ssize_t rd = read(k->efd, &v, sizeof(v));
            (void)rd;
        }
        if (atomic_load(&k->stop)) break;
        bool reload = atomic_exchange(&k->reload, false);
        char err[512];
        if (reload && !k->is_url && read_file(k, false, err, sizeof(err)) < 0)
            log_event(KL_LOG_WARN, k, "JWKS reload failed; keeping the last good keys", err, 0, 0);
        now = kl_clock_ms();
        if (k->is_url &&
            (reload || now >= k->next_fetch_ms ||
             (atomic_load(&k->want_kid) && now >= k->last_attempt_ms + (uint64_t)k->cfg.kid_refetch_ms)))
            fetch(k, false);
        reclaim(k);
    }
    return NULL;
}

/* ---- API --------------------------------------------------------------------------------- */

int kl_keyring_new(const kl_keyring_config_t *cfg, kl_keyring_t **out, char *err, size_t errlen) {
    kl_keyring_t *k = kl_calloc(sizeof(*k));
    k->cfg = *cfg;
    k->cfg.secret = "";
    k->cfg.jwks = kl_strdup(cfg->jwks ? cfg->jwks : "");
    k->efd = -1;
    size_t sl = cfg->secret ? strlen(cfg->secret) : 0;
    if (sl) {
        k->secret = kl_malloc(sl);
        memcpy(k->secret, cfg->secret, sl);
        k->secret_len = sl;
    }
    const char *j = k->cfg.jwks;
    k->is_url = !strncasecmp(j, "https://", 8) || !strncasecmp(j, "http://", 7);
    int r = 0;
    char e[512];
    if (!k->is_url && strstr(j, "://")) {
        r = kl_keyring_check_url(j, err, errlen); /* names what is wrong with it */
        if (r == 0) snprintf(err, errlen, "KEEL_JWT_JWKS: only https URLs (or http to a loopback address)");
        r = -EINVAL;
        goto fail;
    }
    if (k->is_url) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl cannot initialise");
            r = -EINVAL;
            goto fail;
        }
        if ((r = kl_keyring_check_url(j, err, errlen)) < 0) {
            curl_global_cleanup();
            goto fail;
        }
        if (!(k->multi = curl_multi_init())) {
            snprintf(err, errlen, "libcurl cannot initialise");
            r = -EINVAL;
            goto fail_url;
        }
    }
    if (j[0] && !k->is_url && (r = read_file(k, true, e, sizeof(e))) < 0) {
        snprintf(err, errlen, "KEEL_JWT_JWKS: %s", e);
        goto fail_url;
    }
    if (k->is_url && fetch(k, true) < 0 && !k->secret_len)
        kl_log(KL_LOG_WARN, "no JWT key yet: @auth requests get 401 until the JWKS can be fetched", NULL);
    if (!atomic_load(&k->current)) { /* the secret alone (or nothing yet) */
        kl_jwks_report_t rep;
        kl_jws_keys_t *ks = build(k, NULL, 0, &rep, e, sizeof(e));
        if (!ks) {
            snprintf(err, errlen, "KEEL_JWT_SECRET: %s", e);
            r = -EINVAL;
            goto fail_url;
        }
        publish(k, ks);
    }
    *out = k;
    return 0;
fail_url:
    if (k->multi) curl_multi_cleanup(k->multi);
    k->multi = NULL;
    if (k->is_url) curl_global_cleanup();
fail:
    k->is_url = false;
    kl_keyring_free(k);
    return r < 0 ? r : -EINVAL;
}

int kl_keyring_start(kl_keyring_t *k, unsigned nreaders) {
    k->slots = aligned_alloc(64, sizeof(slot_t) * (nreaders ? nreaders : 1));
    if (!k->slots) return -ENOMEM;
    for (unsigned i = 0; i < nreaders; i++) atomic_init(&k->slots[i].seen, 0);
    k->nslots = nreaders;
    if (!k->cfg.jwks[0]) return 0; /* the secret alone never changes: no thread */
    if ((k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return -errno;
    int r = pthread_create(&k->thread, NULL, run, k);
    if (r != 0) return -r;
    k->running = true;
    return 0;
}

const kl_jws_keys_t *kl_keyring_get(const kl_keyring_t *k) {
    /* pairs with the exchange in publish: the set's contents are visible once its pointer is */
    return atomic_load_explicit(&((kl_keyring_t *)k)->current, memory_order_acquire);
}

void kl_keyring_quiescent(kl_keyring_t *k, unsigned reader) {
    if (reader < k->nslots) atomic_store(&k->slots[reader].seen, atomic_load(&k->epoch));
}

void kl_keyring_want_kid(kl_keyring_t *k) {
    /* only the first asker since the last fetch wakes the thread: a flood of unknown kids
     * costs one atomic exchange each */
    if (k->is_url && !atomic_exchange(&k->want_kid, true)) wake(k);
}

void kl_keyring_reload(kl_keyring_t *k) {
    if (!k->running) return;
    atomic_store(&k->reload, true);
    wake(k);
}

const kl_keyring_stats_t *kl_keyring_stats(const kl_keyring_t *k) { return &k->stats; }

void kl_keyring_free(kl_keyring_t *k) {
    if (!k) return;
    if (k->running) {
        atomic_store(&k->stop, true);
        wake(k);
        if (k->multi) curl_multi_wakeup(k->multi); /* a fetch under way ends now */
        pthread_join(k->thread, NULL);
    }
    if (k->efd >= 0) close(k->efd);
    kl_jws_keys_free(atomic_load(&k->current));
    while (k->retired) {
        retired_t *r = k->retired;
        k->retired = r->next;
        kl_jws_keys_free(r->ks);
        kl_free(r);
    }
    if (k->multi) curl_multi_cleanup(k->multi);
    if (k->is_url) curl_global_cleanup();
    free(k->slots); /* from aligned_alloc */
    if (k->secret) OPENSSL_cleanse(k->secret, k->secret_len);
    kl_free(k->secret);
    kl_free((char *)k->cfg.jwks);
    kl_free(k);
}
