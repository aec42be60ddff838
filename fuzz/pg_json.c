/* pg_json.c - libFuzzer driver for src/proto/pg_json.c: PostgreSQL values written as JSON the
 * way row_to_json writes them (what keel sends for a route of several columns).
 *
 * Input: byte 0 picks the kind (mod the number of kinds); the rest is the value's text, as
 * libpq would hand it over (any bytes: a driver cannot trust the database to send only what
 * its type's output function writes). Checked with abort():
 *  - counting (out NULL) gives exactly the length written, into a buffer of exactly that
 *    size (ASan sees a write past it), for kl_pgjson_value and kl_pgjson_string;
 *  - when the text is valid UTF-8, what is written is one valid JSON document
 *    (kl_json_validate) for every kind but raw (json/jsonb text, passed through as is): a
 *    number exactly when the kind is a number and the text is one (kl_pgjson_is_number),
 *    true/false for a bool, a string otherwise;
 *  - the string kinds' documents (and kl_pgjson_string's) decode (kl_json_string) to the
 *    text itself;
 *  - kl_pgjson_is_number agrees with a reference written from RFC 8259's grammar by strtod
 *    and a character check. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_read.h"
#include "proto/pg_json.h"
#include "proto/utf8.h"

static bool utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = kl_utf8_len(s + i, n - i);
        if (!l) return false;
        i += l;
    }
    return true;
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool ref_number(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d0 || (s[d0] == '0' && i - d0 > 1)) return false;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == f0) return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == e0) return false;
    }
    return i == n;
}

/* doc[0..dlen) is exactly one JSON string, whose decoded bytes are v[0..len). */
static bool decodes_to(const char *doc, size_t dlen, const char *v, size_t len) {
    char *dec = malloc(dlen ? dlen : 1);
    ssize_t dl = kl_json_string(doc, dlen, dec, dlen, true);
    bool ok = dl == (ssize_t)len && !memcmp(dec, v, len);
    free(dec);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    kl_pgjson_kind_t k = (kl_pgjson_kind_t)(data[0] % (KL_PGJSON_OTHER + 1));
    const char *v = (const char *)data + 1;
    size_t len = size - 1;

    if (kl_pgjson_is_number(v, len) != ref_number(v, len)) abort();

    size_t n = kl_pgjson_value(NULL, k, v, len);
    char *out = malloc(n ? n : 1);
    if (kl_pgjson_value(out, k, v, len) != n) abort();
    size_t sn = kl_pgjson_string(NULL, v, len);
    char *sout = malloc(sn);
    if (kl_pgjson_string(sout, v, len) != sn) abort();

    if (utf8_valid(data + 1, len)) {
        if (k != KL_PGJSON_RAW) {
            int type = kl_json_validate(out, n, NULL);
            if (type < 0) abort();
            if (k == KL_PGJSON_NUMBER && (type == KL_JSON_NUMBER) != kl_pgjson_is_number(v, len)) abort();
            if (k == KL_PGJSON_BOOL && type != KL_JSON_TRUE && type != KL_JSON_FALSE) abort();
            if (k != KL_PGJSON_NUMBER && k != KL_PGJSON_BOOL && type != KL_JSON_STRING) abort();
        }
        if (!decodes_to(sout, sn, v, len)) abort();
        if ((k == KL_PGJSON_STRING || k == KL_PGJSON_DATE || k == KL_PGJSON_OTHER) && !decodes_to(out, n, v, len))
            abort();
    }
    free(out);
    free(sout);
    return 0;
}
