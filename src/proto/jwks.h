/* jwks.h - JSON Web Key Sets (RFC 7517 section 5) into verification keys (jws.h), and the
 * Cache-Control max-age that says how long a fetched set may be kept.
 *
 * Each element of the set's "keys" array is read strictly (the document must be valid JSON,
 * json_read.h; a key's members kty, kid, use, alg, key_ops, n, e, crv, x, y and k may appear
 * once each; other members, x5c and private parts included, are ignored):
 *   - "use" other than "sig", or "key_ops" without "verify": skipped (encryption keys are
 *     normal in a published set);
 *   - kty "RSA" (n, e; RFC 7518 6.3), "EC" (crv P-256 or P-384, x and y of the curve's size;
 *     6.2; the point must be on the curve), "OKP" (crv Ed25519, x; RFC 8037) or "oct" (k;
 *     7518 6.4), all base64url without padding;
 *   - the key is pinned to its "alg" when present (which must fit its kind), else to its
 *     kind's usual one: RS256, ES256 or ES384 by curve, EdDSA, HS256;
 *   - anything else (another kty, curve or alg, a short RSA modulus or HMAC secret, a kid
 *     over KL_JWS_KID_MAX bytes, a malformed value) is refused: left out and counted, the
 *     first reason reported. A set is parsed whole even when some keys are refused, so that
 *     one unsupported key at an issuer never takes the others away. */
#ifndef KL_JWKS_H
#define KL_JWKS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/jws.h"

/** Largest JWK Set document accepted, in bytes. */
#define KL_JWKS_MAX_BYTES (1024 * 1024)
/** Most keys taken from one set; the rest are refused. */
#define KL_JWKS_MAX_KEYS 64

/** What kl_jwks_parse made of a set. */
typedef struct {
    size_t elements;     /**< elements of "keys" */
    size_t added;        /**< keys added to the key set */
    size_t skipped;      /**< not signature keys ("use", "key_ops") */
    size_t refused;      /**< malformed or unsupported */
    char why[192];       /**< the first refusal: "key N (kid "..."): reason"; "" when none */
} kl_jwks_report_t;

/** Parses the JWK Set json[0..len) and adds each usable signature key to ks. Returns 0 (even
 * when no key was usable: see rep->added), or -EINVAL with a reason in err when the document
 * is not a JWK Set (larger than KL_JWKS_MAX_BYTES, not valid JSON, no "keys" array). */
int kl_jwks_parse(const char *json, size_t len, kl_jws_keys_t *ks, kl_jwks_report_t *rep, char *err, size_t errlen);

/** Reads the max-age directive of the Cache-Control field value v[0..len) (RFC 9111 5.2.2.1;
 * directive names case-insensitive, the value a token of digits or a quoted string of them,
 * clamped to INT32_MAX). Returns 1 with *secs set, 0 with *secs = 0 when no-store or
 * no-cache says not to keep it, -1 when the value says neither. */
int kl_jwks_max_age(const char *v, size_t len, int64_t *secs);

#endif
