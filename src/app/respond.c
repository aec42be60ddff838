#include "app/respond.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/alloc.h"
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

static void access_log(kl_app_shard_t *as, const kl_request_t *r, int status) {
    char url[512], method[32];
    kl_json_escape(url, sizeof(url), r->target.base ? r->target.base : "", r->target.len);
    kl_json_escape(method, sizeof(method), r->method.base ? r->method.base : "", r->method.len);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double ms = r->start_ns ? (double)(kl_clock_ns() - r->start_ns) / 1e6 : 0.0;
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "{\"level\":30,\"time\":%lld,\"pid\":%d,\"shard\":%d,\"reqId\":\"%s\","
                     "\"req\":{\"method\":\"%s\",\"url\":\"%s\"},\"res\":{\"statusCode\":%d},"
                     "\"responseTime\":%.3f,\"msg\":\"request completed\"}\n",
                     (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (int)getpid(), as->shard->id,
                     r->request_id, method, url, status, ms);
    if (n <= 0) return;
    if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
    if (as->log_cap - as->log_len < (size_t)n) {
        size_t cap = as->log_cap ? as->log_cap * 2 : 65536;
        while (cap - as->log_len < (size_t)n) cap *= 2;
        char *log = kl_tryrealloc(as->log, cap);
        if (!log) return; /* out of memory: this line is dropped, the request is not */
        as->log = log;
        as->log_cap = cap;
    }
    memcpy(as->log + as->log_len, line, (size_t)n);
    as->log_len += (size_t)n;
    if (as->log_len > 1 << 20) kl_respond_flush_log(as); /* bounded even in a long loop turn */
}

void kl_respond_flush_log(kl_app_shard_t *as) {
    size_t off = 0;
    while (off < as->log_len) {
        ssize_t w = write(STDOUT_FILENO, as->log + off, as->log_len - off);
        if (w <= 0) break; /* a broken stdout must not stop the server: the lines are dropped */
        off += (size_t)w;
    }
    as->log_len = 0;
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
    if (as->cfg->access_log) access_log(as, r, status);
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
