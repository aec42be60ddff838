#include "app/respond.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/access_log.h"
#include "app/admin.h"
#include "core/clock.h"
#include "proto/json.h"

static bool id_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("._:/+=@-", ch) != NULL;
}

void kl_respond_set_request_id(kl_app_shard_t *as, kl_request_t *r, kl_str_t given) {
    bool ok = given.len >= 1 && given.len <= 64;
    for (size_t i = 0; ok && i < given.len; i++) ok = given.base[i] != '\0' && id_char(given.base[i]);
    if (ok) {
        memcpy(r->request_id, given.base, given.len);
        r->request_id[given.len] = '\0';
    } else {
        snprintf(r->request_id, sizeof(r->request_id), "%s%llx", as->id_prefix, (unsigned long long)++as->next_req_id);
    }
}

/* pino's levels: info (30) for answers, warn (40) for client errors, error (50) for ours. */
static int log_level(int status) { return status >= 500 ? 50 : status >= 400 ? 40 : 30; }

/* The access-log line is built by hand: snprintf of a dozen fields (two of them doubles)
 * cost about as much as answering a cached request. */
typedef struct {
    char *p, *end;
} line_t;

static void put(line_t *l, const char *s, size_t n) {
    if ((size_t)(l->end - l->p) < n) n = (size_t)(l->end - l->p);
    memcpy(l->p, s, n);
    l->p += n;
}

#define PUT_LIT(l, lit) put((l), (lit), sizeof(lit) - 1)

static void put_u64(line_t *l, uint64_t v) {
    char d[20];
    size_t n = 0;
    do d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    put(l, d + sizeof(d) - n, n);
}

/* ns as milliseconds with three decimals ("1.234"). */
static void put_ms(line_t *l, uint64_t ns) {
    uint64_t us = ns / 1000;
    char frac[4] = {(char)('.'), (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10)};
    put_u64(l, us / 1000);
    put(l, frac, 4);
}

/* s[0..n) escaped for a JSON string, at most max input bytes of it. */
static void put_esc(line_t *l, const char *s, size_t n, size_t max) {
    size_t room = (size_t)(l->end - l->p);
    if (!room) return;
    size_t w = kl_json_escape(l->p, room, s ? s : "", n > max ? max : n);
    l->p += w < room ? w : strlen(l->p); /* truncated: a valid prefix, NUL-terminated */
}

