/* json_read.c - the strict JSON reader (see json_read.h).
 *
 * kl_json_validate is an explicit state machine over the bytes: a value, then what may follow
 * it in the container that holds it. The containers that are open are one bit each in a
 * 64-bit mask (1: object), so depth costs no stack. Strings are scanned by one function in
 * every mode (validate, hash a name, decode into a buffer); the readers that walk a
 * validated document again use light skips that stay inside the buffer whatever it holds. */
#include "proto/json_read.h"

#include <errno.h>
#include <string.h>

#include "proto/utf8.h"

_Static_assert(KL_JSON_MAX_DEPTH <= 64, "the container stack is one uint64_t");

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const uint8_t *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* ---- strings -------------------------------------------------------------------------- */

/* What a string scan does with the decoded bytes besides counting them. */
typedef struct {
    uint8_t *out;    /* decoded bytes go to out[0..cap) when not NULL */
    size_t cap;
    size_t len;      /* decoded bytes seen (written or not) */
    bool hash;       /* keep h, the FNV-1a hash of the decoded bytes */
    uint32_t h;
    bool nul;        /* a \u0000 was seen */
} sink_t;

static void put(sink_t *k, const uint8_t *b, size_t n) {
    if (k->out && k->len < k->cap) memcpy(k->out + k->len, b, n < k->cap - k->len ? n : k->cap - k->len);
    if (k->hash)
        for (size_t i = 0; i < n; i++) k->h = (k->h ^ b[i]) * 16777619u;
    k->len += n;
}

static int fail(kl_json_error_t *err, size_t at, const char *why) {
    if (err) {
        err->offset = at;
        err->reason = why;
    }
    return -EINVAL;
}

/* Scans the string whose opening quote is s[*pos]; on success *pos is just past its closing
 * quote. Decoded bytes go to k (may be NULL). Returns 0 or -EINVAL with *err set. */
static int scan_string(const uint8_t *s, size_t n, size_t *pos, sink_t *k, kl_json_error_t *err) {
    size_t i = *pos + 1;
    for (;;) {
        size_t run = i;
        while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\') i++;
        if (k && i > run) put(k, s + run, i - run);
        if (i >= n) return fail(err, n, "unterminated string");
        uint8_t c = s[i];
        if (c == '"') {
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20) return fail(err, i, "control character in a string (it must be escaped)");
        if (c >= 0x80) {
            size_t l = kl_utf8_len(s + i, n - i);
            if (l == 0) return fail(err, i, "invalid UTF-8");
            if (k) put(k, s + i, l);
            i += l;
            continue;
        }
        /* a backslash */
        if (i + 1 >= n) return fail(err, n, "unterminated string");
        uint8_t e = s[i + 1], b[4];
        size_t bl = 1;
        switch (e) {
        case '"': case '\\': case '/': b[0] = e; break;
        case 'b': b[0] = '\b'; break;
        case 'f': b[0] = '\f'; break;
        case 'n': b[0] = '\n'; break;
        case 'r': b[0] = '\r'; break;
        case 't': b[0] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (n - i < 6 || kl_utf8_hex4(s + i + 2, &cp) != 0) return fail(err, i, "invalid \\u escape");
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail(err, i, "unpaired surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (n - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' || kl_utf8_hex4(s + i + 8, &lo) != 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return fail(err, i, "unpaired surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            if (cp == 0 && k) k->nul = true;
            bl = kl_utf8_put(b, cp);
            i += 4; /* the 2 of "\u" are added below */
            break;
        }
        default:
            return fail(err, i, "invalid escape");
        }
        if (k) put(k, b, bl);
        i += 2;
    }
}

/* The next decoded piece of a string that validated, from s[*i] (inside its quotes): up to 4
 * bytes into b. Returns their number, 0 at the closing quote (or the buffer's end). */
