/* test_jwks.c - JWK Sets into keys: the published example keys of RFC 7515 (A.2 RSA, A.3
 * P-256) and RFC 8037 (A.2 Ed25519) verify the RFCs' own example signatures once parsed;
 * pinning by "alg" or by kind; what is skipped (use, key_ops) and what is refused
 * (malformed, unsupported, short, off-curve, duplicate members) without losing the other
 * keys; documents that are not JWK Sets; Cache-Control max-age. */
#include <errno.h>
#include <openssl/evp.h>

#include "proto/base64url.h"
#include "proto/jwks.h"
#include "proto/jwt.h"
#include "kt.h"

/* RFC 7515 A.2.1 (RS256) and A.3.1 (ES256): the key's public members and the example JWS */
#define RFC7515_N                                                                                              \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"  \
    "pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapH" \
    "g665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4F" \
    "RWyuXpoQ"
#define RFC7515_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define RFC7515_RS256_SIG                                                                                      \
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1" \
    "dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jz" \
    "DwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQG" \
    "e77Rw"
#define RFC7515_EC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC7515_EC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define RFC7515_ES256_SIG "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
/* RFC 8037 A.2 (the Ed25519 public key) and A.4 (its example JWS over "Example of Ed25519 signing") */
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC8037_SIG "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static const char RFC_SET[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"2011-04-29\",\"n\":\"" RFC7515_N "\",\"e\":\"AQAB\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e9bc097a\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"},"
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"use\":\"sig\",\"alg\":\"EdDSA\"}"
    "]}";

static char ERR[256];
static kl_jwks_report_t REP;

static int parse(const char *doc, kl_jws_keys_t **ks) {
    *ks = kl_jws_keys_new();
    char *g = kt_guard_copy(doc, strlen(doc));
    int r = kl_jwks_parse(g, strlen(doc), *ks, &REP, ERR, sizeof ERR);
    kt_guard_free(g, strlen(doc));
    return r;
}

static int verify_b64(const kl_jws_key_t *k, const char *input, const char *sig_b64) {
    uint8_t sig[512];
    ssize_t n = kl_base64url_decode(sig_b64, strlen(sig_b64), sig, sizeof sig);
    KT_CHECK(n > 0);
    return kl_jws_verify(k, input, strlen(input), sig, (size_t)n);
}