static void access_log(kl_app_shard_t *as, const kl_request_t *r, int status, uint64_t ns) {
    kl_alog_t *log = as->alog;
    char buf[8192], addr[INET6_ADDRSTRLEN] = "";
    line_t l = {buf, buf + sizeof(buf) - 2};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    PUT_LIT(&l, "{\"level\":");
    put_u64(&l, (uint64_t)log_level(status));
    PUT_LIT(&l, ",\"time\":");
    put_u64(&l, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    put(&l, log->prefix, log->prefix_len); /* ,"pid":N,"hostname":"..." */
    PUT_LIT(&l, ",\"reqId\":\"");
    put(&l, r->request_id, strlen(r->request_id)); /* safe characters only (respond.h) */
    PUT_LIT(&l, "\",\"req\":{\"method\":\"");
    put_esc(&l, r->method.base, r->method.len, 16);
    PUT_LIT(&l, "\",\"url\":\"");
    put_esc(&l, r->target.base, r->target.len, 1024);
    PUT_LIT(&l, "\",\"remoteAddress\":\"");
    static const uint8_t zero[16];
    if (memcmp(r->peer.b, zero, 16) != 0) {
        if (kl_ip_is_v4(&r->peer)) inet_ntop(AF_INET, &r->peer.b[12], addr, sizeof(addr));
        else inet_ntop(AF_INET6, r->peer.b, addr, sizeof(addr));
    }
    put(&l, addr, strlen(addr));
    PUT_LIT(&l, "\"},\"res\":{\"statusCode\":");
    put_u64(&l, (uint64_t)status);
    PUT_LIT(&l, "},\"responseTime\":");
    put_ms(&l, ns);
    PUT_LIT(&l, ",\"route\":\"");
    const char *route = kl_admin_slot_name(as, r->mx_slot);
    put_esc(&l, route, strlen(route), 1024);
    PUT_LIT(&l, "\",\"cache\":");
    if (r->cache) {
        const char *c = kl_mx_cache_name((kl_mx_cache_t)r->cache);
        PUT_LIT(&l, "\"");
        put(&l, c, strlen(c));
        PUT_LIT(&l, "\"");
    } else {
        PUT_LIT(&l, "null");
    }
    PUT_LIT(&l, ",\"dbMs\":");
    if (r->db_us) put_ms(&l, r->db_us * 1000);
    else PUT_LIT(&l, "null");
    PUT_LIT(&l, ",\"shard\":");
    put_u64(&l, (uint64_t)as->shard->id);
    PUT_LIT(&l, ",\"msg\":\"request completed\"}");
    l.end += 2; /* room kept for the end: the line is always whole */
    PUT_LIT(&l, "\n");
    if (!kl_alog_push(log, (unsigned)as->shard->id, buf, (size_t)(l.p - buf))) kl_mx_add(&as->mx.alog_dropped, 1);
}

void kl_respond_parts(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                      const kl_str_t *parts, size_t nparts) {
    if (r->gone) { /* nobody to answer: just end the request */
        r->ops->done(r);
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < nparts; i++) len += parts[i].len;
    kl_app_shard_t *as = r->as;
    if (!r->request_id[0]) kl_respond_set_request_id(as, r, (kl_str_t){NULL, 0});
    bool keep = r->ops->keep_alive(r);
    bool no_body = status < 200 || status == 204 || status == 304;
    char head[1024];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%.*s", status, kl_http1_reason(status),
                     (int)as->date_len, as->date);
    if (content_type && !no_body) n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", content_type);
    if (!no_body) n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "X-Request-Id: %s\r\n%s", r->request_id,
                  !keep ? "Connection: close\r\n" : r->minor_version == 0 ? "Connection: keep-alive\r\n" : "");
    if (n >= (int)sizeof(head)) n = (int)sizeof(head) - 1;
    r->ops->write(r, head, (size_t)n);
    if (extra_headers) r->ops->write(r, extra_headers, strlen(extra_headers));
    if (r->resp_headers) r->ops->write(r, r->resp_headers, strlen(r->resp_headers));
    r->ops->write(r, "\r\n", 2);
    if (!no_body && !r->is_head)
        for (size_t i = 0; i < nparts; i++) r->ops->write(r, parts[i].base, parts[i].len);
    as->stats.status_class[status / 100 % 6]++;
    if (r->mx_slot != KL_MX_SLOT_NONE) {
        uint64_t ns = r->start_ns ? kl_clock_ns() - r->start_ns : 0;
        kl_mx_request(&as->mx, r->mx_slot, r->method, status, ns);
        if (as->alog) access_log(as, r, status, ns);
    }
    r->ops->done(r);
}

void kl_respond(kl_request_t *r, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len) {
    kl_str_t part = {body, len};
    kl_respond_parts(r, status, content_type, extra_headers, &part, 1);
}

void kl_respond_error(kl_request_t *r, int status, const char *message, const char *extra_headers) {
    char msg[512], body[768];
    kl_json_escape(msg, sizeof(msg), message, strlen(message));
    int n = snprintf(body, sizeof(body), "{\"statusCode\":%d,\"error\":\"%s\",\"message\":\"%s\"}", status,
                     kl_http1_reason(status), msg);
    if (n >= (int)sizeof(body)) n = (int)sizeof(body) - 1;
    kl_respond(r, status, "application/json", extra_headers, body, (size_t)n);
}
