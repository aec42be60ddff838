/* resp.h - incremental HTTP/1.1 response parsing on the client side (RFC 9112): status line,
 * Content-Length, chunked, read-until-close, interim 1xx, keep-alive. Bodies are skipped as
 * they stream by; only the head has to be buffered. Lenient where servers in the wild are
 * (bare LF line ends), strict where framing would be ambiguous (conflicting Content-Length,
 * bad chunk sizes). Never allocates. Self-contained. */
#ifndef KB_RESP_H
#define KB_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** Largest response head accepted; the caller's receive buffer must hold at least this. */
#define KB_RESP_MAX_HEAD 16384
/** kb_resp_feed's error return. */
#define KB_RESP_ERROR (-1)

typedef struct {
    int status;        /**< out: status code of the final (non-1xx) response, once its head is parsed */
    bool close;        /**< out: the connection carries no further response after this one */
    const char *error; /**< out on KB_RESP_ERROR: static reason */
    /* private; kb_resp_init sets them */
    bool _head_only;
    int _state;
    unsigned long long _left;
    size_t _scanned;
    unsigned _digits;
} kb_resp_t;

/** Prepares r for one response; head_only: the request was HEAD, so no body follows. */
void kb_resp_init(kb_resp_t *r, bool head_only);

/** Parses bytes buf[0..len) that follow what earlier calls consumed. Returns the bytes
 * consumed (>= 0) with *done set when the response ended exactly there (the rest of buf
 * belongs to the next response), or KB_RESP_ERROR (r->error set). Bytes of an incomplete
 * head are not consumed: pass them again, followed by more, on the next call. */
ssize_t kb_resp_feed(kb_resp_t *r, const char *buf, size_t len, bool *done);

/** True when the peer closing the connection now completes the response (a body without
 * Content-Length or chunked framing, which is delimited by the close). */
bool kb_resp_complete_at_eof(const kb_resp_t *r);

#endif
