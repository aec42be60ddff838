/* units.c - durations and counts; see units.h. */
#include "units.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* strtod accepts hex, inf, nan and leading spaces; a load test's numbers are plain
 * decimals, so scan them by hand and reject the rest. Returns chars used, 0 on none. */
static size_t scan_decimal(const char *s, double *out) {
    size_t i = 0, digits = 0;
    double v = 0, scale = 1;
    while (s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + (s[i++] - '0');
        digits++;
    }
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            scale /= 10;
            v += (s[i++] - '0') * scale;
            digits++;
        }
    }
    if (!digits) return 0;
    *out = v;
    return i;
}

int kb_parse_number(const char *s, double *out) {
    double v;
    size_t n = scan_decimal(s, &v);
    if (!n || s[n] || !isfinite(v)) return -EINVAL;
    *out = v;
    return 0;
}

int kb_parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *out_ns) {
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double v;
    size_t n = scan_decimal(s, &v);
    if (!n) return -EINVAL;
    double mul = (double)default_unit_ns;
    if (s[n]) {
        size_t u;
        for (u = 0; u < sizeof units / sizeof units[0]; u++)
            if (strcmp(s + n, units[u].name) == 0) break;
        if (u == sizeof units / sizeof units[0]) return -EINVAL;
        mul = units[u].ns;
    }
    double ns = v * mul;
    if (!isfinite(ns) || ns > 100.0 * 86400e9) return -EINVAL;
    *out_ns = (uint64_t)(ns + 0.5);
    return 0;
}

int kb_parse_count(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    size_t i = 0;
    if (!s[0]) return -EINVAL;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (d > max || v > (max - d) / 10) return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
