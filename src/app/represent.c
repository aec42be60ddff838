#include "app/represent.h"

#include "app/respond.h"
#include "core/sbuf.h"
#include "proto/accept_encoding.h"

void kl_rep_prepare(kl_request_t *r, kl_rep_t *rep, kl_gzip_t *gz) {
    if (!rep->etag_known) {
        rep->etag_hash = kl_etag_hash(rep->body.base, rep->body.len);
        rep->etag_known = true;
    }
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
}

void kl_rep_send(kl_request_t *r, const kl_rep_t *rep) {
    char etag[KL_ETAG_MAX];
    size_t etag_len = kl_etag_format(rep->etag_hash, rep->use_gzip, etag);
    char hdr[512];
    kl_sbuf_t h = kl_sbuf(hdr, sizeof(hdr) - 1); /* extra headers go on as a C string */
    KL_SBUF_LIT(&h, "ETag: ");
    kl_sbuf_str(&h, etag);
    KL_SBUF_LIT(&h, "\r\n");
    /* Vary whenever the encoding could have differed for another client. */
    if (rep->body.len >= KL_GZIP_MIN_BYTES) KL_SBUF_LIT(&h, "Vary: Accept-Encoding\r\n");
    if (rep->cache_control) {
        KL_SBUF_LIT(&h, "Cache-Control: ");
        kl_sbuf_str(&h, rep->cache_control);
        KL_SBUF_LIT(&h, "\r\n");
    }
    if (rep->age_s >= 0) {
        KL_SBUF_LIT(&h, "Age: ");
        kl_sbuf_u64(&h, (uint64_t)rep->age_s);
        KL_SBUF_LIT(&h, "\r\n");
    }
    hdr[kl_sbuf_len(&h)] = '\0';
    kl_str_t inm = kl_request_header_list(r, "if-none-match");
    if (inm.len && kl_etag_match(inm, (kl_str_t){etag, etag_len})) {
        kl_respond(r, 304, NULL, hdr, NULL, 0);
        return;
    }
    if (rep->use_gzip) {
        KL_SBUF_LIT(&h, "Content-Encoding: gzip\r\n");
        hdr[kl_sbuf_len(&h)] = '\0';
        kl_respond(r, rep->status, "application/json", hdr, rep->gzip.base, rep->gzip.len);
    } else {
        kl_respond(r, rep->status, "application/json", hdr, rep->body.base, rep->body.len);
    }
}
