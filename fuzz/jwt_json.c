/* jwt_json.c - libFuzzer driver for the JSON reader inside src/proto/jwt.c: parse_object,
 * which turns a token's header or payload into kl_jwt_claims_t, fed raw JSON directly
 * (jwt_verify reaches it only through base64url and a valid MAC), and num_cmp, which
 * compares a number claim with exp/nbf's "now". The .c is included to reach its statics.
 *
 * The input is the JSON. Checked with abort(): parse_object returns 0 or -1; on 0 the
 * claims are consistent with the input: as many members as top-level commas say, nesting
 * within KL_JWT_MAX_DEPTH, every name and value NUL-terminated inside the storage and found
 * by kl_jwt_claim, no duplicate names, valid UTF-8 in names and strings, raw values (numbers,
 * literals, containers) copied verbatim from the input and matching their type's grammar,
 * strings found verbatim when the input has no escapes; the same claims with whitespace
 * around the object; refused when cut before its closing brace. For each number claim,
 * num_cmp agrees in sign with strtold against a few int64 values (exact: rounding to long
 * double is monotonic and every int64 is a long double, so d < v implies value < v). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwt.c"
#include "jwt_checks.h"

static kl_jwt_claims_t claims, claims2;

static void check_text(const kl_jwt_claims_t *c, uint16_t off, size_t max) {
    if (off >= KL_JWT_STORAGE) abort();
    size_t n = strnlen(c->_storage + off, KL_JWT_STORAGE - off);
    if (n == KL_JWT_STORAGE - off || n > max) abort();
}

/* RFC 8259's number grammar, written out independently of scan_number. */
static int number_ok(const char *s) {
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (*s >= '0' && *s <= '9') s++;
    else return 0;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static int found(const uint8_t *json, size_t n, const char *text, size_t len) {
    return memmem(json, n, text, len) != NULL;
}

static void check_number(const char *s) {
    long double d = strtold(s, NULL);
    if (isnan(d)) abort();
    int64_t vs[] = {0, 1, -1, 1700000000, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 0, 0, 0};
    size_t nv = 8;
    if (d > -9.2e18L && d < 9.2e18L) {
        vs[nv++] = (int64_t)d;
        vs[nv++] = (int64_t)d + 1;
        vs[nv++] = (int64_t)d - 1;
    }
    for (size_t i = 0; i < nv; i++) {
        int r = num_cmp(s, vs[i]);
        if (r < -1 || r > 1) abort();
        if (d < (long double)vs[i] && r >= 0) abort();
        if (d > (long double)vs[i] && r <= 0) abort();
    }
}

/* Parses json[0..n) from an allocation of exactly n bytes, so ASan sees an over-read. */
static int parse(const uint8_t *json, size_t n, kl_jwt_claims_t *c) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, json, n);
    int r = parse_object(copy, n, c);
    free(copy);
    if (r != 0 && r != -1) abort();
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (parse(data, size, &claims) != 0) return 0;
    const kl_jwt_claims_t *c = &claims;
    if (c->count > KL_JWT_MAX_CLAIMS) abort();

    /* the structure, read apart from the parser: depth, top-level commas, escapes, the end */
    int depth = 0, max_depth = 0, in_str = 0, escapes = 0;
    uint32_t commas = 0;
    size_t close = 0;
    for (size_t i = 0; i < size; i++) {
        uint8_t ch = data[i];
        if (in_str) {
            if (ch == '\\') escapes = 1, i++;
            else if (ch == '"') in_str = 0;
            continue;
        }
        if (ch == '"') in_str = 1;
        else if (ch == '{' || ch == '[') max_depth = ++depth > max_depth ? depth : max_depth;
        else if (ch == '}' || ch == ']') close = i, depth--;
        else if (ch == ',' && depth == 1) commas++;
    }
    if (in_str || depth != 0 || max_depth > KL_JWT_MAX_DEPTH || data[close] != '}') abort();
    if (c->count != (c->count ? commas + 1 : 0) || (c->count == 0 && commas != 0)) abort();

    char quoted[KL_JWT_STORAGE + 2];
    for (uint32_t i = 0; i < c->count; i++) {
        check_text(c, c->_name[i], size);
        check_text(c, c->_value[i], size);
        const char *name = kl_jwt_claim_name(c, i), *value = kl_jwt_claim_value(c, i);
        size_t vlen = strlen(value);
        if (kl_jwt_claim_index(c, name) != (int)i || kl_jwt_claim(c, name) != value) abort();
        if (!fuzz_utf8_ok((const unsigned char *)name)) abort();
        if (!escapes) {
            size_t nlen = strlen(name);
            quoted[0] = '"', memcpy(quoted + 1, name, nlen), quoted[nlen + 1] = '"';
            if (!found(data, size, quoted, nlen + 2)) abort();
        }
        switch (kl_jwt_claim_type(c, i)) {
        case KL_JWT_STRING:
            if (!fuzz_utf8_ok((const unsigned char *)value)) abort();
            if (!escapes) {
                quoted[0] = '"', memcpy(quoted + 1, value, vlen), quoted[vlen + 1] = '"';
                if (!found(data, size, quoted, vlen + 2)) abort();
            }
            continue;
        case KL_JWT_NUMBER:
            if (!number_ok(value)) abort();
            check_number(value);
            break;
        case KL_JWT_TRUE: if (strcmp(value, "true") != 0) abort(); break;
        case KL_JWT_FALSE: if (strcmp(value, "false") != 0) abort(); break;
        case KL_JWT_NULL: if (strcmp(value, "null") != 0) abort(); break;
        case KL_JWT_OBJECT: if (value[0] != '{' || value[vlen - 1] != '}') abort(); break;
        case KL_JWT_ARRAY: if (value[0] != '[' || value[vlen - 1] != ']') abort(); break;
        default: abort();
        }
        if (!found(data, size, value, vlen)) abort(); /* raw JSON, as written */
    }

    /* whitespace around the object changes nothing; the object cut before its '}' is refused */
    uint8_t *wrapped = malloc(size + 4);
    memcpy(wrapped, " \n", 2), memcpy(wrapped + 2, data, size), memcpy(wrapped + 2 + size, "\t\r", 2);
    if (parse(wrapped, size + 4, &claims2) != 0 || !fuzz_same_claims(&claims, &claims2)) abort();
    free(wrapped);
    if (parse(data, close, &claims2) == 0) abort();
    return 0;
}
