/* jwt.h - verification of HS256 JSON Web Tokens (RFC 7519 over JWS compact serialisation,
 * RFC 7515), the bearer tokens behind a route's `@auth`. One call checks a token and hands
 * back its payload's top-level members as NUL-terminated name/value text, so keel can bind
 * `:auth.<claim>` parameters and key `@cache private` entries by the subject.
 *
 * What is accepted: exactly three base64url parts (base64url.h: no padding, canonical);
 * a header that is a JSON object with "alg":"HS256" (case-sensitive; "none", HS384, RS256
 * and everything else are refused), no "crit", and "typ" absent or exactly "JWT"; a
 * signature of exactly 32 bytes equal (constant-time) to HMAC-SHA256(secret,
 * header_b64 "." payload_b64); a payload that is a JSON object with a "sub" that is a
 * string or an integer (-?[0-9]+, kept as written), an "exp" that, if present, is a number
 * > now_s and an "nbf" that, if present, is a number <= now_s (compared exactly, no
 * leeway, fractions honoured). "iat", "iss", "aud" and every other member are passed
 * through unchecked. The payload is only parsed after the signature matched; the header
 * is parsed before (the algorithm must be known first).
 *
 * JSON is parsed strictly (RFC 8259): UTF-8 only (no BOM, no invalid or overlong
 * sequences, no encoded surrogates), escapes incl. \uXXXX with surrogate pairs, numbers
 * per the grammar, literals, no trailing garbage, no duplicate top-level member names
 * (compared after unescaping), containers nested at most KL_JWT_MAX_DEPTH deep. A \u0000
 * in a top-level name or string value is refused, so every name and value is a C string.
 *
 * Bounds: no allocation at all; tokens longer than KL_JWT_MAX_TOKEN are malformed; the
 * verifier uses about 6.2 KiB of stack for the decoded parts. */
#ifndef KL_JWT_H
#define KL_JWT_H

#include <stddef.h>
#include <stdint.h>

/** Longest token accepted, in bytes (header.payload.signature, no "Bearer "). */
#define KL_JWT_MAX_TOKEN 8192
/** Most top-level members a header or payload may have. */
#define KL_JWT_MAX_CLAIMS 64
/** Bytes of text storage inside kl_jwt_claims_t; a payload that fits KL_JWT_MAX_TOKEN always fits. */
#define KL_JWT_STORAGE 8192
/** Deepest container nesting in a header or payload, the top-level object included. */
#define KL_JWT_MAX_DEPTH 16

/** kl_jwt_verify results; each has a short client-safe reason (kl_jwt_strerror). */
enum {
    KL_JWT_OK = 0,
    KL_JWT_EMALFORMED = -1, /**< "malformed token": shape, base64url, JSON, sizes, missing or bad sub/exp/nbf/typ */
    KL_JWT_EALG = -2,       /**< "unsupported algorithm": alg missing or not "HS256", or a "crit" header */
    KL_JWT_ESIGNATURE = -3, /**< "bad signature": not 32 bytes, or not the HMAC of the secret (or the secret is empty) */
    KL_JWT_EEXPIRED = -4,   /**< "token expired": exp <= now_s */
    KL_JWT_ENOTYET = -5,    /**< "token not yet valid": nbf > now_s */
};

/** The JSON type of a claim's value. */
typedef enum {
    KL_JWT_STRING = 1, /**< text is the unescaped UTF-8 string */
    KL_JWT_NUMBER,     /**< text is the number as written in the JSON */
    KL_JWT_TRUE,       /**< text is "true" */
    KL_JWT_FALSE,      /**< text is "false" */
    KL_JWT_NULL,       /**< text is "null" */
    KL_JWT_OBJECT,     /**< text is the raw JSON of the object, as written */
    KL_JWT_ARRAY,      /**< text is the raw JSON of the array, as written */
} kl_jwt_type_t;

/** A verified token's payload members. Self-contained (offsets, not pointers), so it may be
 * copied with memcpy; about 8.3 KiB, so callers keep one per shard or in the request arena
 * rather than many on the stack. Read it through the functions below. */
typedef struct {
    /** Members held, 0..KL_JWT_MAX_CLAIMS; 0 after a failed kl_jwt_verify. */
    uint32_t count;
    /** Per member, the offset in _storage of its NUL-terminated name. */
    uint16_t _name[KL_JWT_MAX_CLAIMS];
    /** Per member, the offset in _storage of its NUL-terminated value text. */
    uint16_t _value[KL_JWT_MAX_CLAIMS];
    /** Per member, its kl_jwt_type_t. */
    uint8_t _type[KL_JWT_MAX_CLAIMS];
    /** Names and values back to back, each NUL-terminated. */
    char _storage[KL_JWT_STORAGE];
} kl_jwt_claims_t;

/** Verifies token[0..len) (needs no NUL; reads exactly len bytes) against secret at time
 * now_s (Unix seconds). On success returns 0 and fills *out; otherwise returns a negative
 * KL_JWT_E* code, sets out->count to 0 and writes the code's reason, NUL-terminated and
 * truncated to errlen, into err (err may be NULL when errlen is 0). */
int kl_jwt_verify(const char *token, size_t len, const uint8_t *secret, size_t secret_len, int64_t now_s,
                  kl_jwt_claims_t *out, char *err, size_t errlen);
/** The client-safe reason for a kl_jwt_verify result ("" for 0, "malformed token" for unknown codes). */
const char *kl_jwt_strerror(int code);

/** The value text of the member called name (exact, case-sensitive), or NULL when absent. */
const char *kl_jwt_claim(const kl_jwt_claims_t *c, const char *name);
/** The index (0..count-1, in payload order) of the member called name, or -1 when absent. */
int kl_jwt_claim_index(const kl_jwt_claims_t *c, const char *name);
/** The name of member i (i < count). */
const char *kl_jwt_claim_name(const kl_jwt_claims_t *c, size_t i);
/** The value text of member i (i < count). */
const char *kl_jwt_claim_value(const kl_jwt_claims_t *c, size_t i);
/** The JSON type of member i's value (i < count). */
kl_jwt_type_t kl_jwt_claim_type(const kl_jwt_claims_t *c, size_t i);
/** The subject ("sub") text of a verified token: never NULL after kl_jwt_verify returned 0. */
const char *kl_jwt_subject(const kl_jwt_claims_t *c);

#endif
