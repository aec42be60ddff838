#include "proto/url.h"

#include <string.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ssize_t kl_url_decode(char *out, const char *in, size_t len, bool plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3) return -1;
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h << 4 | l);
            if (c == '\0') return -1;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    return (ssize_t)o;
}

void kl_query_begin(kl_query_iter_t *it, kl_str_t query) {
    it->_p = query.base;
    it->_end = query.base ? query.base + query.len : NULL;
}

bool kl_query_next(kl_query_iter_t *it, kl_str_t *key, kl_str_t *value) {
    while (it->_p && it->_p < it->_end) {
        const char *amp = memchr(it->_p, '&', (size_t)(it->_end - it->_p));
        const char *stop = amp ? amp : it->_end;
        const char *pair = it->_p;
        it->_p = amp ? amp + 1 : it->_end;
        if (stop == pair) continue;
        const char *eq = memchr(pair, '=', (size_t)(stop - pair));
        *key = (kl_str_t){pair, (size_t)((eq ? eq : stop) - pair)};
        *value = eq ? (kl_str_t){eq + 1, (size_t)(stop - eq - 1)} : (kl_str_t){stop, 0};
        return true;
    }
    return false;
}

bool kl_value_int(kl_str_t s, int64_t *v) {
    size_t i = 0;
    bool neg = false;
    if (s.len && s.base[0] == '-') neg = true, i = 1;
    if (i >= s.len || s.len - i > 19) return false;
    if (s.base[i] == '0' && s.len - i > 1) return false;
    uint64_t x = 0;
    for (; i < s.len; i++) {
        if (s.base[i] < '0' || s.base[i] > '9') return false;
        x = x * 10 + (uint64_t)(s.base[i] - '0');
    }
    if (neg ? x > (uint64_t)INT64_MAX + 1 : x > (uint64_t)INT64_MAX) return false;
    if (neg && x == 0) return false; /* "-0" */
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

bool kl_value_uuid(kl_str_t s) {
    if (s.len != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s.base[i] != '-') return false;
        } else if (hexval(s.base[i]) < 0) {
            return false;
        }
    }
    return true;
}

bool kl_value_bool(kl_str_t s, bool *v) {
    if (kl_str_eq(s, "true") || kl_str_eq(s, "1")) return *v = true, true;
    if (kl_str_eq(s, "false") || kl_str_eq(s, "0")) return *v = false, true;
    return false;
}
