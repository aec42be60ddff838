/* test_jwt.c - kl_jwt_verify: tokens produced independently by Python's hmac/hashlib/base64
 * (pasted below with their secrets, claims and a fixed `now`), every rejection, strict JSON,
 * the size limits, and every single-byte corruption and truncation of a valid token; the
 * policy (leeway, iat, iss, aud, required exp) and the helpers around verification. The
 * tests' own tokens are signed with libcrypto's one-shot HMAC(), not keel's code. Every
 * token is placed with kt_guard_copy so that an over-read faults. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/base64url.h"
#include "proto/jwt.h"
#include "kt.h"

/* Generated with Python 3.11 at test-writing time:
 *   def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
 *   h = b64(json.dumps(header, separators=(',',':')).encode()); p = likewise for payload
 *   token = h + '.' + p + '.' + b64(hmac.new(secret, (h+'.'+p).encode(), hashlib.sha256).digest())
 * PY1: header {"alg":"HS256","typ":"JWT"}, secret b'keel-test-secret-0123456789abcdef', payload
 *   {"sub":"user-42","name":"Zo\u00eb \"Z\" \u00dcnal \ud83d\ude00","admin":true,"role":null,"n":12.5,
 *    "exp":1700003600,"nbf":1700000000,"iat":1700000000,"scope":["read","write"],"org":{"id":7,"tags":[]}}
 * PY2: header {"alg":"HS256"}, secret b'another secret, 32 bytes or more!', payload
 *   {"sub":1234567,"exp":1700000100.5} */
static const char PY1[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwibmFtZSI6IlpvXHUwMGViIFwiWlwiIFx1MDBkY25hbCBcdWQ4M2RcdWRlMDAiLCJhZG1pbiI6dHJ1ZSwicm9s"
    "ZSI6bnVsbCwibiI6MTIuNSwiZXhwIjoxNzAwMDAzNjAwLCJuYmYiOjE3MDAwMDAwMDAsImlhdCI6MTcwMDAwMDAwMCwic2NvcGUiOlsicmVh"
    "ZCIsIndyaXRlIl0sIm9yZyI6eyJpZCI6NywidGFncyI6W119fQ."
    "Zlwjlc0Z3LGpEbSzdBpWDbpkw9s-3Dsy9CMLYE2bHXM";
static const char PY1_SECRET[] = "keel-test-secret-0123456789abcdef";
static const char PY1_PAYLOAD[] =
    "{\"sub\":\"user-42\",\"name\":\"Zo\\u00eb \\\"Z\\\" \\u00dcnal \\ud83d\\ude00\",\"admin\":true,\"role\":null,"
    "\"n\":12.5,\"exp\":1700003600,\"nbf\":1700000000,\"iat\":1700000000,\"scope\":[\"read\",\"write\"],"
    "\"org\":{\"id\":7,\"tags\":[]}}";
static const char PY2[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjEyMzQ1NjcsImV4cCI6MTcwMDAwMDEwMC41fQ."
                          "lVLggC7NN_kCQtGq-DqGebRt_apy62Z-wPbxzU_k9rA";
static const char PY2_SECRET[] = "another secret, 32 bytes or more!";
#define NOW ((int64_t)1700000100)

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define SECRET "s3cr3t-for-unit-tests-0123456789"

static kl_jwt_claims_t C;
static char ERR[64];
/* exact times, exp optional: what the tests of the token format need */
static const kl_jwt_policy_t LAX = {.require_exp = false, .leeway_s = 0};
static const kl_jwt_policy_t *POLICY = &LAX;

/* A key set holding one HS256 key without a kid for secret (the last few are kept). */
static kl_jws_keys_t *keys_for(const char *secret) {
    static struct {
        char secret[64];
        kl_jws_keys_t *ks;
    } memo[4];
    for (int i = 0; i < 4; i++)
        if (memo[i].ks && !strcmp(memo[i].secret, secret)) return memo[i].ks;
    static int next;
    int i = next++ % 4;
    kl_jws_keys_free(memo[i].ks);
    memo[i].ks = kl_jws_keys_new();
    snprintf(memo[i].secret, sizeof memo[i].secret, "%s", secret);
    char err[128];
    KT_EQ(kl_jws_keys_add_hmac(memo[i].ks, KL_JWS_HS256, (const uint8_t *)secret, strlen(secret), NULL, 0, err,
                               sizeof err), 0);
    return memo[i].ks;
}

/* Verifies a guarded copy of tok[0..len); checks that a failure leaves count 0 and the
 * reason for its code in ERR. */
static int vt(const char *tok, size_t len, const char *secret, int64_t now) {
    char *g = kt_guard_copy(tok, len);
    memset(ERR, 'x', sizeof ERR);
    int r = kl_jwt_verify(g, len, keys_for(secret), POLICY, now, &C, ERR, sizeof ERR);
    kt_guard_free(g, len);
    if (r != 0) {
        KT_EQ(C.count, 0);
        KT_CHECK(strcmp(ERR, kl_jwt_strerror(r)) == 0);
        KT_CHECK(r >= KL_JWT_ELAST && r <= KL_JWT_EMALFORMED);
        KT_CHECK(kl_jwt_claim(&C, "sub") == NULL);
    } else {
        KT_CHECK(kl_jwt_subject(&C) != NULL);
    }
    return r;
}

static int vts(const char *tok, const char *secret, int64_t now) { return vt(tok, strlen(tok), secret, now); }

static char TOK[KL_JWT_MAX_TOKEN * 2];

/* Signs header.payload (raw bytes) with secret into TOK; returns the token length. */
static size_t make_raw(const char *h, size_t hl, const char *p, size_t pl, const char *secret) {
    size_t n = kl_base64url_encode((const uint8_t *)h, hl, TOK, sizeof TOK);
    TOK[n++] = '.';
    n += kl_base64url_encode((const uint8_t *)p, pl, TOK + n, sizeof TOK - n);
    uint8_t mac[32];
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)TOK, n, mac, NULL);
    TOK[n++] = '.';
    n += kl_base64url_encode(mac, 32, TOK + n, sizeof TOK - n);
    return n;
}

static size_t make(const char *h, const char *p) { return make_raw(h, strlen(h), p, strlen(p), SECRET); }

