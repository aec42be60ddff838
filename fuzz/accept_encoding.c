/* accept_encoding.c - libFuzzer driver for kl_accept_gzip (src/proto/accept_encoding.c):
 * an Accept-Encoding field value a client sent.
 *
 * The input is the field value. Checked with abort(): the answer equals the one of a
 * reference written here from the rule in accept_encoding.h (split into elements, weigh
 * gzip / x-gzip, identity and *, compare) in a different shape: each element is copied,
 * lower-cased and matched whole; and the answer is the same for the value upper-cased
 * (codings and "q=" are case-insensitive), with empty list elements added at either end,
 * and after ", gzip;q=0" is appended only a true can become false. The reference splits
 * elements at commas outside quoted-strings (RFC 9110 5.6.4; a backslash inside quotes
 * escapes the next byte): an element holding a quote is ignored anyway, but a comma inside
 * the quotes does not end it. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/accept_encoding.h"

#define NOT_LISTED (-1)

static bool is_tchar(char c) {
    return c != '\0' && (isalnum((unsigned char)c) ? (unsigned char)c < 0x80 : strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* qvalue in thousandths, or -1: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]. */
static int ref_qvalue(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    if (n == 1) return s[0] == '1' ? 1000 : 0;
    if (s[1] != '.' || n > 5) return -1;
    int frac = 0;
    for (size_t i = 2; i < 5; i++) {
        int digit = 0;
        if (i < n) {
            if (s[i] < '0' || s[i] > '9') return -1;
            digit = s[i] - '0';
        }
        frac = frac * 10 + digit;
    }
    if (s[0] == '1') return frac == 0 ? 1000 : -1;
    return frac;
}

/* One element, NUL-terminated and lower-cased in e; sets *coding (inside e) and *q, or
 * returns false when its syntax is not `coding [OWS ";" OWS "q=" qvalue]` within OWS. */
static bool ref_element(char *e, char **coding, int *q) {
    size_t n = strlen(e);
    while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t')) e[--n] = '\0';
    while (*e == ' ' || *e == '\t') e++;
    char *t = e;
    while (is_tchar(*t)) t++;
    if (t == e) return false;
    char *rest = t;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (*rest == '\0') {
        *t = '\0';
        *coding = e;
        *q = 1000;
        return true;
    }
    if (*rest != ';') return false;
    rest++;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (strncmp(rest, "q=", 2) != 0) return false;
    *q = ref_qvalue(rest + 2);
    *t = '\0';
    *coding = e;
    return *q >= 0;
}

static void lowest(int *slot, int q) {
    if (*slot == NOT_LISTED || q < *slot) *slot = q;
}

static bool reference(const char *v, size_t len) {
    if (len == 0) return false;
    int gzip = NOT_LISTED, identity = NOT_LISTED, star = NOT_LISTED;
    char *e = malloc(len + 1);
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        bool quoted = false;
        while (end < len && (quoted || v[end] != ',')) {
            if (quoted && v[end] == '\\' && end + 1 < len) end++;
            else if (v[end] == '"') quoted = !quoted;
            end++;
        }
        size_t n = end - start;
        bool has_nul = memchr(v + start, '\0', n) != NULL; /* a NUL byte is no tchar, OWS or digit */
        for (size_t i = 0; i < n; i++) e[i] = (char)tolower((unsigned char)v[start + i]);
        e[n] = '\0';
        char *coding;
        int q;
        if (!has_nul && ref_element(e, &coding, &q)) {
            if (strcmp(coding, "gzip") == 0 || strcmp(coding, "x-gzip") == 0) lowest(&gzip, q);
            else if (strcmp(coding, "identity") == 0) lowest(&identity, q);
            else if (strcmp(coding, "*") == 0) lowest(&star, q);
        }
        start = end + 1;
    }
    free(e);
    int star_w = star == NOT_LISTED ? 0 : star;
    int gzip_w = gzip == NOT_LISTED ? star_w : gzip;
    int identity_w = identity == NOT_LISTED ? star_w : identity;
    return gzip_w > 0 && gzip_w >= identity_w;
}

/* kl_accept_gzip over an allocation of exactly len bytes, so ASan sees an over-read. */
static bool accept(const char *v, size_t len) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, v, len);
    bool r = kl_accept_gzip((kl_str_t){copy, len});
    free(copy);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *v = (const char *)data;
    if (kl_accept_gzip((kl_str_t){NULL, 0})) abort();
    bool r = accept(v, size);
    if (r != reference(v, size)) abort();

    char *m = malloc(size + 16);
    for (size_t i = 0; i < size; i++) m[i] = (char)toupper((unsigned char)v[i]);
    if (accept(m, size) != r) abort();

    memcpy(m, " ,", 2), memcpy(m + 2, v, size), memcpy(m + 2 + size, ",\t,", 3);
    if (accept(m, size + 5) != r) abort();

    memcpy(m, v, size), memcpy(m + size, ", gzip;q=0", 10);
    bool r2 = accept(m, size + 10);
    if (r2 && !r) abort();
    free(m);
    return 0;
}
