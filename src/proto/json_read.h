/* json_read.h - reading JSON request bodies (RFC 8259) strictly, without allocating.
 * (json.h is the other direction: the little JSON keel writes.)
 *
 * What is a valid document: exactly one JSON value with optional whitespace (space, tab,
 * LF, CR) around it and nothing else: no BOM, no comments, no trailing commas or bytes.
 * Strings are UTF-8 (no invalid or overlong sequences, no encoded surrogates, nothing above
 * U+10FFFF), control bytes only as escapes, escapes only the eight of the RFC and \uXXXX,
 * where a high surrogate must be followed by a low one and a low one never stands alone.
 * Numbers follow the grammar (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), literals are
 * true, false and null. Arrays and objects nest at most KL_JSON_MAX_DEPTH deep. The members
 * of the top-level object (when the value is one) have distinct names, compared after
 * decoding ("a" and "\u0061" are the same name), and there are at most KL_JSON_MAX_MEMBERS
 * of them: PostgreSQL's jsonb keeps the last of two equal names, so a validator that read the
 * first could be bypassed. Nested objects may repeat names (they reach SQL only as jsonb).
 *
 * Costs: validation is one pass over the bytes with no recursion (the container stack is a
 * bit mask) and about 8 KiB of stack for the top-level names' hashes; documents longer than
 * 4 GiB are refused. The readers below walk a validated document again without checking it;
 * given bytes that did not validate they still never read outside them, but what they return
 * is then unspecified.
 *
 * Ranges are kl_str_t into the caller's bytes, which must outlive them. */
#ifndef KL_JSON_READ_H
#define KL_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"

#define KL_JSON_MAX_DEPTH 64      /**< deepest nesting of arrays and objects, the outermost counted */
#define KL_JSON_MAX_MEMBERS 1024  /**< most members of the top-level object */

/** The type of a JSON value. */
typedef enum {
    KL_JSON_OBJECT = 1,
    KL_JSON_ARRAY,
    KL_JSON_STRING,
    KL_JSON_NUMBER,
    KL_JSON_TRUE,
    KL_JSON_FALSE,
    KL_JSON_NULL,
} kl_json_type_t;

/** Where and why a document is not valid. */
typedef struct {
    size_t offset;      /**< byte offset of the first offending byte (the length when it ends too soon) */
    const char *reason; /**< static text, e.g. "invalid escape"; fit for a client message */
} kl_json_error_t;

/** One member of an object, as kl_json_members_next and kl_json_find report it. */
typedef struct {
    kl_str_t name;       /**< the name as written between its quotes (escapes not decoded) */
    size_t name_len;     /**< the decoded name's length in bytes */
    kl_json_type_t type; /**< the value's type */
    kl_str_t value;      /**< the value's JSON text as written: a string with its quotes, a container whole */
} kl_json_member_t;

/** Walks the members of a document's top-level object, or the elements of its array. */
typedef struct {
    const char *_s;  /**< the document */
    size_t _len;     /**< its length */
    size_t _pos;     /**< where the next member (or the closing brace) starts */
} kl_json_iter_t;

/** Validates s[0..len) as one JSON document (see above). Returns the type of its value, or
 * -EINVAL with *err filled (err may be NULL). */
int kl_json_validate(const char *s, size_t len, kl_json_error_t *err);

/** Starts walking the members of the top-level object of the validated document s[0..len).
 * Returns false (and a walk that yields nothing) when its value is not an object. */
bool kl_json_members(kl_json_iter_t *it, const char *s, size_t len);

/** The next member into *m, its decoded name written to name[0..cap) (the first cap bytes
 * when m->name_len > cap; no NUL is added; name may be NULL when cap is 0). Returns false
 * after the last member. */
bool kl_json_members_next(kl_json_iter_t *it, kl_json_member_t *m, char *name, size_t cap);

/** Starts walking the elements of the top-level array of the validated document s[0..len)
 * (e.g. a member's value, which is a valid document itself). Returns false (and a walk
 * that yields nothing) when its value is not an array. */
bool kl_json_elements(kl_json_iter_t *it, const char *s, size_t len);
/** The next element: its type and its JSON text as written. Returns false after the last. */
bool kl_json_elements_next(kl_json_iter_t *it, kl_json_type_t *type, kl_str_t *value);
/** Finds the member of the validated document's top-level object whose decoded name is
 * name[0..name_len) (byte for byte). Returns true with *m filled, false when there is none
 * or the value is not an object. */
bool kl_json_find(const char *s, size_t len, const char *name, size_t name_len, kl_json_member_t *m);

/** Decodes the JSON string tok[0..len) (with its quotes, as kl_json_member_t.value holds
 * it) into out[0..cap); adds no NUL. Returns the decoded length, -ENOSPC when that is more
 * than cap (out then holds its first cap bytes), -EILSEQ when it holds \u0000 and allow_nul
 * is false (text bound to PostgreSQL cannot hold NUL), -EINVAL when tok is not exactly one
 * valid JSON string. The decoded length is never more than len - 2. */
ssize_t kl_json_string(const char *tok, size_t len, char *out, size_t cap, bool allow_nul);

/** True when the JSON number num[0..len) is an integer written without fraction or exponent
 * ("-0" included) within int64; stores it in *v. */
bool kl_json_int(const char *num, size_t len, int64_t *v);

/** Compares the value of the valid JSON number num[0..len) with v exactly, whatever its
 * size, fraction or exponent: returns <0, 0 or >0 as num is less than, equal to or greater. */
int kl_json_number_cmp(const char *num, size_t len, int64_t v);

#endif
