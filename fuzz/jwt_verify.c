/* jwt_verify.c - libFuzzer driver for kl_jwt_verify (src/proto/jwt.c) and what it stands on
 * (base64url, key choice and signatures through libcrypto in jws.c, the JSON scanner, the
 * policy), against a key set holding one key of every algorithm (HS256/384/512, RS256,
 * PS256, ES256, ES384, EdDSA; kids "hs256".."ed", and one HS256 secret without a kid).
 *
 * Byte 0 picks a mode (byte 0 % 4), byte 1 an algorithm for modes 1 and 3, the rest is the input:
 *   0  the rest (from byte 1) is a token, verified as is (what an unauthenticated client sends);
 *   1  the rest is JSON the driver signs with the key of the chosen algorithm, so inputs get
 *      past the signature into the payload parser and the policy: before the first NUL byte
 *      it is the header JSON (whatever alg and kid it claims) and after it the payload;
 *      without a NUL it is the payload under {"alg":A,"kid":K} of that key;
 *   2  the rest edits a fixed valid token (HS256, RS256 or EdDSA by byte 1: signatures with
 *      one spelling): byte 2 cuts it (0 = keep the length), then triples (position high,
 *      position low, value) overwrite bytes. Any token that differs must be refused;
 *   3  the rest is header NUL payload, MACed with HMAC-SHA256 keyed by the RSA public key (its
 *      PEM, the classic RS256 -> HS256 confusion, RFC 8725 2.1): must always be refused.
 * Checked with abort(): a known result code and reason; on failure count 0; on success a
 * subject of the right type, every name and value NUL-terminated inside the storage, valid
 * UTF-8 in unescaped strings, no duplicate names, the same answer twice, and (mode 1) the
 * header's alg being exactly the signing key's, with exp compared as strtod would a couple
 * of seconds either side (no leeway). */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_checks.h"
#include "proto/base64url.h"
#include "proto/json_read.h"
#include "proto/jwt.h"

#define NOW ((int64_t)1700000100)
static const char secret[] = "fuzz-secret-0123456789-0123456789-0123456789-0123456789-0123456789";
static const char base_payload[] =
    "{\"sub\":\"user-42\",\"name\":\"Zo\\u00eb \\\"Z\\\" \\ud83d\\ude00\",\"admin\":true,\"role\":null,\"n\":12.5,"
    "\"exp\":1700003600,\"nbf\":1700000000,\"scope\":[\"read\",\"write\"],\"org\":{\"id\":7,\"tags\":[]}}";
static const kl_jwt_policy_t policy = {.require_exp = false, .leeway_s = 0};

/* the signing side of each key */
static const struct {
    kl_jws_alg_t alg;
    const char *kid, *md;
} algs[] = {
    {KL_JWS_HS256, "hs256", "SHA256"}, {KL_JWS_HS384, "hs384", "SHA384"}, {KL_JWS_HS512, "hs512", "SHA512"},
    {KL_JWS_ES256, "es256", "SHA256"}, {KL_JWS_EDDSA, "ed", NULL},        {KL_JWS_ES384, "es384", "SHA384"},
    {KL_JWS_RS256, "rs256", "SHA256"}, {KL_JWS_PS256, "ps256", "SHA256"},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static kl_jws_keys_t *keys;
static EVP_PKEY *rsa, *p256, *p384, *ed;
static char *rsa_pem;
static long rsa_pem_len;
static kl_jwt_claims_t claims, claims2;
static char tok[KL_JWT_MAX_TOKEN * 2 + 64];

static EVP_PKEY *pkey_of(kl_jws_alg_t a) {
    return a == KL_JWS_ES256 ? p256 : a == KL_JWS_ES384 ? p384 : a == KL_JWS_EDDSA ? ed : rsa;
}

static void init(void) {
    char err[128];
    keys = kl_jws_keys_new();
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!rsa || !p256 || !p384 || !ed) abort();
    for (size_t i = 0; i < NALGS; i++) {
        int r = kl_jws_alg_is_hmac(algs[i].alg)
                    ? kl_jws_keys_add_hmac(keys, algs[i].alg, (const uint8_t *)secret, 64, algs[i].kid,
                                           strlen(algs[i].kid), err, sizeof err)
                    : kl_jws_keys_add_pkey(keys, algs[i].alg, pkey_of(algs[i].alg), algs[i].kid, strlen(algs[i].kid),
                                           err, sizeof err);
        if (r) abort();
    }
    if (kl_jws_keys_add_hmac(keys, KL_JWS_HS256, (const uint8_t *)secret, 32, NULL, 0, err, sizeof err)) abort();
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, rsa);
    char *p;
    rsa_pem_len = BIO_get_mem_data(b, &p);
    rsa_pem = malloc((size_t)rsa_pem_len);
    memcpy(rsa_pem, p, (size_t)rsa_pem_len);
    BIO_free(b);
}