/* verify(HDR . payload) at NOW */
static int pay(const char *p) { return vt(TOK, make(HDR, p), SECRET, NOW); }
static int payn(const char *p, size_t n) { return vt(TOK, make_raw(HDR, strlen(HDR), p, n, SECRET), SECRET, NOW); }
/* verify(header . {"sub":"u"}) at NOW */
static int hdr(const char *h) { return vt(TOK, make(h, "{\"sub\":\"u\"}"), SECRET, NOW); }

static void python_token_accepted(void) {
    KT_EQ(vts(PY1, PY1_SECRET, NOW), 0);
    KT_EQ(C.count, 10);
    static const char *names[] = {"sub", "name", "admin", "role", "n", "exp", "nbf", "iat", "scope", "org"};
    for (size_t i = 0; i < 10 && i < C.count; i++) {
        KT_CHECK(strcmp(kl_jwt_claim_name(&C, i), names[i]) == 0);
        KT_EQ(kl_jwt_claim_index(&C, names[i]), (int)i);
    }
    const char *v;
    KT_CHECK((v = kl_jwt_subject(&C)) && strcmp(v, "user-42") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "name")) && strcmp(v, "Zo\xc3\xab \"Z\" \xc3\x9cnal \xf0\x9f\x98\x80") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "admin")) && strcmp(v, "true") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "role")) && strcmp(v, "null") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "n")) && strcmp(v, "12.5") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "exp")) && strcmp(v, "1700003600") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "scope")) && strcmp(v, "[\"read\",\"write\"]") == 0);
    KT_CHECK((v = kl_jwt_claim(&C, "org")) && strcmp(v, "{\"id\":7,\"tags\":[]}") == 0);
    KT_EQ(kl_jwt_claim_type(&C, 0), KL_JWT_STRING);
    KT_EQ(kl_jwt_claim_type(&C, 1), KL_JWT_STRING);
    KT_EQ(kl_jwt_claim_type(&C, 2), KL_JWT_TRUE);
    KT_EQ(kl_jwt_claim_type(&C, 3), KL_JWT_NULL);
    KT_EQ(kl_jwt_claim_type(&C, 4), KL_JWT_NUMBER);
    KT_EQ(kl_jwt_claim_type(&C, 8), KL_JWT_ARRAY);
    KT_EQ(kl_jwt_claim_type(&C, 9), KL_JWT_OBJECT);
    KT_CHECK(kl_jwt_claim(&C, "missing") == NULL);
    KT_CHECK(kl_jwt_claim(&C, "SUB") == NULL);
    KT_EQ(kl_jwt_claim_index(&C, "id"), -1); /* nested members are not claims */

    /* the claims are offsets, so a copy reads the same */
    static kl_jwt_claims_t copy;
    memcpy(&copy, &C, sizeof C);
    memset(&C, 0, sizeof C);
    KT_CHECK((v = kl_jwt_subject(&copy)) && strcmp(v, "user-42") == 0);

    /* at exp it is expired; before nbf it is not yet valid */
    KT_EQ(vts(PY1, PY1_SECRET, 1700003599), 0);
    KT_EQ(vts(PY1, PY1_SECRET, 1700003600), KL_JWT_EEXPIRED);
    KT_STREQ(ERR, strlen(ERR), "token expired");
    KT_EQ(vts(PY1, PY1_SECRET, 1700000000), 0);
    KT_EQ(vts(PY1, PY1_SECRET, 1699999999), KL_JWT_ENOTYET);
    KT_STREQ(ERR, strlen(ERR), "token not yet valid");
    KT_EQ(vts(PY1, PY2_SECRET, NOW), KL_JWT_ESIGNATURE);
}

static void python_token_numeric_sub_fractional_exp(void) {
    KT_EQ(vts(PY2, PY2_SECRET, NOW), 0); /* exp 1700000100.5 > 1700000100 */
    const char *v = kl_jwt_subject(&C);
    KT_CHECK(v && strcmp(v, "1234567") == 0);
    KT_EQ(kl_jwt_claim_type(&C, 0), KL_JWT_NUMBER);
    KT_EQ(vts(PY2, PY2_SECRET, NOW + 1), KL_JWT_EEXPIRED);
    KT_EQ(vts(PY2, PY1_SECRET, NOW), KL_JWT_ESIGNATURE);
}

static void own_signer_matches_python(void) {
    /* the test helper (our encoder + HMAC) reproduces Python's token byte for byte */
    size_t n = make_raw(HDR, strlen(HDR), PY1_PAYLOAD, strlen(PY1_PAYLOAD), PY1_SECRET);
    KT_STREQ(TOK, n, PY1);
}

static void rejects_other_algorithms(void) {
    KT_EQ(hdr("{\"alg\":\"HS256\"}"), 0);
    KT_EQ(hdr("{\"alg\":\"none\"}"), KL_JWT_EALG);
    KT_STREQ(ERR, strlen(ERR), "unsupported algorithm");
    /* known algorithms, but the key is pinned to HS256 */
    KT_EQ(hdr("{\"alg\":\"HS512\",\"typ\":\"JWT\"}"), KL_JWT_EALGKEY);
    KT_STREQ(ERR, strlen(ERR), "algorithm does not match the key");
    KT_EQ(hdr("{\"alg\":\"HS384\"}"), KL_JWT_EALGKEY);
    KT_EQ(hdr("{\"alg\":\"RS256\"}"), KL_JWT_EALGKEY);
    KT_EQ(hdr("{\"alg\":\"EdDSA\"}"), KL_JWT_EALGKEY);
    KT_EQ(hdr("{\"alg\":\"hs256\"}"), KL_JWT_EALG);
    KT_EQ(hdr("{\"alg\":\"HS256 \"}"), KL_JWT_EALG);
    KT_EQ(hdr("{\"alg\":\"ES512\"}"), KL_JWT_EALG);
    KT_EQ(hdr("{\"alg\":\"PS384\"}"), KL_JWT_EALG);
    KT_EQ(hdr("{\"alg\":\"eddsa\"}"), KL_JWT_EALG);
    /* escapes are decoded before comparing */
    KT_EQ(hdr("{\"alg\":\"HS\\u0032\\u0035\\u0036\"}"), 0);
    /* the classic alg=none token with an empty signature */
    char t[128];
    size_t n = kl_base64url_encode((const uint8_t *)"{\"alg\":\"none\",\"typ\":\"JWT\"}", 26, t, sizeof t);
    t[n++] = '.';
    n += kl_base64url_encode((const uint8_t *)"{\"sub\":\"admin\"}", 15, t + n, sizeof t - n);
    t[n++] = '.';
    KT_EQ(vt(t, n, SECRET, NOW), KL_JWT_EALG);
    /* a duplicate alg is not a choice between two: the header is malformed */
    KT_EQ(hdr("{\"alg\":\"HS256\",\"alg\":\"none\"}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"none\",\"alg\":\"HS256\"}"), KL_JWT_EMALFORMED);
}

