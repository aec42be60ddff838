#include "proto/json.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) need = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) need = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) need = 4, cp = c & 0x07;
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

size_t kl_json_escape(char *out, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < len) {
        char tmp[8];
        const char *w = tmp;
        size_t wl;
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, wl = 2, i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': memcpy(tmp, "\\n", 2), wl = 2; break;
            case '\r': memcpy(tmp, "\\r", 2), wl = 2; break;
            case '\t': memcpy(tmp, "\\t", 2), wl = 2; break;
            default:
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[c >> 4], tmp[5] = hex[c & 15], wl = 6;
            }
            i++;
        } else if (c < 0x80) {
            tmp[0] = (char)c, wl = 1, i++;
        } else {
            size_t n = utf8_len(p + i, len - i);
            if (n) {
                w = (const char *)p + i, wl = n, i += n;
            } else {
                memcpy(tmp, "\xef\xbf\xbd", 3), wl = 3, i++;
            }
        }
        if (o + wl < cap) memcpy(out + o, w, wl);
        else if (o < cap) cap = o + 1; /* never emit half an escape: stop writing here */
        o += wl;
    }
    if (cap) out[o < cap ? o : cap - 1] = '\0';
    return o;
}
