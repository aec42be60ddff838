#include "app/represent.h"

#include <stdio.h>
#include <string.h>

#include "app/respond.h"
#include "proto/accept_encoding.h"

void kl_rep_prepare(kl_request_t *r, kl_rep_t *rep, kl_gzip_t *gz) {
    if (!rep->etag[0]) kl_etag_make(rep->body.base, rep->body.len, false, rep->etag);
    rep->use_gzip =
        rep->body.len >= KL_GZIP_MIN_BYTES && kl_accept_gzip(kl_request_header_list(r, "accept-encoding"));
    if (!rep->use_gzip) return;
    if (!rep->gzip.len) {
        /* Room for no more than the body itself: a body gzip cannot shrink goes as identity. */
        size_t cap = rep->body.len;
        char *out = kl_arena_tryalloc(r->arena, cap); /* out of memory: send it as it is */
        ssize_t n = out ? kl_gzip_compress(gz, rep->body.base, rep->body.len, out, cap) : 0;
        if (n <= 0) {
            rep->use_gzip = false;
            return;
        }
        rep->gzip = (kl_str_t){out, (size_t)n};
    }
    if (!rep->etag_gzip[0]) kl_etag_make(rep->body.base, rep->body.len, true, rep->etag_gzip);
}

void kl_rep_send(kl_request_t *r, const kl_rep_t *rep) {
    const char *etag = rep->use_gzip ? rep->etag_gzip : rep->etag;
    char hdr[512];
    size_t n = (size_t)snprintf(hdr, sizeof(hdr), "ETag: %s\r\n", etag);
    /* Vary whenever the encoding could have differed for another client. */
    if (rep->body.len >= KL_GZIP_MIN_BYTES) n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Vary: Accept-Encoding\r\n");
    if (rep->cache_control) n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Cache-Control: %s\r\n", rep->cache_control);
    if (rep->age_s >= 0) n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Age: %lld\r\n", (long long)rep->age_s);
    kl_str_t inm = kl_request_header_list(r, "if-none-match");
    if (inm.len && kl_etag_match(inm, (kl_str_t){etag, strlen(etag)})) {
        kl_respond(r, 304, NULL, hdr, NULL, 0);
        return;
    }
    if (rep->use_gzip) {
        snprintf(hdr + n, sizeof(hdr) - n, "Content-Encoding: gzip\r\n");
        kl_respond(r, rep->status, "application/json", hdr, rep->gzip.base, rep->gzip.len);
    } else {
        kl_respond(r, rep->status, "application/json", hdr, rep->body.base, rep->body.len);
    }
}
