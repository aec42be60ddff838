/* jwt_verify.c - libFuzzer driver for kl_jwt_verify (src/proto/jwt.c) and what it stands on
 * (base64url, SHA-256/HMAC, the JSON scanner).
 *
 * Byte 0 picks a mode (byte 0 % 3), the rest is the input:
 *   0  the rest is a token, verified as is (what an unauthenticated client can send);
 *   1  the rest is JSON, signed with the driver's secret so verification gets past the MAC
 *      and into the payload parser: before the first NUL byte it is the header JSON and after
 *      it the payload JSON; without a NUL it is the payload under {"alg":"HS256","typ":"JWT"};
 *   2  the rest edits a fixed valid token: byte 1 cuts it (0 = keep the length), then triples
 *      (position high byte, position low byte, value) overwrite bytes. Any token that differs from the original must be
 *      refused: strict base64url plus the MAC leave no second spelling.
 * Checked with abort(): a known result code and reason; on failure count 0; on success a
 * subject of the right type, every name and value NUL-terminated inside the storage, valid
 * UTF-8 in unescaped strings, no duplicate names, and the same answer twice; for mode 1 the
 * exp comparison agrees with strtod a couple of seconds either side of exp. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64url.h"
#include "proto/jwt.h"
#include "proto/sha256.h"
#include "jwt_checks.h"

#define NOW ((int64_t)1700000100)
static const char secret[] = "fuzz-secret-0123456789";
static const char base_payload[] =
    "{\"sub\":\"user-42\",\"name\":\"Zo\\u00eb \\\"Z\\\" \\ud83d\\ude00\",\"admin\":true,\"role\":null,\"n\":12.5,"
    "\"exp\":1700003600,\"nbf\":1700000000,\"scope\":[\"read\",\"write\"],\"org\":{\"id\":7,\"tags\":[]}}";

static kl_jwt_claims_t claims, claims2;
static char tok[KL_JWT_MAX_TOKEN * 2 + 64];

static size_t sign(const uint8_t *h, size_t hl, const uint8_t *p, size_t pl, char *out, size_t cap) {
    if (KL_BASE64URL_ENCODED_LEN(hl) + KL_BASE64URL_ENCODED_LEN(pl) + 46 > cap) return 0;
    size_t n = kl_base64url_encode(h, hl, out, cap);
    out[n++] = '.';
    n += kl_base64url_encode(p, pl, out + n, cap - n);
    uint8_t mac[32];
    kl_hmac_sha256(secret, sizeof secret - 1, out, n, mac);
    out[n++] = '.';
    n += kl_base64url_encode(mac, 32, out + n, cap - n);
    return n;
}

static void check_text(const kl_jwt_claims_t *c, uint16_t off) {
    if (off >= KL_JWT_STORAGE || !memchr(c->_storage + off, 0, KL_JWT_STORAGE - off)) abort();
}

static int verify(const char *t, size_t len, int64_t now, kl_jwt_claims_t *c) {
    char err[32];
    /* exactly len bytes, in their own allocation, so ASan sees any over-read */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, t, len);
    int r = kl_jwt_verify(copy, len, (const uint8_t *)secret, sizeof secret - 1, now, c, err, sizeof err);
    free(copy);
    if (r > 0 || r < KL_JWT_ENOTYET) abort();
    if (r != 0) {
        if (c->count != 0 || strcmp(err, kl_jwt_strerror(r)) != 0 || !err[0]) abort();
        return r;
    }
    if (c->count == 0 || c->count > KL_JWT_MAX_CLAIMS) abort();
    for (uint32_t i = 0; i < c->count; i++) {
        check_text(c, c->_name[i]);
        check_text(c, c->_value[i]);
        if (kl_jwt_claim_index(c, kl_jwt_claim_name(c, i)) != (int)i) abort(); /* no duplicates */
        kl_jwt_type_t ty = kl_jwt_claim_type(c, i);
        if (ty < KL_JWT_STRING || ty > KL_JWT_ARRAY) abort();
        if (!fuzz_utf8_ok((const unsigned char *)kl_jwt_claim_name(c, i))) abort();
        if (ty == KL_JWT_STRING && !fuzz_utf8_ok((const unsigned char *)kl_jwt_claim_value(c, i))) abort();
        if (ty != KL_JWT_STRING && kl_jwt_claim_value(c, i)[0] == 0) abort();
    }
    int s = kl_jwt_claim_index(c, "sub");
    if (s < 0 || !kl_jwt_subject(c)) abort();
    if (c->_type[s] != KL_JWT_STRING && c->_type[s] != KL_JWT_NUMBER) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int mode = data[0] % 3;
    data++, size--;

    if (mode == 0) {
        int r = verify((const char *)data, size, NOW, &claims);
        if (verify((const char *)data, size, NOW, &claims2) != r) abort();
        return 0;
    }

    if (mode == 1) {
        static const uint8_t def_hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        const uint8_t *h = def_hdr, *p = data;
        size_t hl = sizeof def_hdr - 1, pl = size;
        const uint8_t *nul = memchr(data, 0, size);
        if (nul) {
            h = data, hl = (size_t)(nul - data);
            p = nul + 1, pl = size - hl - 1;
        }
        size_t n = sign(h, hl, p, pl, tok, sizeof tok);
        if (!n) return 0;
        int r = verify(tok, n, NOW, &claims);
        if (verify(tok, n, NOW, &claims2) != r) abort();
        if (r == 0 && !fuzz_same_claims(&claims, &claims2)) abort();
        const char *exp = r == 0 ? kl_jwt_claim(&claims, "exp") : NULL;
        if (exp) {
            double d = strtod(exp, NULL); /* an independent, approximate reading */
            if (d < NOW) abort();         /* accepted, so exp > now */
            if (d < 1e15) {
                if (verify(tok, n, (int64_t)d + 2, &claims2) != KL_JWT_EEXPIRED) abort();
                int r2 = verify(tok, n, (int64_t)d - 2, &claims2);
                if (r2 != 0 && r2 != KL_JWT_ENOTYET) abort();
            }
        }
        return 0;
    }

    static char base[512];
    static size_t base_len;
    if (!base_len) {
        static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        base_len = sign((const uint8_t *)hdr, sizeof hdr - 1, (const uint8_t *)base_payload, sizeof base_payload - 1,
                        base, sizeof base);
        if (verify(base, base_len, NOW, &claims) != 0) abort();
    }
    char t[512];
    memcpy(t, base, base_len);
    size_t n = base_len;
    if (size >= 1 && data[0]) n = data[0] % base_len;
    for (size_t i = 1; i + 2 < size; i += 3) t[((size_t)data[i] << 8 | data[i + 1]) % base_len] = (char)data[i + 2];
    int r = verify(t, n, NOW, &claims);
    int same = n == base_len && memcmp(t, base, n) == 0;
    if (same ? r != 0 : r == 0) abort();
    return 0;
}
