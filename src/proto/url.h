/* url.h - request-target pieces as pure functions: percent-decoding, query-string
 * iteration, and the typed values route parameters accept. Never allocate. */
#ifndef KL_URL_H
#define KL_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"

/** Percent-decodes in[0..len) into out (capacity >= len); '+' becomes a space when
 * plus_is_space (query strings). Returns the decoded length, or -1 for a malformed
 * escape or an encoded NUL. */
ssize_t kl_url_decode(char *out, const char *in, size_t len, bool plus_is_space);

typedef struct {
    const char *_p, *_end;
} kl_query_iter_t;

/** Starts iterating over a raw query string (the bytes after '?'). */
void kl_query_begin(kl_query_iter_t *it, kl_str_t query);
/** Next "key=value" pair, still encoded ("key" alone gives an empty value; empty
 * pairs are skipped). Returns false at the end. */
bool kl_query_next(kl_query_iter_t *it, kl_str_t *key, kl_str_t *value);

/** True when s is a base-10 integer ("-12", "0", no '+', no leading zeros beyond "0")
 * that fits int64; stores it in *v. */
bool kl_value_int(kl_str_t s, int64_t *v);
/** True when s is a canonical UUID (8-4-4-4-12 hex digits, any case). */
bool kl_value_uuid(kl_str_t s);
/** True when s is true/false (also 1/0); stores it in *v. */
bool kl_value_bool(kl_str_t s, bool *v);

#endif
