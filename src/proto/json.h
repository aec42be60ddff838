/* json.h - the little JSON keel writes itself (error bodies, log lines). Pure functions. */
#ifndef KL_JSON_H
#define KL_JSON_H

#include <stddef.h>

/** Writes s[0..len) as the inside of a JSON string (no quotes) into out[0..cap), escaping
 * quotes, backslashes and control bytes, and replacing invalid UTF-8 with U+FFFD. Returns
 * the length it needed; when that is >= cap, out holds a truncated (still valid) prefix. */
size_t kl_json_escape(char *out, size_t cap, const char *s, size_t len);

#endif