/* Appends "." and the signature of out[0..n) by algs[a]'s key; returns the new length or 0. */
static size_t sign_into(size_t a, char *out, size_t n, size_t cap) {
    uint8_t sig[1024], der[1024];
    size_t sl = sizeof der;
    if (kl_jws_alg_is_hmac(algs[a].alg)) {
        unsigned ml = 0;
        HMAC(EVP_get_digestbyname(algs[a].md), secret, 64, (const uint8_t *)out, n, sig, &ml);
        sl = ml;
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        if (EVP_DigestSignInit_ex(m, &pc, algs[a].md, NULL, NULL, pkey_of(algs[a].alg), NULL) != 1) abort();
        if (algs[a].alg == KL_JWS_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) <= 0 ||
                                            EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) <= 0))
            abort();
        if (EVP_DigestSign(m, der, &sl, (const uint8_t *)out, n) != 1) abort();
        EVP_MD_CTX_free(m);
        if (algs[a].alg == KL_JWS_ES256 || algs[a].alg == KL_JWS_ES384) {
            int half = algs[a].alg == KL_JWS_ES256 ? 32 : 48;
            const uint8_t *p = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half);
            ECDSA_SIG_free(es);
            sl = (size_t)(2 * half);
        } else {
            memcpy(sig, der, sl);
        }
    }
    if (n + 1 + KL_BASE64URL_ENCODED_LEN(sl) + 1 > cap) return 0;
    out[n++] = '.';
    return n + kl_base64url_encode(sig, sl, out + n, cap - n);
}

/* header.payload (raw bytes) into out; 0 when it does not fit */
static size_t join(const uint8_t *h, size_t hl, const uint8_t *p, size_t pl, char *out, size_t cap) {
    if (KL_BASE64URL_ENCODED_LEN(hl) + KL_BASE64URL_ENCODED_LEN(pl) + 2 > cap) return 0;
    size_t n = kl_base64url_encode(h, hl, out, cap);
    out[n++] = '.';
    return n + kl_base64url_encode(p, pl, out + n, cap - n);
}

static void check_text(const kl_jwt_claims_t *c, uint16_t off) {
    if (off >= KL_JWT_STORAGE || !memchr(c->_storage + off, 0, KL_JWT_STORAGE - off)) abort();
}

static int verify(const char *t, size_t len, int64_t now, kl_jwt_claims_t *c) {
    char err[48];
    /* exactly len bytes, in their own allocation, so ASan sees any over-read */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, t, len);
    int r = kl_jwt_verify(copy, len, keys, &policy, now, c, err, sizeof err);
    free(copy);
    if (r > 0 || r < KL_JWT_ELAST) abort();
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

/* The header's "alg", read by the other strict JSON reader (json_read.h, not jwt.c's):
 * KL_JWS_NONE when it has none that reader accepts. */