static size_t next_piece(const uint8_t *s, size_t n, size_t *i, uint8_t *b) {
    size_t j = *i;
    if (j >= n || s[j] == '"') return 0;
    if (s[j] != '\\' || j + 1 >= n) {
        b[0] = s[j];
        *i = j + 1;
        return 1;
    }
    uint8_t e = s[j + 1];
    uint32_t cp, lo;
    if (e != 'u' || n - j < 6 || kl_utf8_hex4(s + j + 2, &cp) != 0) {
        b[0] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
        *i = j + 2;
        return 1;
    }
    *i = j + 6;
    if (cp >= 0xd800 && cp <= 0xdbff && n - j >= 12 && kl_utf8_hex4(s + j + 8, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        *i = j + 12;
    }
    return kl_utf8_put(b, cp);
}

/* The decoded bytes of a string that validated, one at a time. */
typedef struct {
    const uint8_t *s;
    size_t n, i;   /* the document; where the next piece starts */
    uint8_t b[4];  /* the current piece */
    size_t bl, bi; /* its length; the next byte of it */
} bytes_t;

/* The next decoded byte, or -1 at the string's end. */
static int next_byte(bytes_t *r) {
    if (r->bi == r->bl) {
        r->bl = next_piece(r->s, r->n, &r->i, r->b);
        r->bi = 0;
        if (r->bl == 0) return -1;
    }
    return r->b[r->bi++];
}

/* Whether the strings of a validated document that start (after their quotes) at a and b
 * decode to the same bytes ("\u00e9" is the two bytes of "\xc3\xa9"). */
static bool same_string(const uint8_t *s, size_t n, size_t a, size_t b) {
    bytes_t x = {.s = s, .n = n, .i = a}, y = {.s = s, .n = n, .i = b};
    for (;;) {
        int cx = next_byte(&x), cy = next_byte(&y);
        if (cx != cy) return false;
        if (cx < 0) return true;
    }
}

/* Whether the string of a validated document that starts (after its quote) at a decodes to
 * name[0..len). */
static bool string_is(const uint8_t *s, size_t n, size_t a, const uint8_t *name, size_t len) {
    bytes_t x = {.s = s, .n = n, .i = a};
    for (size_t k = 0;; k++) {
        int c = next_byte(&x);
        if (c < 0) return k == len;
        if (k == len || c != name[k]) return false;
    }
}

/* ---- numbers and literals ------------------------------------------------------------- */

static int scan_number(const uint8_t *s, size_t n, size_t *pos, kl_json_error_t *err) {
    size_t i = *pos;
    if (s[i] == '-') i++;
    if (i >= n || !is_digit(s[i])) return fail(err, i, "invalid number");
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i])) return fail(err, i, "invalid number (leading zero)");
    } else {
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i])) return fail(err, i, "invalid number (no digit after '.')");
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i])) return fail(err, i, "invalid number (no digit in the exponent)");
        while (i < n && is_digit(s[i])) i++;
    }
    *pos = i;
    return 0;
}

static int scan_literal(const uint8_t *s, size_t n, size_t *pos, kl_json_error_t *err) {
    static const char *const lits[] = {"true", "false", "null"};
    size_t i = *pos;
    const char *lit = lits[s[i] == 't' ? 0 : s[i] == 'f' ? 1 : 2];
    size_t l = strlen(lit);
    if (n - i < l || memcmp(s + i, lit, l) != 0) return fail(err, i, "invalid literal (true, false or null)");
    *pos = i + l;
    return 0;
}

/* ---- validation ----------------------------------------------------------------------- */

/* The type a value starting with c has (0: none). */
static int type_of(uint8_t c) {
    switch (c) {
    case '{': return KL_JSON_OBJECT;
    case '[': return KL_JSON_ARRAY;
    case '"': return KL_JSON_STRING;
    case 't': return KL_JSON_TRUE;
    case 'f': return KL_JSON_FALSE;
    case 'n': return KL_JSON_NULL;
    default: return c == '-' || is_digit(c) ? KL_JSON_NUMBER : 0;
    }
}

/* The top-level object's names seen so far: hash and the offset after the opening quote. */
typedef struct {
    uint32_t hash[KL_JSON_MAX_MEMBERS];
    uint32_t at[KL_JSON_MAX_MEMBERS];
    size_t n;
} names_t;

/* Scans the name of a member (s[*pos] must be its opening quote); when it belongs to the
 * top-level object, checks it against the names before it. */
static int scan_name(const uint8_t *s, size_t n, size_t *pos, names_t *seen, kl_json_error_t *err) {
    size_t at = *pos;
    if (at >= n || s[at] != '"')
        return fail(err, at, at >= n ? "unexpected end of the document" : "expected a member name in double quotes");
    if (seen == NULL) return scan_string(s, n, pos, NULL, err);
    sink_t k = {.hash = true, .h = 2166136261u};
    int r = scan_string(s, n, pos, &k, err);
    if (r != 0) return r;
    for (size_t j = 0; j < seen->n; j++)
        if (seen->hash[j] == k.h && same_string(s, n, seen->at[j], at + 1))
            return fail(err, at, "duplicate member name in the top-level object");
    if (seen->n == KL_JSON_MAX_MEMBERS) return fail(err, at, "too many members in the top-level object");
    seen->hash[seen->n] = k.h;
    seen->at[seen->n] = (uint32_t)(at + 1);
    seen->n++;
    return 0;
}

