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

static void access_log(kl_app_shard_t *as, const kl_request_t *r, int status, uint64_t ns) {
    kl_alog_t *l = as->alog;
    char url[1024], method[40], addr[INET6_ADDRSTRLEN] = "", route[256], db[32] = "null", cache[16] = "null";
    kl_json_escape(url, sizeof(url), r->target.base ? r->target.base : "", r->target.len > 512 ? 512 : r->target.len);
    kl_json_escape(method, sizeof(method), r->method.base ? r->method.base : "", r->method.len > 16 ? 16 : r->method.len);
    const char *rl = kl_admin_slot_name(as, r->mx_slot);
    kl_json_escape(route, sizeof(route), rl, strlen(rl));
    static const uint8_t zero[16];
    if (memcmp(r->peer.b, zero, 16) != 0) {
        if (kl_ip_is_v4(&r->peer)) inet_ntop(AF_INET, &r->peer.b[12], addr, sizeof(addr));
        else inet_ntop(AF_INET6, r->peer.b, addr, sizeof(addr));
    }
    if (r->cache) snprintf(cache, sizeof(cache), "\"%s\"", kl_mx_cache_name((kl_mx_cache_t)r->cache));
    if (r->db_us) snprintf(db, sizeof(db), "%.3f", (double)r->db_us / 1000.0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[2048];
    int n = snprintf(line, sizeof(line),
                     "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"hostname\":\"%s\",\"reqId\":\"%s\","
                     "\"req\":{\"method\":\"%s\",\"url\":\"%s\",\"remoteAddress\":\"%s\"},\"res\":{\"statusCode\":%d},"
                     "\"responseTime\":%.3f,\"route\":\"%s\",\"cache\":%s,\"dbMs\":%s,\"shard\":%d,"
                     "\"msg\":\"request completed\"}\n",
                     log_level(status), (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, l->pid, l->hostname,
                     r->request_id, method, url, addr, status, (double)ns / 1e6, route, cache, db, as->shard->id);
    if (n <= 0 || (size_t)n >= sizeof(line)) return; /* cannot happen: every field above is bounded */
    if (!kl_alog_push(l, (unsigned)as->shard->id, line, (size_t)n)) kl_mx_add(&as->mx.alog_dropped, 1);
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