static kl_jws_alg_t header_alg(const uint8_t *h, size_t hl) {
    kl_json_member_t m;
    char name[32];
    if (kl_json_validate((const char *)h, hl, NULL) != KL_JSON_OBJECT ||
        !kl_json_find((const char *)h, hl, "alg", 3, &m) || m.type != KL_JSON_STRING)
        return KL_JWS_NONE;
    ssize_t n = kl_json_string(m.value.base, m.value.len, name, sizeof name, false);
    return n < 0 ? KL_JWS_NONE : kl_jws_alg_parse(name, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!keys) init();
    if (size < 2) return 0;
    int mode = data[0] % 4;
    size_t a = data[1] % NALGS;
    if (mode == 0) {
        int r = verify((const char *)data + 1, size - 1, NOW, &claims);
        if (verify((const char *)data + 1, size - 1, NOW, &claims2) != r) abort();
        return 0;
    }
    data += 2, size -= 2;

    if (mode == 1) {
        char def_hdr[96];
        int dhl = snprintf(def_hdr, sizeof def_hdr, "{\"alg\":\"%s\",\"kid\":\"%s\"}", kl_jws_alg_name(algs[a].alg),
                           algs[a].kid);
        const uint8_t *h = (const uint8_t *)def_hdr, *p = data;
        size_t hl = (size_t)dhl, pl = size;
        const uint8_t *nul = memchr(data, 0, size);
        if (nul) {
            h = data, hl = (size_t)(nul - data);
            p = nul + 1, pl = size - hl - 1;
        }
        size_t n = join(h, hl, p, pl, tok, sizeof tok);
        if (!n || !(n = sign_into(a, tok, n, sizeof tok))) return 0;
        int r = verify(tok, n, NOW, &claims);
        if (r == 0) {
            /* the algorithm is the key's, never the header's choice: accepted means the header
             * named exactly the algorithm this key is pinned to */
            if (header_alg(h, hl) != algs[a].alg) abort();
        }
        if (verify(tok, n, NOW, &claims2) != r) abort();
        if (r == 0 && !fuzz_same_claims(&claims, &claims2)) abort();
        const char *exp = r == 0 ? kl_jwt_claim(&claims, "exp") : NULL;
        if (exp) {
            double d = strtod(exp, NULL); /* an independent, approximate reading */
            if (d < NOW) abort();         /* accepted, so exp > now */
            if (d < 1e15) {
                int r1 = verify(tok, n, (int64_t)d + 2, &claims2);
                if (r1 != KL_JWT_EEXPIRED) abort();
            }
        }
        return 0;
    }

    if (mode == 2) {
        static char base[3][1024];
        static size_t base_len[3];
        static const size_t which[3] = {0, 6, 4}; /* HS256, RS256, EdDSA: one spelling each */
        size_t w = a % 3;
        if (!base_len[w]) {
            size_t k = which[w];
            char hdr[96];
            int hl = snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
                              kl_jws_alg_name(algs[k].alg), algs[k].kid);
            size_t n = join((const uint8_t *)hdr, (size_t)hl, (const uint8_t *)base_payload, sizeof base_payload - 1,
                            base[w], sizeof base[w]);
            base_len[w] = sign_into(k, base[w], n, sizeof base[w]);
            if (!base_len[w] || verify(base[w], base_len[w], NOW, &claims) != 0) abort();
        }
        char t[1024];
        memcpy(t, base[w], base_len[w]);
        size_t n = base_len[w];
        if (size >= 1 && data[0]) n = data[0] % base_len[w];
        for (size_t i = 1; i + 2 < size; i += 3) t[((size_t)data[i] << 8 | data[i + 1]) % base_len[w]] = (char)data[i + 2];
        int r = verify(t, n, NOW, &claims);
        int same = n == base_len[w] && memcmp(t, base[w], n) == 0;
        if (same ? r != 0 : r == 0) abort();
        return 0;
    }

    /* mode 3: HMAC keyed by the RSA public key's PEM */
    const uint8_t *nul = memchr(data, 0, size);
    const uint8_t *h = data, *p = (const uint8_t *)"{\"sub\":\"admin\"}";
    size_t hl = size, pl = 15;
    if (nul) hl = (size_t)(nul - data), p = nul + 1, pl = size - hl - 1;
    size_t n = join(h, hl, p, pl, tok, sizeof tok);
    if (!n || n + 48 > sizeof tok) return 0;
    uint8_t mac[64];
    unsigned ml = 0;
    HMAC(EVP_sha256(), rsa_pem, (int)rsa_pem_len, (const uint8_t *)tok, n, mac, &ml);
    tok[n++] = '.';
    n += kl_base64url_encode(mac, ml, tok + n, sizeof tok - n);
    if (verify(tok, n, NOW, &claims) == 0) abort();
    return 0;
}
