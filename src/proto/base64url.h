/* base64url.h - the URL- and filename-safe base64 of RFC 4648 section 5, strict, as JWS
 * compact serialisation uses it (RFC 7515 section 2): alphabet A-Z a-z 0-9 '-' '_', and NO
 * padding: a '=' is rejected like any other byte outside the alphabet. The decoder also
 * rejects what no encoder produces: a length of 4n+1 characters, and a last character whose
 * unused low bits are not zero (RFC 4648 section 3.5). So every byte string has exactly one
 * accepted encoding, which keeps a JWT signature from having several spellings. Pure
 * functions, no allocation; the decoder reads exactly len bytes and needs no NUL. */
#ifndef KL_BASE64URL_H
#define KL_BASE64URL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Characters kl_base64url_encode writes for n bytes (no padding, no NUL). */
#define KL_BASE64URL_ENCODED_LEN(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/** An upper bound on the bytes that len characters decode to: size decode buffers with it. */
#define KL_BASE64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)

/** Decodes in[0..len) into out[0..cap). Returns the decoded length, or -1 when a byte is
 * outside the alphabet ('=' included), len % 4 == 1, the last character has non-zero unused
 * bits, or cap is smaller than the decoded length (nothing useful is in out then). An empty
 * input decodes to 0 bytes. out may be NULL when cap is 0. */
ssize_t kl_base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/** Encodes in[0..len) without padding into out and NUL-terminates it when the text and its
 * NUL fit in cap; returns the text length (KL_BASE64URL_ENCODED_LEN(len)) either way, so a
 * result >= cap means nothing was written. */
size_t kl_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
