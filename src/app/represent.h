/* represent.h - answering a GET with one body in the representation the client should get:
 * identity or gzip (Accept-Encoding, bodies of KL_GZIP_MIN_BYTES and more), a strong ETag
 * per representation (the gzip variant has its own, RFC 9110 8.8.1), 304 when
 * If-None-Match matches the representation that would be sent, Vary, Cache-Control, Age. */
#ifndef KL_REPRESENT_H
#define KL_REPRESENT_H

#include <stdbool.h>
#include <stdint.h>

#include "app/gzip.h"
#include "app/request.h"
#include "proto/etag.h"

typedef struct {
    int status;                    /**< 200 (or a route's success status) */
    kl_str_t body;                 /**< identity body */
    kl_str_t gzip;                 /**< gzip variant; len 0 until compressed */
    uint64_t etag_hash;            /**< kl_etag_hash of the identity body, when etag_known */
    bool etag_known;               /**< false: kl_rep_prepare hashes the body */
    const char *cache_control;     /**< Cache-Control value, NULL = none */
    int64_t age_s;                 /**< Age header, -1 = none */
    bool use_gzip;                 /**< set by kl_rep_prepare */
} kl_rep_t;

/** Decides the representation for r and compresses with gz into r's arena when gzip is
 * chosen and rep has no gzip variant yet (rep->gzip then points at it, so a cache may keep
 * a copy before kl_rep_send). Hashes the body when the digest is not known yet (both ETags
 * come from it; only the one sent is ever formatted). gz may be NULL only for bodies under
 * KL_GZIP_MIN_BYTES, which are never compressed. */
void kl_rep_prepare(kl_request_t *r, kl_rep_t *rep, kl_gzip_t *gz);
/** Answers r with the prepared rep: 304 when If-None-Match matches, else the body. */
void kl_rep_send(kl_request_t *r, const kl_rep_t *rep);

#endif
