#include "proto/pg_json.h"

#include <string.h>

kl_pgjson_kind_t kl_pgjson_kind(unsigned oid) {
    switch (oid) {
    case 20: case 21: case 23: case 700: case 701: case 1700: /* int8 int2 int4 float4 float8 numeric */
        return KL_PGJSON_NUMBER;
    case 16:
        return KL_PGJSON_BOOL;
    case 114: case 3802: /* json jsonb */
        return KL_PGJSON_RAW;
    case 1082:
        return KL_PGJSON_DATE;
    case 1114:
        return KL_PGJSON_TIMESTAMP;
    case 1184:
        return KL_PGJSON_TIMESTAMPTZ;
    /* bytea "char" name text oid xml cidr macaddr8 money macaddr inet bpchar varchar time
     * interval timetz bit varbit uuid tsvector tsquery: row_to_json quotes their text */
    case 17: case 18: case 19: case 25: case 26: case 142: case 650: case 774: case 790: case 829:
    case 869: case 1042: case 1043: case 1083: case 1186: case 1266: case 1560: case 1562: case 2950:
    case 3614: case 3615:
        return KL_PGJSON_STRING;
    default:
        return KL_PGJSON_OTHER;
    }
}

bool kl_pgjson_kind_dated(kl_pgjson_kind_t k) {
    return k == KL_PGJSON_DATE || k == KL_PGJSON_TIMESTAMP || k == KL_PGJSON_TIMESTAMPTZ;
}

/* What each byte costs inside a JSON string beyond itself: 1 for the escapes with a letter
 * (\" \\ \b \f \n \r \t), 5 for the other bytes below 0x20 (\u00xx), 0 for the rest, which
 * go out as they are. A table, because strings are most of what a row's object holds. */
static const unsigned char extra[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

/* True when no byte of p[0..len) needs escaping: the common case, in a loop without
 * branches or loads that the compiler turns into vector compares. */
static bool plain(const unsigned char *p, size_t len) {
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++) bad |= (unsigned)(p[i] < 0x20) | (p[i] == '"') | (p[i] == '\\');
    return !bad;
}

/* The inside of a JSON string, at out + o when out is not NULL; returns the new length. */
static size_t put_escaped(char *out, size_t o, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (plain(p, len)) {
        if (out) memcpy(out + o, s, len);
        return o + len;
    }
    if (!out) {
        size_t n = len;
        for (size_t i = 0; i < len; i++) n += extra[p[i]];
        return o + n;
    }
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (!extra[c]) continue;
        memcpy(out + o, s + run, i - run);
        o += i - run;
        run = i + 1;
        out[o++] = '\\';
        if (extra[c] == 5) {
            memcpy(out + o, "u00", 3), out[o + 3] = hex[c >> 4], out[o + 4] = hex[c & 15];
            o += 5;
            continue;
        }
        out[o++] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
    }
    memcpy(out + o, s + run, len - run);
    return o + len - run;
}

static size_t put(char *out, size_t o, const char *s, size_t len) {
    if (out) memcpy(out + o, s, len);
    return o + len;
}

size_t kl_pgjson_string(char *out, const char *s, size_t len) {
    size_t o = put(out, 0, "\"", 1);
    o = put_escaped(out, o, s, len);
    return put(out, o, "\"", 1);
}

static bool digit(char c) {
    return c >= '0' && c <= '9';
}

bool kl_pgjson_is_number(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i < len && s[i] == '0') i++;
    else if (i < len && digit(s[i]))
        while (i < len && digit(s[i])) i++;
    else return false;
    if (i < len && s[i] == '.') {
        if (++i >= len || !digit(s[i])) return false;
        while (i < len && digit(s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !digit(s[i])) return false;
        while (i < len && digit(s[i])) i++;
    }
    return i == len;
}

/* DateStyle ISO writes "2024-05-01 12:00:00.5+02" (a zone offset's minutes and seconds only
 * when not zero, " BC" last for years before 1); row_to_json writes the XSD form
 * "2024-05-01T12:00:00.5+02:00", the rest unchanged. Text that is not of that shape
 * (infinity, another DateStyle) is written as a plain string. */
static size_t put_timestamp(char *out, bool tz, const char *v, size_t len) {
    const char *sp = len && digit(v[0]) ? memchr(v, ' ', len) : NULL;
    if (!sp) return kl_pgjson_string(out, v, len);
    size_t t = (size_t)(sp - v), zone_end = len, zone = len;
    if (tz) {
        for (size_t i = t + 1; i < len && zone == len; i++)
            if (v[i] == '+' || v[i] == '-') zone = i;
        if (zone < len) {
            const char *end = memchr(v + zone, ' ', len - zone);
            zone_end = end ? (size_t)(end - v) : len;
        }
    }
    size_t o = put(out, 0, "\"", 1);
    o = put_escaped(out, o, v, t);
    o = put(out, o, "T", 1);
    o = put_escaped(out, o, v + t + 1, zone_end - t - 1);
    if (zone < len && zone_end - zone == 3) o = put(out, o, ":00", 3);
    o = put_escaped(out, o, v + zone_end, len - zone_end);
    return put(out, o, "\"", 1);
}

size_t kl_pgjson_value(char *out, kl_pgjson_kind_t k, const char *v, size_t len) {
    switch (k) {
    case KL_PGJSON_NUMBER:
        return kl_pgjson_is_number(v, len) ? put(out, 0, v, len) : kl_pgjson_string(out, v, len);
    case KL_PGJSON_BOOL:
        return len == 1 && v[0] == 't' ? put(out, 0, "true", 4) : put(out, 0, "false", 5);
    case KL_PGJSON_RAW:
        return put(out, 0, v, len);
    case KL_PGJSON_TIMESTAMP:
    case KL_PGJSON_TIMESTAMPTZ:
        return put_timestamp(out, k == KL_PGJSON_TIMESTAMPTZ, v, len);
    case KL_PGJSON_DATE:
    case KL_PGJSON_STRING:
    case KL_PGJSON_OTHER:
        break;
    }
    return kl_pgjson_string(out, v, len);
}