static void checks_typ(void) {
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"), 0);
    KT_EQ(hdr("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"k1\"}"), 0); /* unknown kid: the key without one */
    /* media types compare case-insensitively, "application/" optional (RFC 7515 4.1.9) */
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"jwt\"}"), 0);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"application/JWT\"}"), 0);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"), 0); /* RFC 9068 access tokens */
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"application/at+JWT\"}"), 0);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"JWS\"}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"application/\"}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":\"JWT \"}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"typ\":null}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("[\"alg\",\"HS256\"]"), KL_JWT_EMALFORMED);
    KT_EQ(hdr(""), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"HS256\"} x"), KL_JWT_EMALFORMED);
    /* kid: a string of at most KL_JWS_KID_MAX bytes */
    KT_EQ(hdr("{\"alg\":\"HS256\",\"kid\":7}"), KL_JWT_EMALFORMED);
    char h[512];
    snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"kid\":\"%0255d\"}", 0);
    KT_EQ(hdr(h), 0);
    snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"kid\":\"%0256d\"}", 0);
    KT_EQ(hdr(h), KL_JWT_EMALFORMED);
}

static void rejects_bad_signatures(void) {
    size_t n = make(HDR, "{\"sub\":\"u\"}");
    KT_EQ(vt(TOK, n, SECRET, NOW), 0);
    KT_EQ(vt(TOK, n, "s3cr3t-for-unit-tests-0123456788", NOW), KL_JWT_ESIGNATURE);
    KT_STREQ(ERR, strlen(ERR), "bad signature");
    /* no key at all: nothing verifies */
    kl_jws_keys_t *none = kl_jws_keys_new();
    KT_EQ(kl_jwt_verify(TOK, n, none, POLICY, NOW, &C, NULL, 0), KL_JWT_EALGKEY);
    kl_jws_keys_free(none);
    /* the signature part must be 43 characters of canonical base64url for 32 bytes */
    n = make(HDR, "{\"sub\":\"u\"}");
    size_t at = n - 43;
    KT_EQ(vt(TOK, at, SECRET, NOW), KL_JWT_ESIGNATURE); /* "h.p." : empty */
    memset(TOK + at, 'A', 45);
    KT_EQ(vt(TOK, at + 42, SECRET, NOW), KL_JWT_ESIGNATURE); /* 31 bytes */
    KT_EQ(vt(TOK, at + 43, SECRET, NOW), KL_JWT_ESIGNATURE); /* 32 zero bytes */
    KT_EQ(vt(TOK, at + 44, SECRET, NOW), KL_JWT_ESIGNATURE); /* 33 bytes */
    KT_EQ(vt(TOK, at + 41, SECRET, NOW), KL_JWT_EMALFORMED); /* 4n+1 characters */
    KT_EQ(vt(TOK, at + 45, SECRET, NOW), KL_JWT_EMALFORMED);
    n = make(HDR, "{\"sub\":\"u\"}");
    TOK[n] = '=';
    KT_EQ(vt(TOK, n + 1, SECRET, NOW), KL_JWT_EMALFORMED); /* padded */
    KT_EQ(vt(TOK, n, SECRET, NOW), 0);
}

static void rejects_tampered_payload(void) {
    /* PY1 with its payload replaced by {"sub":"admin",...}: signature no longer matches */
    const char *evil = "{\"sub\":\"admin\",\"exp\":1700003600}";
    char t[1024];
    const char *dot1 = strchr(PY1, '.'), *dot2 = strrchr(PY1, '.');
    size_t n = (size_t)(dot1 + 1 - PY1);
    memcpy(t, PY1, n);
    n += kl_base64url_encode((const uint8_t *)evil, strlen(evil), t + n, sizeof t - n);
    memcpy(t + n, dot2, strlen(dot2));
    n += strlen(dot2);
    KT_EQ(vt(t, n, PY1_SECRET, NOW), KL_JWT_ESIGNATURE);
    /* swapping the header for an equivalent one breaks it as well */
    char u[1024];
    size_t m = kl_base64url_encode((const uint8_t *)"{\"typ\":\"JWT\",\"alg\":\"HS256\"}", 27, u, sizeof u);
    memcpy(u + m, dot1, strlen(dot1));
    m += strlen(dot1);
    KT_EQ(vt(u, m, PY1_SECRET, NOW), KL_JWT_ESIGNATURE);
}

