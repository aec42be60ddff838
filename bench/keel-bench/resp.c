/* resp.c - client-side response framing; see resp.h. */
#include "resp.h"

#include <string.h>
#include <strings.h>

enum {
    ST_HEAD,      /* waiting for a whole head */
    ST_LENGTH,    /* _left body bytes to skip */
    ST_CLOSE,     /* body runs until the connection closes */
    ST_SIZE,      /* chunk-size hex digits */
    ST_EXT,       /* chunk extension, up to LF */
    ST_SIZE_LF,   /* CR seen after the size; LF must follow */
    ST_DATA,      /* _left chunk data bytes */
    ST_DATA_END,  /* CRLF after chunk data */
    ST_DATA_LF,   /* CR seen after data; LF must follow */
    ST_TRAILER,   /* start of a trailer line (or the final empty line) */
    ST_TRAILER_LF,/* CR at a line start; LF ends the body */
    ST_TRAILER_LINE, /* inside a trailer field line */
    ST_DONE,
};

void kb_resp_init(kb_resp_t *r, bool head_only) {
    memset(r, 0, sizeof *r);
    r->_head_only = head_only;
    r->_state = ST_HEAD;
}

bool kb_resp_complete_at_eof(const kb_resp_t *r) { return r->_state == ST_CLOSE; }

static ssize_t fail(kb_resp_t *r, const char *why) {
    r->error = why;
    return KB_RESP_ERROR;
}

/* Where the head ends (index after its empty line), or 0 when not yet in buf. */
static size_t find_head_end(kb_resp_t *r, const char *buf, size_t len) {
    for (size_t p = r->_scanned; p < len; p++) {
        if (buf[p] != '\n') continue;
        if (p + 1 < len && buf[p + 1] == '\n') return p + 2;
        if (p + 2 < len && buf[p + 1] == '\r' && buf[p + 2] == '\n') return p + 3;
    }
    /* a terminator starting in the last two bytes may still be incomplete: look again */
    r->_scanned = len >= 2 ? len - 2 : 0;
    return 0;
}

static bool has_token(const char *v, size_t n, const char *tok) {
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0) return true;
    }
    return false;
}

