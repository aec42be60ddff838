/* http1.h - strict, incremental HTTP/1.1 request parsing (RFC 9112), picohttpparser-style.
 *
 * Nothing here allocates or keeps state between calls beyond what the caller passes in.
 * Results are kl_str_t ranges into the caller's buffer, valid as long as that buffer is
 * (the one exception, req->path "/" for an absolute-form target with an empty path, is a
 * static string).
 * Refused as ambiguous (400): duplicate Host, Content-Length, Transfer-Encoding or
 * Authorization fields, both Content-Length and Transfer-Encoding, obs-fold, bare LF or CR,
 * and a fragment ('#') in the request-target.
 * Return convention everywhere: >= 0 bytes consumed, KL_HTTP1_INCOMPLETE (-2) need more
 * bytes, KL_HTTP1_ERROR (-1) reject: the status to answer and a message are in the result
 * struct, and the caller must answer that status and close the connection.
 */
#ifndef KL_HTTP1_H
#define KL_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"

#define KL_HTTP1_ERROR (-1)
#define KL_HTTP1_INCOMPLETE (-2)

/** Longest chunk-size line (size, extensions, CRLF) or trailer field line; longer -> 400. */
#define KL_HTTP1_CHUNK_MAX_LINE 4096
/** Largest trailer section (all trailer lines and the final CRLF); larger -> 400. */
#define KL_HTTP1_CHUNK_MAX_TRAILER 16384

typedef struct {
    kl_str_t name;  /**< field name as sent (token chars only) */
    kl_str_t value; /**< field value, leading/trailing SP/HTAB trimmed */
} kl_http1_header_t;

typedef enum {
    KL_HTTP1_BODY_NONE = 0, /**< no body (no Content-Length / Transfer-Encoding, or CL: 0) */
    KL_HTTP1_BODY_LENGTH,   /**< Content-Length bytes follow the head */
    KL_HTTP1_BODY_CHUNKED,  /**< chunked body follows; decode with kl_http1_decode_chunked */
} kl_http1_body_t;

typedef struct {
    size_t max_request_line; /**< longest request line incl. CRLF; longer -> 414 */
    size_t max_head;         /**< longest head (request line + fields + final CRLF); -> 431 */
    uint64_t max_body;       /**< largest Content-Length accepted; larger -> 413 */
} kl_http1_limits_t;

/** Default limits: 8 KiB request line, 16 KiB head, 1 MiB body. */
extern const kl_http1_limits_t kl_http1_default_limits;

typedef struct {
    kl_str_t method;  /**< request method token, case-sensitive */
    kl_str_t target;  /**< request-target as sent */
    kl_str_t path;    /**< origin-form: up to '?'; absolute-form: its path ("/" when empty);
                           asterisk-form: "*"; authority-form (CONNECT): empty */
    kl_str_t query;   /**< bytes after the first '?', without it; len 0 when absent */
    int minor_version; /**< 0 or 1 (HTTP/1.x with x > 1 is treated as 1, per RFC 9112 2.3) */
    kl_http1_header_t *headers; /**< caller's array, filled in order */
    size_t num_headers;         /**< in: capacity of headers[]; out: fields parsed (more -> 431).
                                     Untouched on INCOMPLETE; reset it before each new head. */
    kl_str_t host;              /**< absolute-form: the target's authority (RFC 9112 3.2.2);
                                     otherwise the Host field value (len 0 when the field is
                                     empty, or absent on HTTP/1.0) */
    kl_http1_body_t body;       /**< framing of the body that follows the head */
    uint64_t content_length;    /**< when body == KL_HTTP1_BODY_LENGTH; 0 otherwise */
    bool keep_alive;            /**< persistent per version and the Connection field */
    bool expect_continue;       /**< Expect: 100-continue was sent (ignored on HTTP/1.0) */
    /* set when the call returns KL_HTTP1_ERROR */
    int status;          /**< status to answer: 400, 413, 414, 417, 431, 501 or 505 */
    const char *error;   /**< static, human-readable reason, e.g. "duplicate Content-Length" */
} kl_http1_request_t;

/** Parses one request head from buf[0..len). last_len is the len of a previous call on the
 * same (grown) buffer that returned INCOMPLETE, or 0: bytes before it are not re-scanned
 * for the end of the head. Returns the head's length (the next byte is the body or the next
 * request), INCOMPLETE (*req untouched), or ERROR (req->status, req->error set; the other
 * fields are unspecified). INCOMPLETE is never returned once the limits are already
 * exceeded. One empty line (CRLF) before the request line is ignored (RFC 9112 2.2) and
 * counts towards the head. limits NULL means kl_http1_default_limits. */
int kl_http1_parse_request(const char *buf, size_t len, size_t last_len,
                           const kl_http1_limits_t *limits, kl_http1_request_t *req);

typedef struct {
    uint64_t max_body;   /**< in: largest total of chunk data accepted (-> 413) */
    uint64_t total;      /**< out: chunk data bytes decoded so far */
    int status;          /**< out on ERROR: 400 or 413 */
    const char *error;   /**< out on ERROR: static reason */
    /* private state; zero-initialise the whole struct before the first call */
    int _state;
    uint64_t _chunk_left;
    unsigned _hex_digits;
    size_t _line_len;
    size_t _trailer_len;
    uint64_t _excess;
} kl_http1_chunked_t;

/** Decodes a chunked body in place, picohttpparser's phr_decode_chunked contract: the *len
 * bytes at buf are new input (what earlier calls consumed is not passed again). On return
 * buf[0..*len) holds the data decoded by this call, and:
 *  >= 0        the body ended (last chunk and trailer section read, trailers discarded); the
 *              return value is the number of bytes that followed it in the input, moved to
 *              start at buf + *len (the next request's bytes, for pipelining).
 *  INCOMPLETE  all input consumed; call again with the next bytes.
 *  ERROR       st->status (400, or 413 when the data would exceed st->max_body) and
 *              st->error set; buf[0..*len) is the data decoded before the error, the rest
 *              of buf is unspecified, and every further call fails too.
 * Hostile framing is bounded: KL_HTTP1_CHUNK_MAX_LINE per line, KL_HTTP1_CHUNK_MAX_TRAILER
 * for the trailers, and at most 16 KiB of framing beyond 16 bytes per chunk plus twice its
 * data (Go net/http's rule), so 1-byte chunks pass but megabytes of extensions do not.
 * Calling again after the body ended returns all input as left over. */
ssize_t kl_http1_decode_chunked(kl_http1_chunked_t *st, char *buf, size_t *len);

/** The reason phrase for a status code ("Not Found"), "Unknown" when none is known. */
const char *kl_http1_reason(int status);

#endif
