/* sbuf.h - text built into a caller's fixed buffer without printf: every response head and
 * access-log line is made this way, because snprintf's format parsing cost about 6% of
 * keel's CPU on a cached answer (perf, GET /api/bounties/{id} cached). What does not fit is
 * dropped, and the buffer stays a valid prefix; kl_sbuf_len says how much was written. No
 * NUL is written: callers that need one keep a byte for it. */
#ifndef KL_SBUF_H
#define KL_SBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *start; /**< first byte of the buffer */
    char *p;     /**< where the next byte goes */
    char *end;   /**< one past the last byte that may be written */
} kl_sbuf_t;

/** A builder over buf[0..cap). */
static inline kl_sbuf_t kl_sbuf(char *buf, size_t cap) { return (kl_sbuf_t){buf, buf, buf + cap}; }

/** Bytes written so far. */
static inline size_t kl_sbuf_len(const kl_sbuf_t *b) { return (size_t)(b->p - b->start); }

/** Appends s[0..n), or as much of it as fits. */
static inline void kl_sbuf_put(kl_sbuf_t *b, const void *s, size_t n) {
    size_t room = (size_t)(b->end - b->p);
    if (n > room) n = room;
    if (n) memcpy(b->p, s, n);
    b->p += n;
}

/** Appends a string literal. */
#define KL_SBUF_LIT(b, lit) kl_sbuf_put((b), (lit), sizeof(lit) - 1)

/** Appends a NUL-terminated string (NULL appends nothing). */
static inline void kl_sbuf_str(kl_sbuf_t *b, const char *s) {
    if (s) kl_sbuf_put(b, s, strlen(s));
}

/** Appends v in decimal. */
static inline void kl_sbuf_u64(kl_sbuf_t *b, uint64_t v) {
    char d[20];
    size_t n = 0;
    do d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    kl_sbuf_put(b, d + sizeof(d) - n, n);
}

/** Appends v in lowercase hexadecimal, no leading zeros. */
static inline void kl_sbuf_hex(kl_sbuf_t *b, uint64_t v) {
    char d[16];
    size_t n = 0;
    do d[sizeof(d) - 1 - n++] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    kl_sbuf_put(b, d + sizeof(d) - n, n);
}

#endif