/* The last transfer coding is chunked. */
static bool ends_chunked(const char *v, size_t n) {
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    size_t s = n;
    while (s && v[s - 1] != ',') s--;
    while (s < n && (v[s] == ' ' || v[s] == '\t')) s++;
    return n - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

/* Parses the head in buf[0..end) and chooses the body framing. */
static ssize_t parse_head(kb_resp_t *r, const char *buf, size_t end) {
    size_t i = 0;
    if (end < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
        return fail(r, "bad status line");
    int minor = buf[7] - '0';
    int status = 0;
    for (i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return fail(r, "bad status code");
        status = status * 10 + (buf[i] - '0');
    }
    if (status < 100 || (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')) return fail(r, "bad status code");
    const char *nl = memchr(buf, '\n', end);
    i = (size_t)(nl - buf) + 1;

    bool chunked = false, te = false, have_len = false, close = false, keep_alive = false;
    unsigned long long length = 0;
    while (i < end) {
        const char *lf = memchr(buf + i, '\n', end - i);
        size_t le = (size_t)(lf - buf), ve = le;
        if (ve > i && buf[ve - 1] == '\r') ve--;
        if (ve == i) break; /* the empty line */
        const char *colon = memchr(buf + i, ':', ve - i);
        if (!colon || colon == buf + i) return fail(r, "bad header line");
        size_t nlen = (size_t)(colon - (buf + i));
        const char *name = buf + i;
        size_t v = (size_t)(colon - buf) + 1;
        while (v < ve && (buf[v] == ' ' || buf[v] == '\t')) v++;
        size_t vl = ve - v;
        while (vl && (buf[v + vl - 1] == ' ' || buf[v + vl - 1] == '\t')) vl--;
        if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
            unsigned long long n = 0;
            if (!vl || vl > 18) return fail(r, "bad Content-Length");
            for (size_t k = 0; k < vl; k++) {
                if (buf[v + k] < '0' || buf[v + k] > '9') return fail(r, "bad Content-Length");
                n = n * 10 + (unsigned)(buf[v + k] - '0');
            }
            if (have_len && n != length) return fail(r, "conflicting Content-Length");
            have_len = true;
            length = n;
        } else if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
            te = true;
            chunked = ends_chunked(buf + v, vl);
        } else if (nlen == 10 && strncasecmp(name, "connection", 10) == 0) {
            if (has_token(buf + v, vl, "close")) close = true;
            if (has_token(buf + v, vl, "keep-alive")) keep_alive = true;
        }
        i = le + 1;
    }
    if (minor == 0 && !keep_alive) close = true; /* HTTP/1.0 persists only when asked to */

    if (status < 200) {
        if (status == 101) return fail(r, "unexpected 101 Switching Protocols");
        /* interim response (100 Continue, 103 Early Hints): the final one follows */
        r->_scanned = 0;
        r->_state = ST_HEAD;
        r->status = 0;
        return (ssize_t)end;
    }
    r->status = status;
    r->close = close;
    if (r->_head_only || status == 204 || status == 304) {
        r->_state = ST_DONE;
    } else if (te && chunked) {
        r->_state = ST_SIZE;
        r->_left = 0;
        r->_digits = 0;
    } else if (te) {
        r->_state = ST_CLOSE; /* RFC 9112 6.3: a non-chunked final coding reads until close */
        r->close = true;
    } else if (have_len) {
        r->_left = length;
        r->_state = length ? ST_LENGTH : ST_DONE;
    } else {
        r->_state = ST_CLOSE;
        r->close = true;
    }
    return (ssize_t)end;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ssize_t kb_resp_feed(kb_resp_t *r, const char *buf, size_t len, bool *done) {
    size_t i = 0;
    *done = false;
    while (i < len || r->_state == ST_DONE) {
        switch (r->_state) {
        case ST_HEAD: {
            size_t end = find_head_end(r, buf + i, len - i);
            if (!end) {
                if (len - i >= KB_RESP_MAX_HEAD) return fail(r, "response head too large");
                return (ssize_t)i;
            }
            ssize_t n = parse_head(r, buf + i, end);
            if (n < 0) return n;
            i += (size_t)n;
            break;
        }
        case ST_LENGTH: {
            size_t n = len - i;
            if (n > r->_left) n = (size_t)r->_left;
            i += n;
            r->_left -= n;
            if (!r->_left) r->_state = ST_DONE;
            break;
        }
        case ST_CLOSE: return (ssize_t)len;
        case ST_SIZE: {
            char c = buf[i++];
            int h = hexval(c);
            if (h >= 0) {
                if (++r->_digits > 15) return fail(r, "chunk size too large");
                r->_left = r->_left * 16 + (unsigned)h;
            } else if (!r->_digits) {
                return fail(r, "bad chunk size");
            } else if (c == ';' || c == ' ' || c == '\t') {
                r->_state = ST_EXT;
            } else if (c == '\r') {
                r->_state = ST_SIZE_LF;
            } else if (c == '\n') {
                r->_state = r->_left ? ST_DATA : ST_TRAILER;
            } else {
                return fail(r, "bad chunk size");
            }
            break;
        }
        case ST_EXT:
            if (buf[i++] == '\n') r->_state = r->_left ? ST_DATA : ST_TRAILER;
            break;
        case ST_SIZE_LF:
            if (buf[i++] != '\n') return fail(r, "bad chunk size line");
            r->_state = r->_left ? ST_DATA : ST_TRAILER;
            break;
        case ST_DATA: {
            size_t n = len - i;
            if (n > r->_left) n = (size_t)r->_left;
            i += n;
            r->_left -= n;
            if (!r->_left) r->_state = ST_DATA_END;
            break;
        }
        case ST_DATA_END: {
            char c = buf[i++];
            if (c == '\r') r->_state = ST_DATA_LF;
            else if (c == '\n') r->_state = ST_SIZE, r->_digits = 0;
            else return fail(r, "missing CRLF after chunk data");
            break;
        }
        case ST_DATA_LF:
            if (buf[i++] != '\n') return fail(r, "missing CRLF after chunk data");
            r->_state = ST_SIZE;
            r->_digits = 0;
            break;
        case ST_TRAILER: {
            char c = buf[i++];
            if (c == '\r') r->_state = ST_TRAILER_LF;
            else if (c == '\n') r->_state = ST_DONE;
            else r->_state = ST_TRAILER_LINE;
            break;
        }
        case ST_TRAILER_LF:
            if (buf[i++] != '\n') return fail(r, "bad chunked trailer");
            r->_state = ST_DONE;
            break;
        case ST_TRAILER_LINE:
            if (buf[i++] == '\n') r->_state = ST_TRAILER;
            break;
        case ST_DONE:
            *done = true;
            return (ssize_t)i;
        }
    }
    return (ssize_t)i;
}
