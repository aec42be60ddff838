#include "proto/json.h"

#include <stdint.h>
#include <string.h>

#include "proto/utf8.h"

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
            size_t n = kl_utf8_len(p + i, len - i);
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
