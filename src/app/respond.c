#include "app/respond.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/access_log.h"
#include "app/admin.h"
#include "core/clock.h"
#include "core/sbuf.h"
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
        kl_sbuf_t b = kl_sbuf(r->request_id, sizeof(r->request_id) - 1);
        kl_sbuf_str(&b, as->id_prefix);
        kl_sbuf_hex(&b, ++as->next_req_id);
        r->request_id[kl_sbuf_len(&b)] = '\0';
    }
}

/* pino's levels: info (30) for answers, warn (40) for client errors, error (50) for ours. */
static int log_level(int status) { return status >= 500 ? 50 : status >= 400 ? 40 : 30; }

/* ns as milliseconds with three decimals ("1.234"). */
static void put_ms(kl_sbuf_t *l, uint64_t ns) {
    uint64_t us = ns / 1000;
    char frac[4] = {(char)('.'), (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10)};
    kl_sbuf_u64(l, us / 1000);
    kl_sbuf_put(l, frac, 4);
}

/* s[0..n) escaped for a JSON string, at most max input bytes of it. */
static void put_esc(kl_sbuf_t *l, const char *s, size_t n, size_t max) {
    size_t room = (size_t)(l->end - l->p);
    if (!room) return;
    size_t w = kl_json_escape(l->p, room, s ? s : "", n > max ? max : n);
    l->p += w < room ? w : strlen(l->p); /* truncated: a valid prefix, NUL-terminated */
}

static void access_log(kl_app_shard_t *as, const kl_request_t *r, int status, uint64_t ns) {
    kl_alog_t *log = as->alog;
    char buf[8192], addr[INET6_ADDRSTRLEN] = "";
    kl_sbuf_t l = kl_sbuf(buf, sizeof(buf) - 2);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    KL_SBUF_LIT(&l, "{\"level\":");
    kl_sbuf_u64(&l, (uint64_t)log_level(status));
    KL_SBUF_LIT(&l, ",\"time\":");
    kl_sbuf_u64(&l, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    kl_sbuf_put(&l, log->prefix, log->prefix_len); /* ,"pid":N,"hostname":"..." */
    KL_SBUF_LIT(&l, ",\"reqId\":\"");
    kl_sbuf_put(&l, r->request_id, strlen(r->request_id)); /* safe characters only (respond.h) */
    KL_SBUF_LIT(&l, "\",\"req\":{\"method\":\"");
    put_esc(&l, r->method.base, r->method.len, 16);
    KL_SBUF_LIT(&l, "\",\"url\":\"");
    put_esc(&l, r->target.base, r->target.len, 1024);
    KL_SBUF_LIT(&l, "\",\"remoteAddress\":\"");
    static const uint8_t zero[16];
    if (memcmp(r->peer.b, zero, 16) != 0) {
        if (kl_ip_is_v4(&r->peer)) inet_ntop(AF_INET, &r->peer.b[12], addr, sizeof(addr));
        else inet_ntop(AF_INET6, r->peer.b, addr, sizeof(addr));
    }
    kl_sbuf_put(&l, addr, strlen(addr));
    KL_SBUF_LIT(&l, "\"},\"res\":{\"statusCode\":");
    kl_sbuf_u64(&l, (uint64_t)status);
    KL_SBUF_LIT(&l, "},\"responseTime\":");
    put_ms(&l, ns);
    KL_SBUF_LIT(&l, ",\"route\":\"");
    const char *route = kl_admin_slot_name(as, r->mx_slot);
    put_esc(&l, route, strlen(route), 1024);
    KL_SBUF_LIT(&l, "\",\"cache\":");
    if (r->cache) {
        const char *c = kl_mx_cache_name((kl_mx_cache_t)r->cache);
        KL_SBUF_LIT(&l, "\"");
        kl_sbuf_put(&l, c, strlen(c));
        KL_SBUF_LIT(&l, "\"");
    } else {
        KL_SBUF_LIT(&l, "null");
    }
    KL_SBUF_LIT(&l, ",\"dbMs\":");
    if (r->db_us) put_ms(&l, r->db_us * 1000);
    else KL_SBUF_LIT(&l, "null");
    KL_SBUF_LIT(&l, ",\"shard\":");
    kl_sbuf_u64(&l, (uint64_t)as->shard->id);
    KL_SBUF_LIT(&l, ",\"msg\":\"request completed\"}");
    l.end += 2; /* room kept for the end: the line is always whole */
    KL_SBUF_LIT(&l, "\n");
    if (!kl_alog_push(log, (unsigned)as->shard->id, buf, kl_sbuf_len(&l))) kl_mx_add(&as->mx.alog_dropped, 1);
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
    bool no_body = status < 200 || status == 204 || status == 304;
    if (!no_body && len > (size_t)as->cfg->max_pending_out && as->cfg->max_output && !r->admin &&
        kl_str_eq(r->method, "GET") &&
        as->shard->out_held + len > (uint64_t)as->cfg->max_output / as->npeers) {
        /* Clients that asked for large answers and never read them hold this shard's share.
         * Never a write's answer (it comes after the write happened: a 503 would say it did
         * not), nor the admin listener's (/metrics while under attack). */
        kl_respond_error(r, 503, "the server holds too many unsent answers; try again shortly", "Retry-After: 1\r\n");
        return;
    }
    if (!r->request_id[0]) kl_respond_set_request_id(as, r, (kl_str_t){NULL, 0});
    bool keep = r->ops->keep_alive(r);
    char head[1024];
    kl_sbuf_t h = kl_sbuf(head, sizeof(head));
    KL_SBUF_LIT(&h, "HTTP/1.1 ");
    kl_sbuf_u64(&h, (uint64_t)status);
    KL_SBUF_LIT(&h, " ");
    kl_sbuf_str(&h, kl_http1_reason(status));
    KL_SBUF_LIT(&h, "\r\n");
    kl_sbuf_put(&h, as->date, as->date_len);
    if (content_type && !no_body) {
        KL_SBUF_LIT(&h, "Content-Type: ");
        kl_sbuf_str(&h, content_type);
        KL_SBUF_LIT(&h, "\r\n");
    }
    if (!no_body) {
        KL_SBUF_LIT(&h, "Content-Length: ");
        kl_sbuf_u64(&h, len);
        KL_SBUF_LIT(&h, "\r\n");
    }
    KL_SBUF_LIT(&h, "X-Request-Id: ");
    kl_sbuf_str(&h, r->request_id);
    KL_SBUF_LIT(&h, "\r\n");
    if (!keep) KL_SBUF_LIT(&h, "Connection: close\r\n");
    else if (r->minor_version == 0) KL_SBUF_LIT(&h, "Connection: keep-alive\r\n");
    r->ops->write(r, head, kl_sbuf_len(&h));
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