int kl_json_validate(const char *text, size_t n, kl_json_error_t *err) {
    const uint8_t *s = (const uint8_t *)text;
    names_t seen;
    uint64_t stack = 0; /* bit d-1 set: the container at depth d is an object */
    size_t depth = 0, i = skip_ws(s, n, 0);
    int r, top = 0;
    seen.n = 0;
    if (n > UINT32_MAX) return fail(err, 0, "document too large");
    if (i >= n) return fail(err, n, "empty document");
    if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) return fail(err, 0, "byte order mark (not allowed in JSON)");

value:
    if (i >= n) return fail(err, n, "unexpected end of the document");
    {
        int t = type_of(s[i]);
        if (top == 0) top = t;
        switch (t) {
        case KL_JSON_OBJECT:
        case KL_JSON_ARRAY:
            if (depth == KL_JSON_MAX_DEPTH) return fail(err, i, "nested too deeply");
            if (t == KL_JSON_OBJECT) stack |= (uint64_t)1 << depth;
            else stack &= ~((uint64_t)1 << depth);
            depth++;
            i = skip_ws(s, n, i + 1);
            if (i < n && s[i] == (t == KL_JSON_OBJECT ? '}' : ']')) {
                depth--;
                i++;
                goto after;
            }
            if (t == KL_JSON_ARRAY) goto value;
            goto member;
        case KL_JSON_STRING: r = scan_string(s, n, &i, NULL, err); break;
        case KL_JSON_NUMBER: r = scan_number(s, n, &i, err); break;
        case KL_JSON_TRUE:
        case KL_JSON_FALSE:
        case KL_JSON_NULL: r = scan_literal(s, n, &i, err); break;
        default: return fail(err, i, "unexpected character");
        }
        if (r != 0) return r;
    }

after: /* a value ended at i */
    i = skip_ws(s, n, i);
    if (depth == 0) {
        if (i < n) return fail(err, i, "unexpected data after the JSON value");
        return top;
    }
    if (i >= n) return fail(err, n, "unexpected end of the document");
    {
        bool object = stack >> (depth - 1) & 1;
        if (s[i] == ',') {
            i = skip_ws(s, n, i + 1);
            if (!object) goto value;
            goto member;
        }
        if (s[i] == (object ? '}' : ']')) {
            depth--;
            i++;
            goto after;
        }
        return fail(err, i, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }

member: /* a member of the object at depth starts at i */
    if ((r = scan_name(s, n, &i, depth == 1 ? &seen : NULL, err)) != 0) return r;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ':') return fail(err, i, "expected ':' after a member name");
    i = skip_ws(s, n, i + 1);
    goto value;
}

/* ---- walking a validated document ----------------------------------------------------- */