static void rfc_examples_verify(void) {
    kl_jws_keys_t *ks;
    KT_EQ(parse(RFC_SET, &ks), 0);
    KT_EQ(REP.elements, 3);
    KT_EQ(REP.added, 3);
    KT_EQ(REP.refused, 0);
    KT_EQ(ks->n, 3);
    /* pinned by kind without "alg", by "alg" with one */
    KT_EQ(ks->key[0].alg, KL_JWS_RS256);
    KT_EQ(ks->key[1].alg, KL_JWS_ES256);
    KT_EQ(ks->key[2].alg, KL_JWS_EDDSA);
    KT_STREQ(ks->key[0].kid, ks->key[0].kid_len, "2011-04-29");
    KT_CHECK(!ks->key[2].has_kid);
    KT_EQ(verify_b64(&ks->key[0], "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD, RFC7515_RS256_SIG), 0);
    KT_EQ(verify_b64(&ks->key[1], "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD, RFC7515_ES256_SIG), 0);
    KT_EQ(verify_b64(&ks->key[2], RFC8037_INPUT, RFC8037_SIG), 0);
    /* each signature only under its own key and input */
    KT_EQ(verify_b64(&ks->key[0], "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD "x", RFC7515_RS256_SIG), -1);
    KT_EQ(verify_b64(&ks->key[1], "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD, RFC7515_ES256_SIG), -1);
    KT_EQ(verify_b64(&ks->key[2], RFC8037_INPUT ".", RFC8037_SIG), -1);
    /* through kl_jwt_verify: the signature passes, and then the payload is looked at (the
     * RFC payloads have no "sub", RFC 8037's is not JSON): malformed, not a bad signature */
    kl_jwt_policy_t pol = {0};
    kl_jwt_claims_t *c = malloc(sizeof *c);
    const char *es = "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD "." RFC7515_ES256_SIG;
    KT_EQ(kl_jwt_verify(es, strlen(es), ks, &pol, 0, c, NULL, 0), KL_JWT_EMALFORMED);
    const char *ed = RFC8037_INPUT "." RFC8037_SIG;
    KT_EQ(kl_jwt_verify(ed, strlen(ed), ks, &pol, 0, c, NULL, 0), KL_JWT_EMALFORMED);
    char bad[512];
    snprintf(bad, sizeof bad, "%s", ed);
    bad[strlen(bad) - 3] ^= 1;
    KT_EQ(kl_jwt_verify(bad, strlen(bad), ks, &pol, 0, c, NULL, 0), KL_JWT_ESIGNATURE);
    free(c);
    kl_jws_keys_free(ks);
}

/* A set of one key object (the text between the braces). */
static int one(const char *members) {
    char doc[4096];
    snprintf(doc, sizeof doc, "{\"keys\":[{%s}]}", members);
    kl_jws_keys_t *ks;
    int r = parse(doc, &ks);
    int added = r == 0 ? (int)REP.added : -9;
    kl_jws_keys_free(ks);
    return added;
}

#define EC "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\""
#define OKP "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\""
#define RSA "\"kty\":\"RSA\",\"n\":\"" RFC7515_N "\",\"e\":\"AQAB\""
#define OCT32 "\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\""

static void pinning_and_skipping(void) {
    kl_jws_keys_t *ks;
    KT_EQ(parse("{\"keys\":[{" RSA ",\"alg\":\"PS256\"},{" RSA ",\"alg\":\"RS512\"},{" OCT32 "}]}", &ks), 0);
    KT_EQ(ks->n, 3);
    KT_EQ(ks->key[0].alg, KL_JWS_PS256);
    KT_EQ(ks->key[1].alg, KL_JWS_RS512);
    KT_EQ(ks->key[2].alg, KL_JWS_HS256);
    kl_jws_keys_free(ks);
    /* encryption keys are skipped, not refused */
    KT_EQ(one(RSA ",\"use\":\"enc\""), 0);
    KT_EQ(REP.skipped, 1);
    KT_EQ(REP.refused, 0);
    KT_EQ(one(RSA ",\"use\":\"sig\""), 1);
    KT_EQ(one(RSA ",\"key_ops\":[\"encrypt\"]"), 0);
    KT_EQ(REP.skipped, 1);
    KT_EQ(one(RSA ",\"key_ops\":[\"sign\",\"verify\"]"), 1);
    KT_EQ(one(RSA ",\"key_ops\":\"verify\""), 0);
    KT_EQ(REP.refused, 1);
    /* an alg must fit the kind of key */
    KT_EQ(one(RSA ",\"alg\":\"ES256\""), 0);
    KT_EQ(one(EC ",\"alg\":\"ES384\""), 0);
    KT_EQ(one(EC ",\"alg\":\"RS256\""), 0);
    KT_EQ(one(OKP ",\"alg\":\"ES256\""), 0);
    KT_EQ(one(OCT32 ",\"alg\":\"RS256\""), 0);
    KT_EQ(one(OCT32 ",\"alg\":\"HS384\""), 0); /* 32 bytes: too short for HS384 */
    KT_EQ(one(RSA ",\"alg\":\"none\""), 0);
    KT_EQ(one(RSA ",\"alg\":\"RSA-OAEP\""), 0);
    KT_EQ(one(RSA ",\"alg\":\"PS384\""), 0);
    KT_CHECK(strstr(REP.why, "unsupported alg") != NULL);
}

static void refusals(void) {
    static const char *bad[] = {
        "\"kty\":\"RSA\",\"e\":\"AQAB\"",                            /* no n */
        "\"kty\":\"RSA\",\"n\":\"" RFC7515_N "\"",                   /* no e */
        "\"kty\":\"RSA\",\"n\":\"" RFC7515_N "\",\"e\":\"AQAA\"",    /* even exponent */
        "\"kty\":\"RSA\",\"n\":\"" RFC7515_N "\",\"e\":\"AQ\"",      /* e = 1 */
        "\"kty\":\"RSA\",\"n\":\"" RFC7515_N "=\",\"e\":\"AQAB\"",   /* padded base64 */
        "\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"",             /* a tiny modulus */
        "\"kty\":\"RSA\",\"n\":12,\"e\":\"AQAB\"",
        "\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"",
        "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\"",  /* no y */
        "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_X "\"", /* off the curve */
        "\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"", /* 32-byte coordinates */
        "\"kty\":\"EC\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"",  /* no crv */
        "\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" RFC8037_X "\"",
        "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\"",
        "\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" RFC8037_X "\"",
        "\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg\"", /* 31 bytes */
        "\"kty\":\"oct\"",
        "\"kty\":\"rsa\",\"n\":\"" RFC7515_N "\",\"e\":\"AQAB\"",     /* names are case-sensitive */
        "\"n\":\"" RFC7515_N "\",\"e\":\"AQAB\"",                    /* no kty */
        "\"kty\":7",
        RSA ",\"kid\":5",
        RSA ",\"kty\":\"RSA\"",                                      /* a member twice */
        EC ",\"x\":\"" RFC7515_EC_X "\"",
        RSA ",\"use\":3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int added = one(bad[i]);
        if (added != 0 || REP.refused != 1) fprintf(stderr, "  not refused #%zu: %s (%s)\n", i, bad[i], REP.why);
        KT_EQ(added, 0);
        KT_EQ(REP.refused, 1);
        KT_CHECK(REP.why[0] != '\0');
    }
    /* a refused key costs only itself; the reason names it */
    kl_jws_keys_t *ks;
    KT_EQ(parse("{\"keys\":[{" RSA ",\"kid\":\"old\",\"n\":\"x\"},7,{" EC ",\"kid\":\"good\"}]}", &ks), 0);
    KT_EQ(REP.elements, 3);
    KT_EQ(REP.refused, 2);
    KT_EQ(REP.added, 1);
    KT_CHECK(strstr(REP.why, "key 0 (kid \"old\")") == REP.why);
    KT_STREQ(ks->key[0].kid, ks->key[0].kid_len, "good");
    kl_jws_keys_free(ks);
    /* a long kid */
    char doc[1024], kid[300];
    memset(kid, 'k', 256);
    kid[256] = '\0';
    snprintf(doc, sizeof doc, "{\"keys\":[{" EC ",\"kid\":\"%s\"}]}", kid);
    KT_EQ(parse(doc, &ks), 0);
    KT_EQ(REP.refused, 1);
    kl_jws_keys_free(ks);
}

static void not_a_set(void) {
    static const char *bad[] = {
        "", "[]", "{}", "{\"keys\":{}}", "{\"keys\":\"x\"}", "{\"keys\":[],}", "{\"keys\":[]} x",
        "{\"keys\":[],\"keys\":[]}", /* a top-level member twice */
        "\xef\xbb\xbf{\"keys\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kl_jws_keys_t *ks;
        KT_EQ(parse(bad[i], &ks), -EINVAL);
        KT_CHECK(ERR[0] != '\0');
        kl_jws_keys_free(ks);
    }
    kl_jws_keys_t *ks;
    KT_EQ(parse("{\"keys\":[]}", &ks), 0);
    KT_EQ(REP.added, 0);
    kl_jws_keys_free(ks);
    /* other members of the set and of each key are ignored */
    KT_EQ(parse("{\"x\":1,\"keys\":[{" EC ",\"x5c\":[\"MIIB\"],\"d\":\"secret\",\"ext\":true}]}", &ks), 0);
    KT_EQ(REP.added, 1);
    kl_jws_keys_free(ks);
    /* too large */
    size_t big = KL_JWKS_MAX_BYTES + 1;
    char *doc = malloc(big + 1);
    memset(doc, ' ', big);
    memcpy(doc, "{\"keys\":[]}", 11);
    doc[big] = '\0';
    ks = kl_jws_keys_new();
    KT_EQ(kl_jwks_parse(doc, big, ks, &REP, ERR, sizeof ERR), -EINVAL);
    kl_jws_keys_free(ks);
    free(doc);
    /* at most KL_JWKS_MAX_KEYS keys */
    size_t cap = 200 * 120, n = 0;
    doc = malloc(cap);
    n += (size_t)snprintf(doc + n, cap - n, "{\"keys\":[");
    for (int i = 0; i < KL_JWKS_MAX_KEYS + 3; i++) n += (size_t)snprintf(doc + n, cap - n, "%s{" OKP ",\"kid\":\"%d\"}", i ? "," : "", i);
    snprintf(doc + n, cap - n, "]}");
    KT_EQ(parse(doc, &ks), 0);
    KT_EQ(REP.added, KL_JWKS_MAX_KEYS);
    KT_EQ(REP.refused, 3);
    kl_jws_keys_free(ks);
    free(doc);
}

static int age(const char *v, int64_t *s) { return kl_jwks_max_age(v, strlen(v), s); }

static void cache_control_max_age(void) {
    int64_t s = -1;
    KT_EQ(age("max-age=3600", &s), 1);
    KT_EQ(s, 3600);
    KT_EQ(age(" public, max-age=15, stale-while-revalidate=15\r\n", &s), 1);
    KT_EQ(s, 15);
    KT_EQ(age("Max-Age=\"120\"", &s), 1);
    KT_EQ(s, 120);
    KT_EQ(age("s-maxage=10, max-age=20", &s), 1);
    KT_EQ(s, 20);
    KT_EQ(age("max-age=99999999999999", &s), 1);
    KT_EQ(s, INT32_MAX);
    KT_EQ(age("max-age=1, max-age=2", &s), 1); /* the first */
    KT_EQ(s, 1);
    KT_EQ(age("public", &s), -1);
    KT_EQ(age("", &s), -1);
    KT_EQ(age("max-age", &s), -1);
    KT_EQ(age("max-age=", &s), -1);
    KT_EQ(age("max-age=-5", &s), -1);
    KT_EQ(age("max-age=1x", &s), -1);
    KT_EQ(age("xmax-age=5", &s), -1);
    KT_EQ(age("no-store", &s), 0);
    KT_EQ(s, 0);
    KT_EQ(age("max-age=600, no-cache", &s), 0);
    KT_EQ(age("NO-CACHE=\"set-cookie\"", &s), 0);
}

int main(void) {
    KT_RUN(rfc_examples_verify);
    KT_RUN(pinning_and_skipping);
    KT_RUN(refusals);
    KT_RUN(not_a_set);
    KT_RUN(cache_control_max_age);
    return KT_DONE();
}
