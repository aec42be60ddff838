/* utf8.h - the UTF-8 and \uXXXX pieces every JSON reader and writer in keel needs (RFC 3629,
 * RFC 8259 7). Pure functions; nothing is allocated. */
#ifndef KL_UTF8_H
#define KL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/** Length of the valid UTF-8 sequence at s[0..n) (n >= 1): 1 for ASCII, 2..4 otherwise, or 0
 * when it is invalid (no overlongs, no surrogates, nothing above U+10FFFF, not cut short). */
size_t kl_utf8_len(const uint8_t *s, size_t n);

/** Writes code point cp (a Unicode scalar value) as UTF-8 into b[0..4); returns 1..4. */
size_t kl_utf8_put(uint8_t b[4], uint32_t cp);

/** Reads the four hex digits (either case) at p[0..4), as after "\u", into *v: 0, or -1 when
 * one is not a hex digit. */
int kl_utf8_hex4(const uint8_t *p, uint32_t *v);

#endif