/* Skips the value at s[i] of a validated document; returns where it ends (never past n). */
static size_t skip_value(const uint8_t *s, size_t n, size_t i) {
    if (i >= n) return n;
    uint8_t c = s[i];
    if (c == '"') {
        for (i++; i < n && s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        return i < n ? i + 1 : n;
    }
    if (c == '{' || c == '[') {
        size_t depth = 0;
        for (; i < n; i++) {
            c = s[i];
            if (c == '"') {
                for (i++; i < n && s[i] != '"'; i++)
                    if (s[i] == '\\') i++;
                if (i >= n) return n;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return n;
    }
    while (i < n && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') i++;
    return i;
}

bool kl_json_members(kl_json_iter_t *it, const char *s, size_t len) {
    size_t i = skip_ws((const uint8_t *)s, len, 0);
    bool object = i < len && s[i] == '{';
    *it = (kl_json_iter_t){s, len, object ? i + 1 : len};
    return object;
}

bool kl_json_members_next(kl_json_iter_t *it, kl_json_member_t *m, char *name, size_t cap) {
    const uint8_t *s = (const uint8_t *)it->_s;
    size_t n = it->_len, i = skip_ws(s, n, it->_pos);
    if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
    if (i >= n || s[i] != '"') {
        it->_pos = n;
        return false;
    }
    sink_t k = {.out = (uint8_t *)name, .cap = name ? cap : 0};
    size_t start = i;
    if (scan_string(s, n, &i, &k, NULL) != 0) {
        it->_pos = n;
        return false;
    }
    m->name = (kl_str_t){it->_s + start + 1, i - start - 2};
    m->name_len = k.len;
    i = skip_ws(s, n, i);
    if (i < n && s[i] == ':') i = skip_ws(s, n, i + 1);
    int t = i < n ? type_of(s[i]) : 0;
    if (t == 0) {
        it->_pos = n;
        return false;
    }
    size_t end = skip_value(s, n, i);
    m->type = (kl_json_type_t)t;
    m->value = (kl_str_t){it->_s + i, end - i};
    it->_pos = end;
    return true;
}

bool kl_json_elements(kl_json_iter_t *it, const char *s, size_t len) {
    size_t i = skip_ws((const uint8_t *)s, len, 0);
    bool array = i < len && s[i] == '[';
    *it = (kl_json_iter_t){s, len, array ? i + 1 : len};
    return array;
}

bool kl_json_elements_next(kl_json_iter_t *it, kl_json_type_t *type, kl_str_t *value) {
    const uint8_t *s = (const uint8_t *)it->_s;
    size_t n = it->_len, i = skip_ws(s, n, it->_pos);
    if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
    int t = i < n ? type_of(s[i]) : 0;
    if (t == 0) { /* ']' or the end */
        it->_pos = n;
        return false;
    }
    size_t end = skip_value(s, n, i);
    *type = (kl_json_type_t)t;
    *value = (kl_str_t){it->_s + i, end - i};
    it->_pos = end;
    return true;
}

bool kl_json_find(const char *s, size_t len, const char *name, size_t name_len, kl_json_member_t *m) {
    kl_json_iter_t it;
    kl_json_members(&it, s, len);
    while (kl_json_members_next(&it, m, NULL, 0))
        if (m->name_len == name_len &&
            string_is((const uint8_t *)s, len, (size_t)(m->name.base - s), (const uint8_t *)name, name_len))
            return true;
    return false;
}

ssize_t kl_json_string(const char *tok, size_t len, char *out, size_t cap, bool allow_nul) {
    const uint8_t *s = (const uint8_t *)tok;
    size_t i = 0;
    sink_t k = {.out = (uint8_t *)out, .cap = out ? cap : 0};
    if (len < 2 || s[0] != '"' || scan_string(s, len, &i, &k, NULL) != 0 || i != len) return -EINVAL;
    if (k.nul && !allow_nul) return -EILSEQ;
    if (k.len > cap) return -ENOSPC;
    return (ssize_t)k.len;
}

bool kl_json_int(const char *num, size_t len, int64_t *v) {
    size_t i = 0;
    bool neg = len > 0 && num[0] == '-';
    if (neg) i = 1;
    if (i >= len || len - i > 19 || (num[i] == '0' && len - i > 1)) return false;
    uint64_t x = 0;
    for (; i < len; i++) {
        if (!is_digit((uint8_t)num[i])) return false;
        x = x * 10 + (uint64_t)(num[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (neg ? x > (uint64_t)INT64_MAX + 1 : x > (uint64_t)INT64_MAX) return false;
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

int kl_json_number_cmp(const char *num, size_t len, int64_t v) {
    const char *p = num, *end = num + len;
    bool neg = p < end && *p == '-';
    if (neg) p++;
    const char *ip = p;
    while (p < end && is_digit((uint8_t)*p)) p++;
    size_t li = (size_t)(p - ip), lf = 0;
    const char *fp = p;
    if (p < end && *p == '.') {
        fp = ++p;
        while (p < end && is_digit((uint8_t)*p)) p++;
        lf = (size_t)(p - fp);
    }
    int64_t e = 0; /* saturates far beyond any document's digits, so it decides alone */
    if (p < end && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        for (; p < end && is_digit((uint8_t)*p); p++)
            if (e < 1000000000000) e = e * 10 + (*p - '0');
        if (eneg) e = -e;
    }
    /* The digits are ip[0..li) then fp[0..lf): value = 0.d1d2... x 10^(li + e). */
#define DIGIT(k) ((k) < li ? ip[(k)] : fp[(k) - li])
    size_t lg = li + lf, first = 0, last = lg;
    while (first < lg && DIGIT(first) == '0') first++;
    while (last > first && DIGIT(last - 1) == '0') last--;
    int sx = first == lg ? 0 : neg ? -1 : 1, sv = v < 0 ? -1 : v > 0;
    if (sx != sv) return sx < sv ? -1 : 1;
    if (sx == 0) return 0;
    /* same sign, both non-zero: compare magnitudes 0.D x 10^pe and 0.V x 10^lv */
    int64_t pe = (int64_t)li - (int64_t)first + e;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char vd[20];
    int lv = 0;
    for (uint64_t t = m; t; t /= 10) lv++;
    for (int k = lv - 1; k >= 0; k--, m /= 10) vd[k] = (char)('0' + m % 10);
    int c = 0;
    if (pe != lv) {
        c = pe < lv ? -1 : 1;
    } else {
        size_t nd = last - first;
        for (size_t k = 0; c == 0 && (k < nd || k < (size_t)lv); k++) {
            char a = k < nd ? DIGIT(first + k) : '0', b = k < (size_t)lv ? vd[k] : '0';
            if (a != b) c = a < b ? -1 : 1;
        }
    }
#undef DIGIT
    return neg ? -c : c;
}
