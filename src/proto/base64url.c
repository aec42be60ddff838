/* base64url.c - strict unpadded base64url. Decoding goes through a 256-entry table whose
 * invalid entries are 64: OR-ing the four values of a group and testing bit 6 finds a bad
 * byte with one branch per group. */
#include "proto/base64url.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* value of each byte in the alphabet; 64 = not in the alphabet */
static const uint8_t DEC[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

ssize_t kl_base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
    const uint8_t *p = (const uint8_t *)in;
    size_t tail = len % 4, whole = len / 4;
    if (tail == 1) return -1;
    size_t n = whole * 3 + (tail ? tail - 1 : 0);
    if (n > cap) return -1;

    uint8_t *o = out;
    for (size_t g = 0; g < whole; g++, p += 4, o += 3) {
        uint32_t a = DEC[p[0]], b = DEC[p[1]], c = DEC[p[2]], d = DEC[p[3]];
        if ((a | b | c | d) & 64) return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
    }
    if (tail == 2) {
        uint32_t a = DEC[p[0]], b = DEC[p[1]];
        if ((a | b) & 64 || (b & 0x0f)) return -1; /* 12 bits carry 8: the low 4 must be 0 */
        o[0] = (uint8_t)(a << 2 | b >> 4);
    } else if (tail == 3) {
        uint32_t a = DEC[p[0]], b = DEC[p[1]], c = DEC[p[2]];
        if ((a | b | c) & 64 || (c & 0x03)) return -1; /* 18 bits carry 16: the low 2 must be 0 */
        uint32_t v = a << 10 | b << 4 | c >> 2;
        o[0] = (uint8_t)(v >> 8);
        o[1] = (uint8_t)v;
    }
    return (ssize_t)n;
}

size_t kl_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
    size_t n = KL_BASE64URL_ENCODED_LEN(len);
    if (n >= cap) return n;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = ALPHABET[(v >> 6) & 63];
        *o++ = ALPHABET[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = ALPHABET[(v >> 6) & 63];
    }
    *o = 0;
    return n;
}
