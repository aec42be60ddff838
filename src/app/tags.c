#include "app/tags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const char *lookup(const kl_tags_src_t *src, const char *name, size_t len) {
    const kl_route_def_t *d = src->def;
    const char *const *values = src->values;
    if (len > 5 && !memcmp(name, "auth.", 5)) {
        char claim[128];
        if (!src->claims || len - 5 >= sizeof(claim)) return "";
        memcpy(claim, name + 5, len - 5);
        claim[len - 5] = '\0';
        int i = kl_jwt_claim_index(src->claims, claim); /* a null claim expands to nothing, as absent */
        return i < 0 || kl_jwt_claim_type(src->claims, (size_t)i) == KL_JWT_NULL ? ""
                                                                                  : kl_jwt_claim_value(src->claims, (size_t)i);
    }
    if (len > 5 && !memcmp(name, "body.", 5)) {
        for (size_t k = 0; src->fields && k < d->n_fields; k++)
            if (strlen(d->fields[k].name) == len - 5 && !memcmp(d->fields[k].name, name + 5, len - 5))
                return src->fields[k] ? src->fields[k] : "";
        return "";
    }
    for (size_t i = 0; i < d->n_params; i++) {
        const kl_route_param_t *p = &d->params[i];
        if ((p->source == KL_ROUTE_FROM_PATH || p->source == KL_ROUTE_FROM_QUERY) && strlen(p->name) == len &&
            memcmp(p->name, name, len) == 0)
            return values[i] ? values[i] : "";
    }
    return "";
}

/* Bytes of a value that are percent-encoded: '*' (a tag "*" would evict everything), the
 * separator (it would split one tag into several), '#' (the digest form's mark), '%' (so
 * that the encoding is unambiguous) and control bytes. */
static bool escaped(unsigned char c) {
    return c == '%' || c == '*' || c == '#' || c == KL_TAGS_SEP || c < 0x20 || c == 0x7f;
}

/* Where an expansion goes: bytes at out (when not NULL), into sha (when not NULL); n counts. */
typedef struct {
    char *out;
    EVP_MD_CTX *sha;
    size_t n;
} sink_t;

static void emit(sink_t *k, const char *b, size_t len) {
    if (k->out) memcpy(k->out + k->n, b, len);
    if (k->sha) EVP_DigestUpdate(k->sha, b, len);
    k->n += len;
}

static const char hex_upper[] = "0123456789ABCDEF";

static void expand(sink_t *k, const kl_tags_src_t *src, const char *tpl) {
    for (const char *p = tpl; *p;) {
        const char *close;
        if (*p == '{' && (close = strchr(p, '}')) != NULL) {
            const char *v = lookup(src, p + 1, (size_t)(close - p - 1));
            while (*v) {
                size_t run = 0;
                while (v[run] && !escaped((unsigned char)v[run])) run++;
                if (run) emit(k, v, run);
                v += run;
                if (*v) {
                    unsigned char c = (unsigned char)*v++;
                    char e[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
                    emit(k, e, 3);
                }
            }
            p = close + 1;
            continue;
        }
        if (*p != KL_TAGS_SEP) emit(k, p, 1); /* routefile.c lets no separator through; belt and braces */
        p++;
    }
}

char *kl_tags_expand(kl_arena_t *a, const kl_tags_src_t *src, const char *tpl) {
    sink_t k = {0};
    expand(&k, src, tpl);
    if (k.n <= KL_TAGS_MAX) {
        char *s = kl_arena_alloc(a, k.n + 1);
        k = (sink_t){.out = s};
        expand(&k, src, tpl);
        s[k.n] = '\0';
        return s;
    }
    /* Too long to carry: SHA-256, hashed as it streams out, never held whole. */
    uint8_t dg[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) { /* out of memory: as kl_malloc does */
        fprintf(stderr, "keel: libcrypto cannot start a SHA-256 digest (out of memory)\n");
        abort();
    }
    k = (sink_t){.sha = sha};
    expand(&k, src, tpl);
    EVP_DigestFinal_ex(sha, dg, &dlen);
    EVP_MD_CTX_free(sha);
    static const char hex[] = "0123456789abcdef";
    char *s = kl_arena_alloc(a, KL_TAGS_DIGEST_LEN + 1);
    s[0] = '#';
    for (int i = 0; i < (KL_TAGS_DIGEST_LEN - 1) / 2; i++) {
        s[1 + 2 * i] = hex[dg[i] >> 4];
        s[2 + 2 * i] = hex[dg[i] & 15];
    }
    s[KL_TAGS_DIGEST_LEN] = '\0';
    return s;
}

char *kl_tags_join(kl_arena_t *a, const kl_tags_src_t *src, const char *const *list, size_t n) {
    char **tags = kl_arena_alloc(a, sizeof(char *) * (n ? n : 1));
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        tags[i] = kl_tags_expand(a, src, list[i]);
        total += strlen(tags[i]) + 1;
    }
    char *s = kl_arena_alloc(a, total);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) s[o++] = KL_TAGS_SEP;
        size_t l = strlen(tags[i]);
        memcpy(s + o, tags[i], l);
        o += l;
    }
    s[o] = '\0';
    return s;
}

bool kl_tags_next(const char **cursor, kl_str_t *tag) {
    const char *t = *cursor;
    while (*t == KL_TAGS_SEP) t++;
    if (!*t) {
        *cursor = t;
        return false;
    }
    const char *e = strchr(t, KL_TAGS_SEP);
    size_t n = e ? (size_t)(e - t) : strlen(t);
    *tag = (kl_str_t){t, n};
    *cursor = t + n;
    return true;
}