static void time_claims_are_exact(void) {
    /* with no leeway, to the second and below it */
    char p[128];
    static const struct {
        const char *exp;
        int want;
    } e[] = {
        {"1700000101", 0},
        {"1700000100", KL_JWT_EEXPIRED},
        {"1700000099", KL_JWT_EEXPIRED},
        {"1700000100.5", 0},
        {"1700000100.0", KL_JWT_EEXPIRED},
        {"1700000100.0000000000000000000001", 0},
        {"1700000099.9999999999999999999999", KL_JWT_EEXPIRED},
        {"17000001000e-1", KL_JWT_EEXPIRED},
        {"17000001001E-1", 0},
        {"1.7000001e9", KL_JWT_EEXPIRED},
        {"1.7000002E+9", 0},
        {"0.000000000000000001700000101e27", 0},
        {"1e400", 0},
        {"99999999999999999999999999", 0},
        {"9223372036854775807", 0},
        {"-1", KL_JWT_EEXPIRED},
        {"-0", KL_JWT_EEXPIRED},
        {"0", KL_JWT_EEXPIRED},
        {"-1e400", KL_JWT_EEXPIRED},
        {"1e-400", KL_JWT_EEXPIRED},
        {"\"1700003600\"", KL_JWT_EMALFORMED},
        {"null", KL_JWT_EMALFORMED},
        {"true", KL_JWT_EMALFORMED},
        {"[1700003600]", KL_JWT_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        snprintf(p, sizeof p, "{\"sub\":\"u\",\"exp\":%s}", e[i].exp);
        int r = pay(p);
        if (r != e[i].want) fprintf(stderr, "  exp %s\n", e[i].exp);
        KT_EQ(r, e[i].want);
    }
    static const struct {
        const char *nbf;
        int want;
    } b[] = {
        {"1700000100", 0},
        {"1700000099", 0},
        {"1700000101", KL_JWT_ENOTYET},
        {"1700000100.5", KL_JWT_ENOTYET},
        {"1700000099.5", 0},
        {"-1700000100.5", 0},
        {"1e10", KL_JWT_ENOTYET},
        {"0", 0},
        {"\"0\"", KL_JWT_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        snprintf(p, sizeof p, "{\"sub\":\"u\",\"nbf\":%s}", b[i].nbf);
        int r = pay(p);
        if (r != b[i].want) fprintf(stderr, "  nbf %s\n", b[i].nbf);
        KT_EQ(r, b[i].want);
    }
    /* both: expiry is reported first */
    KT_EQ(pay("{\"sub\":\"u\",\"nbf\":1800000000,\"exp\":1600000000}"), KL_JWT_EEXPIRED);
    /* extreme now values */
    size_t n = make(HDR, "{\"sub\":\"u\",\"exp\":-9223372036854775808}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MIN), KL_JWT_EEXPIRED);
    KT_EQ(vt(TOK, n, SECRET, INT64_MIN + 1), KL_JWT_EEXPIRED);
    n = make(HDR, "{\"sub\":\"u\",\"exp\":-9223372036854775808.5}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MIN), KL_JWT_EEXPIRED);
    n = make(HDR, "{\"sub\":\"u\",\"exp\":-9223372036854775807.5}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MIN), 0);
    n = make(HDR, "{\"sub\":\"u\",\"exp\":9223372036854775807}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MAX), KL_JWT_EEXPIRED);
    KT_EQ(vt(TOK, n, SECRET, INT64_MAX - 1), 0);
    n = make(HDR, "{\"sub\":\"u\",\"exp\":9223372036854775807.5}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MAX), 0);
    n = make(HDR, "{\"sub\":\"u\",\"exp\":9223372036854775808}");
    KT_EQ(vt(TOK, n, SECRET, INT64_MAX), 0);
}

static void requires_subject(void) {
    KT_EQ(pay("{\"name\":\"x\"}"), KL_JWT_EMALFORMED);
    KT_STREQ(ERR, strlen(ERR), "malformed token");
    KT_EQ(pay("{}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":true}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":null}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":{\"id\":1}}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":[1]}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":1.5}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":1e3}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"Sub\":\"u\"}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":42}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "42") == 0);
    KT_EQ(pay("{\"sub\":-7}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "-7") == 0);
    KT_EQ(pay("{\"sub\":0}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "0") == 0);
    KT_EQ(pay("{\"sub\":12345678901234567890123}"), 0); /* text, not a C integer */
    KT_CHECK(strcmp(kl_jwt_subject(&C), "12345678901234567890123") == 0);
    KT_EQ(pay("{\"sub\":\"\"}"), 0);
}

static void unescapes_strings(void) {
    KT_EQ(pay("{\"sub\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\"}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "a\"b\\c/d\b\f\n\r\te") == 0);
    KT_EQ(pay("{\"sub\":\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\\uffff\"}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf") == 0);
    /* raw UTF-8 passes through */
    KT_EQ(pay("{\"sub\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"), 0);
    KT_CHECK(strcmp(kl_jwt_subject(&C), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
    /* escaped names */
    KT_EQ(pay("{\"\\u0073ub\":\"u\",\"a\\nb\":1}"), 0);
    KT_CHECK(kl_jwt_claim(&C, "a\nb") && strcmp(kl_jwt_claim(&C, "a\nb"), "1") == 0);
    /* nested text is kept raw, escapes included (\u0000 too: it is not unescaped) */
    KT_EQ(pay("{\"sub\":\"u\",\"o\":{\"k\":\"\\u0000\\n\"}}"), 0);
    KT_CHECK(kl_jwt_claim(&C, "o") && strcmp(kl_jwt_claim(&C, "o"), "{\"k\":\"\\u0000\\n\"}") == 0);
}

static void rejects_bad_strings(void) {
    static const char *bad[] = {
        "{\"sub\":\"\\u0000\"}",         /* NUL cannot be in a C string */
        "{\"s\\u0000\":1,\"sub\":\"u\"}", /* nor in a name */
        "{\"sub\":\"\\uD83D\"}",          /* lone high surrogate */
        "{\"sub\":\"\\uD83Dx\"}",         /* high surrogate then text */
        "{\"sub\":\"\\uD83D\\u0041\"}",   /* high then not low */
        "{\"sub\":\"\\uDE00\"}",          /* lone low surrogate */
        "{\"sub\":\"\\uDE00\\uD83D\"}",   /* reversed pair */
        "{\"sub\":\"\\u12\"}",            /* short */
        "{\"sub\":\"\\u12G4\"}",          /* not hex */
        "{\"sub\":\"\\x41\"}",            /* unknown escape */
        "{\"sub\":\"\\'\"}",
        "{\"sub\":\"a\\\"}",              /* escaped closing quote, unterminated */
        "{\"sub\":\"a\tb\"}",             /* raw control character */
        "{\"sub\":\"a\nb\"}",
        "{\"sub\":\"\x7f\x80\"}",         /* stray continuation byte */
        "{\"sub\":\"\xc0\xaf\"}",         /* overlong '/' */
        "{\"sub\":\"\xe0\x80\xaf\"}",     /* overlong, 3 bytes */
        "{\"sub\":\"\xed\xa0\x80\"}",     /* encoded surrogate U+D800 */
        "{\"sub\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"sub\":\"\xf5\x80\x80\x80\"}",
        "{\"sub\":\"\xc3\"}",             /* truncated sequence */
        "{\"sub\":\"\xe2\x82\"}",
        "{\"sub\":\"u\",\"o\":[\"\xff\"]}", /* nested strings are checked too */
        "{\"sub\":\"u\",\"o\":[\"\\q\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = pay(bad[i]);
        if (r != KL_JWT_EMALFORMED) fprintf(stderr, "  accepted #%zu: %s\n", i, bad[i]);
        KT_EQ(r, KL_JWT_EMALFORMED);
    }
}

static void rejects_duplicate_keys(void) {
    KT_EQ(pay("{\"sub\":\"a\",\"sub\":\"b\"}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":\"a\",\"\\u0073ub\":\"b\"}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":\"a\",\"x\":1,\"y\":2,\"x\":3}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":\"a\",\"\":1,\"\":2}"), KL_JWT_EMALFORMED);
    /* duplicates inside nested objects are left to whoever reads the raw text */
    KT_EQ(pay("{\"sub\":\"a\",\"o\":{\"x\":1,\"x\":2}}"), 0);
    KT_EQ(pay("{\"sub\":\"a\",\"x\":1,\"X\":2}"), 0);
}

static void strict_json(void) {
    static const char *bad[] = {
        "",
        " ",
        "{",
        "}",
        "{\"sub\":\"u\"",
        "{\"sub\":\"u\"}x",
        "{\"sub\":\"u\"}{}",
        "{\"sub\":\"u\"}\x00",
        "{\"sub\":\"u\",}",
        "{,\"sub\":\"u\"}",
        "{\"sub\":\"u\",,\"a\":1}",
        "{\"sub\" \"u\"}",
        "{\"sub\"::\"u\"}",
        "{sub:\"u\"}",
        "{'sub':'u'}",
        "{\"sub\":\"u\",\"n\":01}",
        "{\"sub\":\"u\",\"n\":1.}",
        "{\"sub\":\"u\",\"n\":.5}",
        "{\"sub\":\"u\",\"n\":+1}",
        "{\"sub\":\"u\",\"n\":-}",
        "{\"sub\":\"u\",\"n\":1e}",
        "{\"sub\":\"u\",\"n\":1e+}",
        "{\"sub\":\"u\",\"n\":0x10}",
        "{\"sub\":\"u\",\"n\":NaN}",
        "{\"sub\":\"u\",\"n\":Infinity}",
        "{\"sub\":\"u\",\"n\":-0.}",
        "{\"sub\":\"u\",\"n\":1 2}",
        "{\"sub\":\"u\",\"b\":tru}",
        "{\"sub\":\"u\",\"b\":True}",
        "{\"sub\":\"u\",\"b\":nul}",
        "{\"sub\":\"u\",\"b\":falsey}",
        "{\"sub\":\"u\",\"a\":[1,]}",
        "{\"sub\":\"u\",\"a\":[,1]}",
        "{\"sub\":\"u\",\"a\":[1 2]}",
        "{\"sub\":\"u\",\"a\":[}",
        "{\"sub\":\"u\",\"a\":[1}",
        "{\"sub\":\"u\",\"a\":{\"k\"}}",
        "{\"sub\":\"u\",\"a\":{\"k\":}}",
        "{\"sub\":\"u\",\"a\":{\"k\":1,}}",
        "{\"sub\":\"u\",\"a\":{1:1}}",
        "{\"sub\":\"u\",\"a\":{\"k\":1]}",
        "\xef\xbb\xbf{\"sub\":\"u\"}", /* BOM */
        "[\"sub\",\"u\"]",
        "\"sub\"",
        "{\"sub\":\"u\"}\f",             /* form feed is not JSON whitespace */
        "{\"sub\":\"u\",\"a\":[1]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = i == 7 ? 12 : strlen(bad[i]);
        int r = payn(bad[i], n);
        if (r != KL_JWT_EMALFORMED) fprintf(stderr, "  accepted #%zu: %s\n", i, bad[i]);
        KT_EQ(r, KL_JWT_EMALFORMED);
    }
    static const char *good[] = {
        " \t\r\n{ \"sub\" : \"u\" , \"a\" : [ 1 , { } , [ ] , \"x\" , -0.5e-3 , true , null ] } \n",
        "{\"sub\":\"u\",\"n\":-0}",
        "{\"sub\":\"u\",\"n\":0.0E+00}",
        "{\"sub\":\"u\",\"n\":123456789012345678901234567890e-5}",
        "{\"sub\":\"u\",\"o\":{\"a\":{\"b\":{\"c\":[[{}]]}}}}",
        "{\"sub\":\"u\",\"\":\"empty name\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int r = pay(good[i]);
        if (r != 0) fprintf(stderr, "  rejected #%zu: %s\n", i, good[i]);
        KT_EQ(r, 0);
    }
    KT_EQ(pay(good[0]), 0);
    KT_CHECK(strcmp(kl_jwt_claim(&C, "a"), "[ 1 , { } , [ ] , \"x\" , -0.5e-3 , true , null ]") == 0);
}

static void nesting_limit(void) {
    /* the top-level object is level 1: KL_JWT_MAX_DEPTH - 1 more levels are allowed */
    char p[KL_JWT_MAX_TOKEN];
    for (int levels = KL_JWT_MAX_DEPTH - 1; levels <= KL_JWT_MAX_DEPTH; levels++) {
        /* {"sub":"u","a":{"k":[{"k":[ ... 1 ... ]}]}} with `levels` containers under "a" */
        size_t n = (size_t)snprintf(p, sizeof p, "{\"sub\":\"u\",\"a\":");
        for (int i = 0; i < levels; i++) n += (size_t)snprintf(p + n, sizeof p - n, i % 2 ? "[" : "{\"k\":");
        p[n++] = '1';
        for (int i = levels - 1; i >= 0; i--) p[n++] = i % 2 ? ']' : '}';
        p[n++] = '}';
        KT_EQ(payn(p, n), levels < KL_JWT_MAX_DEPTH ? 0 : KL_JWT_EMALFORMED);
    }
    /* hostile nesting: thousands of brackets, open and balanced */
    size_t n = (size_t)snprintf(p, sizeof p, "{\"sub\":\"u\",\"a\":");
    for (int i = 0; i < 2500; i++) p[n++] = '[';
    for (int i = 0; i < 2500; i++) p[n++] = ']';
    p[n++] = '}';
    KT_EQ(payn(p, n), KL_JWT_EMALFORMED);
    KT_EQ(payn(p, 2500), KL_JWT_EMALFORMED);
    /* the same limit applies to the header */
    KT_EQ(hdr("{\"alg\":\"HS256\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}"), KL_JWT_EMALFORMED);
    KT_EQ(hdr("{\"alg\":\"HS256\",\"x\":[[[[[[[[[[[[[[]]]]]]]]]]]]]]}"), 0);
}

static void size_limits(void) {
    /* the biggest token within KL_JWT_MAX_TOKEN is accepted, the next size is not */
    static char p[KL_JWT_MAX_TOKEN];
    size_t last_ok = 0;
    int saw_over = 0;
    for (size_t k = 6000; k < 6200; k++) {
        size_t n = (size_t)snprintf(p, sizeof p, "{\"sub\":\"u\",\"big\":\"");
        memset(p + n, 'x', k);
        n += k;
        n += (size_t)snprintf(p + n, sizeof p - n, "\"}");
        size_t tl = make_raw(HDR, strlen(HDR), p, n, SECRET);
        int r = vt(TOK, tl, SECRET, NOW);
        if (tl <= KL_JWT_MAX_TOKEN) {
            KT_EQ(r, 0);
            last_ok = tl;
        } else {
            KT_EQ(r, KL_JWT_EMALFORMED);
            saw_over = 1;
        }
    }
    KT_CHECK(last_ok >= KL_JWT_MAX_TOKEN - 2);
    KT_CHECK(saw_over);
    KT_EQ(vt(TOK, 0, SECRET, NOW), KL_JWT_EMALFORMED);
    /* a huge token is refused before anything is decoded */
    static char huge[100000];
    memset(huge, 'A', sizeof huge);
    huge[100] = '.';
    huge[200] = '.';
    KT_EQ(vt(huge, sizeof huge, SECRET, NOW), KL_JWT_EMALFORMED);
    KT_EQ(vt(huge, KL_JWT_MAX_TOKEN + 1, SECRET, NOW), KL_JWT_EMALFORMED);

    /* KL_JWT_MAX_CLAIMS members fit, one more does not */
    size_t n = (size_t)snprintf(p, sizeof p, "{\"sub\":\"u\"");
    for (int i = 1; i < KL_JWT_MAX_CLAIMS; i++) n += (size_t)snprintf(p + n, sizeof p - n, ",\"c%d\":%d", i, i);
    KT_EQ(payn(p, n), KL_JWT_EMALFORMED); /* not closed yet */
    p[n] = '}';
    KT_EQ(payn(p, n + 1), 0);
    KT_EQ(C.count, KL_JWT_MAX_CLAIMS);
    KT_CHECK(kl_jwt_claim(&C, "c63") && strcmp(kl_jwt_claim(&C, "c63"), "63") == 0);
    n += (size_t)snprintf(p + n, sizeof p - n, ",\"c64\":64}");
    KT_EQ(payn(p, n), KL_JWT_EMALFORMED);
}

static void rejects_bad_shapes(void) {
    size_t n = make(HDR, "{\"sub\":\"u\"}");
    char t[512];
    memcpy(t, TOK, n);
    const char *dot1 = memchr(t, '.', n), *dot2 = memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - t));
    size_t h = (size_t)(dot1 - t), p = (size_t)(dot2 - dot1 - 1);
    KT_EQ(vt(t, n, SECRET, NOW), 0);
    KT_EQ(vt(t, h, SECRET, NOW), KL_JWT_EMALFORMED);            /* header only */
    KT_EQ(vt(t, h + 1 + p, SECRET, NOW), KL_JWT_EMALFORMED);    /* no second dot */
    KT_EQ(vt(t, h + 1, SECRET, NOW), KL_JWT_EMALFORMED);        /* "header." */
    KT_EQ(vts(".", SECRET, NOW), KL_JWT_EMALFORMED);
    KT_EQ(vts("..", SECRET, NOW), KL_JWT_EMALFORMED);
    KT_EQ(vts("...", SECRET, NOW), KL_JWT_EMALFORMED);
    KT_EQ(vts("a.b.c", SECRET, NOW), KL_JWT_EMALFORMED);
    /* ".payload.sig" and "header..sig" */
    KT_EQ(vt(t + h, n - h, SECRET, NOW), KL_JWT_EMALFORMED);
    char u[512];
    memcpy(u, t, h + 1);
    memcpy(u + h + 1, dot2, n - (size_t)(dot2 - t));
    /* the payload is only looked at once the signature matched; signed, it is malformed */
    KT_EQ(vt(u, h + 1 + n - (size_t)(dot2 - t), SECRET, NOW), KL_JWT_ESIGNATURE);
    KT_EQ(payn("", 0), KL_JWT_EMALFORMED);
    /* a fourth part (JWE has five) */
    memcpy(u, t, n);
    memcpy(u + n, ".AAAA", 5);
    KT_EQ(vt(u, n + 5, SECRET, NOW), KL_JWT_EMALFORMED);
    /* padding, whitespace, a Bearer prefix: none of them is the caller's token */
    memcpy(u, t, h);
    memcpy(u + h, "=", 1);
    memcpy(u + h + 1, t + h, n - h);
    KT_EQ(vt(u, n + 1, SECRET, NOW), KL_JWT_EMALFORMED);
    memcpy(u, t, n);
    u[n] = '\n';
    KT_EQ(vt(u, n + 1, SECRET, NOW), KL_JWT_EMALFORMED);
    memcpy(u, "Bearer ", 7);
    memcpy(u + 7, t, n);
    KT_EQ(vt(u, n + 7, SECRET, NOW), KL_JWT_EMALFORMED);
}

static void every_corruption_is_rejected(void) {
    /* Strict base64url and the MAC leave no room: every single-byte change, and every
     * truncation, of a valid token must be refused (and must not crash or over-read). */
    static const char *toks[] = {PY1, PY2};
    static const char *secrets[] = {PY1_SECRET, PY2_SECRET};
    char t[512];
    int accepted = 0, tried = 0;
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(toks[k]);
        KT_EQ(vt(toks[k], n, secrets[k], NOW), 0);
        for (size_t pos = 0; pos < n; pos++) {
            static const int flips[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
            static const char sets[] = {'.', '=', '\0', 'A', '_', '-', ' ', '+', '/', 'Q', 'w'};
            for (size_t f = 0; f < sizeof flips / sizeof flips[0] + sizeof sets; f++) {
                memcpy(t, toks[k], n);
                if (f < sizeof flips / sizeof flips[0]) t[pos] = (char)(t[pos] ^ flips[f]);
                else t[pos] = sets[f - sizeof flips / sizeof flips[0]];
                if (t[pos] == toks[k][pos]) continue;
                tried++;
                if (vt(t, n, secrets[k], NOW) == 0) {
                    fprintf(stderr, "  accepted: pos %zu byte 0x%02x\n", pos, (unsigned char)t[pos]);
                    accepted++;
                }
            }
            /* delete the byte at pos, and cut the token at pos */
            memcpy(t, toks[k], pos);
            memcpy(t + pos, toks[k] + pos + 1, n - pos - 1);
            tried++;
            accepted += vt(t, n - 1, secrets[k], NOW) == 0;
            tried++;
            accepted += vt(toks[k], pos, secrets[k], NOW) == 0;
        }
    }
    KT_EQ(accepted, 0);
    KT_CHECK(tried > 7000);
}

static void error_text_is_bounded(void) {
    char e[4];
    memset(e, 'x', sizeof e);
    KT_EQ(kl_jwt_verify("x", 1, keys_for(SECRET), POLICY, NOW, &C, e, sizeof e), KL_JWT_EMALFORMED);
    KT_STREQ(e, strlen(e), "mal");
    KT_EQ(kl_jwt_verify("x", 1, keys_for(SECRET), POLICY, NOW, &C, NULL, 0), KL_JWT_EMALFORMED);
    KT_STREQ(kl_jwt_strerror(0), 0, "");
    KT_STREQ(kl_jwt_strerror(-99), strlen(kl_jwt_strerror(-99)), "malformed token");
    /* a failure after a success clears the claims */
    KT_EQ(vts(PY1, PY1_SECRET, NOW), 0);
    KT_EQ(vts(PY1, PY1_SECRET, 1800000000), KL_JWT_EEXPIRED);
    KT_EQ(C.count, 0);
    KT_CHECK(kl_jwt_subject(&C) == NULL);
}

/* verify(HDR . payload) at NOW under policy pol */
static int payp(const kl_jwt_policy_t *pol, const char *p) {
    POLICY = pol;
    int r = pay(p);
    POLICY = &LAX;
    return r;
}

static void leeway_covers_exp_nbf_iat(void) {
    kl_jwt_policy_t pol = {.leeway_s = 30};
    char p[160];
    static const struct {
        const char *claim;
        int64_t at;
        const char *frac;
        int want;
    } t[] = {
        {"exp", NOW - 29, "", 0},   {"exp", NOW - 30, "", KL_JWT_EEXPIRED}, {"exp", NOW - 30, ".5", 0},
        {"exp", NOW - 31, ".99", KL_JWT_EEXPIRED},
        {"nbf", NOW + 30, "", 0},   {"nbf", NOW + 31, "", KL_JWT_ENOTYET},  {"nbf", NOW + 30, ".1", KL_JWT_ENOTYET},
        {"iat", NOW + 30, "", 0},   {"iat", NOW + 31, "", KL_JWT_EIAT},     {"iat", NOW - 86400, "", 0},
        {"iat", NOW + 30, ".5", KL_JWT_EIAT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        snprintf(p, sizeof p, "{\"sub\":\"u\",\"%s\":%lld%s}", t[i].claim, (long long)t[i].at, t[i].frac);
        int r = payp(&pol, p);
        if (r != t[i].want) fprintf(stderr, "  %s\n", p);
        KT_EQ(r, t[i].want);
    }
    KT_STREQ(kl_jwt_strerror(KL_JWT_EIAT), strlen(kl_jwt_strerror(KL_JWT_EIAT)), "token issued in the future");
    /* no leeway: iat one second ahead is refused; iat must be a number */
    KT_EQ(pay("{\"sub\":\"u\",\"iat\":1700000101}"), KL_JWT_EIAT);
    KT_EQ(pay("{\"sub\":\"u\",\"iat\":1700000100}"), 0);
    KT_EQ(pay("{\"sub\":\"u\",\"iat\":\"1700000000\"}"), KL_JWT_EMALFORMED);
    /* a huge leeway neither wraps nor overflows: now - L and now + L are exact or saturate */
    kl_jwt_policy_t wide = {.leeway_s = INT64_MAX};
    KT_EQ(payp(&wide, "{\"sub\":\"u\",\"exp\":-9000000000000000000}"), 0);
    KT_EQ(payp(&wide, "{\"sub\":\"u\",\"exp\":-9223372036854775808}"), KL_JWT_EEXPIRED); /* exp + L = -1 */
    KT_EQ(payp(&wide, "{\"sub\":\"u\",\"nbf\":9223372036854775807}"), 0);
    KT_EQ(payp(&wide, "{\"sub\":\"u\",\"nbf\":9223372036854775808}"), KL_JWT_ENOTYET); /* beyond INT64_MAX */
}

static void exp_required_by_default(void) {
    kl_jwt_policy_t pol = {.require_exp = true, .leeway_s = 30};
    KT_EQ(payp(&pol, "{\"sub\":\"u\"}"), KL_JWT_ENOEXP);
    KT_STREQ(ERR, strlen(ERR), "token has no expiry");
    KT_EQ(payp(&pol, "{\"sub\":\"u\",\"exp\":1700003600}"), 0);
    KT_EQ(payp(&pol, "{\"sub\":\"u\",\"exp\":null}"), KL_JWT_EMALFORMED);
    KT_EQ(pay("{\"sub\":\"u\"}"), 0); /* when the policy allows it */
}

static void issuer_and_audience(void) {
    kl_jwt_policy_t pol = {.issuer = "https://issuer.example/", .audience = "api"};
    static const struct {
        const char *p;
        int want;
    } t[] = {
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":\"api\"}", 0},
        {"{\"sub\":\"u\",\"iss\":\"https:\\/\\/issuer.example\\/\",\"aud\":\"api\"}", 0}, /* escapes decoded */
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example\",\"aud\":\"api\"}", KL_JWT_EISSUER},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/x\",\"aud\":\"api\"}", KL_JWT_EISSUER},
        {"{\"sub\":\"u\",\"aud\":\"api\"}", KL_JWT_EISSUER},
        {"{\"sub\":\"u\",\"iss\":[\"https://issuer.example/\"],\"aud\":\"api\"}", KL_JWT_EISSUER},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[\"web\",\"api\"]}", 0},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[ \"a\\u0070i\" ]}", 0},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[1,{\"api\":1},[\"x\"],null,\"api\"]}", 0},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[\"web\",[\"api\"]]}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[]}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[\"apix\",\"ap\",\"API\"]}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":\"API\"}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":{\"api\":true}}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":1}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\"}", KL_JWT_EAUDIENCE},
        {"{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[\"\\u0000api\",\"api\"]}", 0},
        /* expiry is reported before the issuer */
        {"{\"sub\":\"u\",\"iss\":\"x\",\"exp\":1}", KL_JWT_EEXPIRED},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int r = payp(&pol, t[i].p);
        if (r != t[i].want) fprintf(stderr, "  #%zu %s\n", i, t[i].p);
        KT_EQ(r, t[i].want);
    }
    KT_STREQ(kl_jwt_strerror(KL_JWT_EAUDIENCE), strlen(kl_jwt_strerror(KL_JWT_EAUDIENCE)), "wrong audience");
    KT_STREQ(kl_jwt_strerror(KL_JWT_EISSUER), strlen(kl_jwt_strerror(KL_JWT_EISSUER)), "wrong issuer");
    /* an element longer than the audience is skipped, not misread */
    static char p[4000];
    int n = snprintf(p, sizeof p, "{\"sub\":\"u\",\"iss\":\"https://issuer.example/\",\"aud\":[\"");
    memset(p + n, 'a', 2000);
    n += 2000;
    snprintf(p + n, sizeof p - (size_t)n, "\",\"api\"]}");
    KT_EQ(payp(&pol, p), 0);
    /* the same checks, on claims parsed already */
    KT_EQ(payp(&pol, t[0].p), 0);
    KT_EQ(kl_jwt_check_claims(&C, &pol, NOW), 0);
    kl_jwt_policy_t other = {.issuer = "someone else"};
    KT_EQ(kl_jwt_check_claims(&C, &other, NOW), KL_JWT_EISSUER);
}

static void helpers(void) {
    const char *p = "{\"sub\":\"u\",\"exp\":1700000100.5,\"n\":-1.5,\"big\":1e400,\"s\":\"7\",\"o\":{\"a\":[1]}}";
    size_t n = make(HDR, p);
    KT_EQ(vt(TOK, n, SECRET, NOW), 0);
    /* the payload as signed */
    char out[512];
    ssize_t pl = kl_jwt_payload(TOK, n, out, sizeof out);
    KT_STREQ(out, pl, p);
    KT_EQ(kl_jwt_payload(TOK, n, out, 10), -1);
    KT_EQ(kl_jwt_payload("abc", 3, out, sizeof out), -1);
    /* whole seconds, rounded down */
    int64_t v;
    KT_EQ(kl_jwt_claim_seconds(&C, "exp", &v), 0);
    KT_EQ(v, 1700000100);
    KT_EQ(kl_jwt_claim_seconds(&C, "n", &v), 0);
    KT_EQ(v, -2);
    KT_EQ(kl_jwt_claim_seconds(&C, "big", &v), 0);
    KT_EQ(v, INT64_MAX);
    KT_EQ(kl_jwt_claim_seconds(&C, "s", &v), -1);
    KT_EQ(kl_jwt_claim_seconds(&C, "o", &v), -1);
    KT_EQ(kl_jwt_claim_seconds(&C, "none", &v), -1);
    /* the tables and the used storage are the whole claim set */
    size_t used = kl_jwt_claims_used(&C);
    KT_CHECK(used > strlen("sub") && used < 200);
    static kl_jwt_claims_t copy;
    memset(&copy, 0x5a, sizeof copy);
    memcpy(&copy, &C, offsetof(kl_jwt_claims_t, _storage));
    memcpy(copy._storage, C._storage, used);
    KT_EQ(copy.count, C.count);
    for (uint32_t i = 0; i < C.count; i++) {
        KT_CHECK(!strcmp(kl_jwt_claim_name(&copy, i), kl_jwt_claim_name(&C, i)));
        KT_CHECK(!strcmp(kl_jwt_claim_value(&copy, i), kl_jwt_claim_value(&C, i)));
        KT_EQ(kl_jwt_claim_type(&copy, i), kl_jwt_claim_type(&C, i));
    }
}

int main(void) {
    KT_RUN(python_token_accepted);
    KT_RUN(python_token_numeric_sub_fractional_exp);
    KT_RUN(own_signer_matches_python);
    KT_RUN(rejects_other_algorithms);
    KT_RUN(checks_typ);
    KT_RUN(rejects_bad_signatures);
    KT_RUN(rejects_tampered_payload);
    KT_RUN(time_claims_are_exact);
    KT_RUN(requires_subject);
    KT_RUN(unescapes_strings);
    KT_RUN(rejects_bad_strings);
    KT_RUN(rejects_duplicate_keys);
    KT_RUN(strict_json);
    KT_RUN(nesting_limit);
    KT_RUN(size_limits);
    KT_RUN(rejects_bad_shapes);
    KT_RUN(every_corruption_is_rejected);
    KT_RUN(error_text_is_bounded);
    KT_RUN(leeway_covers_exp_nbf_iat);
    KT_RUN(exp_required_by_default);
    KT_RUN(issuer_and_audience);
    KT_RUN(helpers);
    return KT_DONE();
}
