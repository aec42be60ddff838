/* etag.h - strong ETags for response bodies and the If-None-Match test (RFC 9110 8.8.3,
 * 13.1.2). An ETag is the 64-bit kl_hash64 of the identity body under a fixed seed, as 16
 * lowercase hex digits in quotes: "1f3a09c4d2e8b7a6". A strong ETag names one
 * representation (RFC 9110 8.8.1), so the gzip variant of the same body carries the same
 * digits plus "-gz" inside the quotes: "1f3a09c4d2e8b7a6-gz" (Apache's mod_deflate does
 * the same). Deriving both from the identity body means a 304 can be decided without
 * compressing; every keel instance behind one load balancer must use the same gzip level
 * for the -gz tag to stay byte-exact. The seed is fixed so every instance and every
 * restart produces the same tags. Pure functions, no allocation. */
#ifndef KL_ETAG_H
#define KL_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/** Bytes an ETag buffer needs: quotes, 16 hex digits, "-gz", the terminating NUL, rounded up. */
#define KL_ETAG_MAX 24

/** The 64-bit body digest an ETag is made from (kl_hash64 with keel's fixed ETag seed). */
uint64_t kl_etag_hash(const void *body, size_t len);
/** Writes the quoted ETag for digest h (with "-gz" when gzip_variant) and a NUL into out;
 * returns its length without the NUL (18, or 21 for gzip). */
size_t kl_etag_format(uint64_t h, bool gzip_variant, char out[KL_ETAG_MAX]);
/** kl_etag_format(kl_etag_hash(body, len), gzip_variant, out): the ETag of one body. */
size_t kl_etag_make(const void *body, size_t len, bool gzip_variant, char out[KL_ETAG_MAX]);

/** True when an If-None-Match field value matches etag (the tag of the representation
 * that would be sent, quotes included): the value is exactly "*" (any representation), or
 * a comma-separated list of entity-tags (empty elements allowed) one of which equals etag
 * under the weak comparison (a W/ prefix on either side is ignored). A list with any
 * malformed element (unquoted, bad character, lowercase w/, junk between elements) does
 * not match, so the full response is sent. For several If-None-Match lines, call once per
 * line and OR the results. Reads exactly value.len bytes. */
bool kl_etag_match(kl_str_t if_none_match, kl_str_t etag);

#endif
