/* jwt.h - verification of JSON Web Tokens (RFC 7519 over JWS compact serialisation,
 * RFC 7515), the bearer tokens behind a route's `@auth`. One call checks a token against a
 * key set (jws.h) and a policy, and hands back its payload's top-level members as
 * NUL-terminated name/value text, so keel can bind `:auth.<claim>` parameters and key
 * `@cache private` entries by the subject.
 *
 * What is accepted (RFC 8725's rules): exactly three base64url parts (base64url.h: no
 * padding, canonical); a header that is a JSON object with an "alg" naming a supported
 * algorithm (jws.h; "none" and everything else are refused), no "crit", a "typ" that is
 * absent or (case-insensitively) "JWT", "at+jwt", or either with "application/" in front,
 * and a "kid" that is absent or a string of at most KL_JWS_KID_MAX bytes. The key is chosen
 * by kid and must be pinned to the header's alg (kl_jws_keys_find); the signature must
 * verify under it. Only then is the payload parsed: a JSON object with a "sub" that is a
 * string or an integer (-?[0-9]+, kept as written), and time claims checked with the
 * policy's leeway L against now: "exp" (required unless the policy says otherwise) must be
 * a number with now < exp + L; "nbf", if present, a number <= now + L; "iat", if present, a
 * number <= now + L (not issued in the future); compared exactly, fractions honoured. With a
 * policy issuer, "iss" must be that string; with a policy audience, "aud" must be that
 * string or an array holding it. Every other member is passed through unchecked.
 *
 * JSON is parsed strictly (RFC 8259): UTF-8 only (no BOM, no invalid or overlong
 * sequences, no encoded surrogates), escapes incl. \uXXXX with surrogate pairs, numbers
 * per the grammar, literals, no trailing garbage, no duplicate top-level member names
 * (compared after unescaping), containers nested at most KL_JWT_MAX_DEPTH deep. A \u0000
 * in a top-level name or string value is refused, so every name and value is a C string.
 *
 * Bounds: nothing is allocated but libcrypto's own contexts during the signature check;
 * tokens longer than KL_JWT_MAX_TOKEN are malformed; the verifier uses about 6.2 KiB of
 * stack for the decoded parts. */
#ifndef KL_JWT_H
#define KL_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/jws.h"

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
    KL_JWT_EMALFORMED = -1, /**< "malformed token": shape, base64url, JSON, sizes, duplicate members, bad sub/exp/nbf/iat/typ/kid */
    KL_JWT_EALG = -2,       /**< "unsupported algorithm": alg missing, "none" or unknown, or a "crit" header */
    KL_JWT_ESIGNATURE = -3, /**< "bad signature": wrong length, or not a signature of the key */
    KL_JWT_EEXPIRED = -4,   /**< "token expired": exp + leeway <= now */
    KL_JWT_ENOTYET = -5,    /**< "token not yet valid": nbf > now + leeway */
    KL_JWT_EKEY = -6,       /**< "unknown key": no key with the token's kid (or no kid where several keys fit) */
    KL_JWT_EALGKEY = -7,    /**< "algorithm does not match the key": the key is pinned to another alg */
    KL_JWT_EIAT = -8,       /**< "token issued in the future": iat > now + leeway */
    KL_JWT_ENOEXP = -9,     /**< "token has no expiry": exp absent while the policy requires it */
    KL_JWT_EISSUER = -10,   /**< "wrong issuer": iss absent or not the policy's issuer */
    KL_JWT_EAUDIENCE = -11, /**< "wrong audience": aud absent or without the policy's audience */
    KL_JWT_ELAST = KL_JWT_EAUDIENCE, /**< the lowest code */
};

/** What a token must satisfy beyond its signature (RFC 7519 4.1, RFC 8725 3.8-3.9). */
typedef struct {
    bool require_exp;     /**< refuse tokens without "exp" */
    int64_t leeway_s;     /**< clock skew allowed on exp, nbf and iat, in seconds (>= 0) */
    const char *issuer;   /**< "iss" must equal it; NULL = not checked */
    const char *audience; /**< "aud" must be it or hold it (at most 1024 bytes); NULL = not checked */
} kl_jwt_policy_t;

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

/** Verifies token[0..len) (needs no NUL; reads exactly len bytes) with keys and policy at
 * time now_s (Unix seconds). On success returns 0 and fills *out; otherwise returns a
 * negative KL_JWT_E* code, sets out->count to 0 and writes the code's reason,
 * NUL-terminated and truncated to errlen, into err (err may be NULL when errlen is 0). */
int kl_jwt_verify(const char *token, size_t len, const kl_jws_keys_t *keys, const kl_jwt_policy_t *policy,
                  int64_t now_s, kl_jwt_claims_t *out, char *err, size_t errlen);
/** The policy checks of kl_jwt_verify (sub, exp, nbf, iat, iss, aud) on claims already
 * parsed: 0 or a KL_JWT_E* code. */
int kl_jwt_check_claims(const kl_jwt_claims_t *c, const kl_jwt_policy_t *policy, int64_t now_s);
/** Decodes the payload part of a token that kl_jwt_verify accepted into out[0..cap): the
 * JSON object exactly as signed (no NUL added). Returns its length, or -1 when the token has
 * no such part or cap is too small (KL_BASE64URL_DECODED_MAX(len) always suffices). */
ssize_t kl_jwt_payload(const char *token, size_t len, char *out, size_t cap);
/** Reads the number claim called name as whole seconds, rounded down and clamped to the
 * int64 range, into *out. Returns 0, or -1 when it is absent or not a number. */
int kl_jwt_claim_seconds(const kl_jwt_claims_t *c, const char *name, int64_t *out);
/** Bytes of c's storage in use: a copy of count, the member tables and _storage[0..used)
 * reads the same as c. */
size_t kl_jwt_claims_used(const kl_jwt_claims_t *c);
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
