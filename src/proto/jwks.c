/* jwks.c - JWK Set parsing into libcrypto keys (see jwks.h). */
#include "proto/jwks.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/base64url.h"
#include "proto/json_read.h"

/* The members a key may have once each. */
enum { M_KTY, M_KID, M_USE, M_ALG, M_OPS, M_N, M_E, M_CRV, M_X, M_Y, M_K, M_COUNT };
static const char *const member_names[M_COUNT] = {"kty", "kid", "use", "alg", "key_ops", "n",
                                                  "e",   "crv", "x",   "y",   "k"};

/* Largest decoded value: an 8192-bit modulus, with the leading zero some encoders add. */
#define VALUE_MAX 1100

typedef struct {
    kl_str_t raw[M_COUNT];          /* JSON text of each member present (base NULL: absent) */
    kl_json_type_t type[M_COUNT];
    char why[128];                  /* why the key is refused */
} jwk_t;

__attribute__((format(printf, 2, 3))) static int refuse(jwk_t *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->why, sizeof(j->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* The decoded string member m into out (NUL-terminated); -1 when absent, not a string or too long. */
static int text(const jwk_t *j, int m, char *out, size_t cap) {
    if (!j->raw[m].base || j->type[m] != KL_JSON_STRING) return -1;
    ssize_t n = kl_json_string(j->raw[m].base, j->raw[m].len, out, cap - 1, false);
    if (n < 0) return -1;
    out[n] = '\0';
    return (int)n;
}

/* The base64url member m decoded into out[0..cap); -1 when absent or malformed. */
static ssize_t b64(const jwk_t *j, int m, uint8_t *out, size_t cap) {
    char enc[VALUE_MAX * 4 / 3 + 8];
    int n = text(j, m, enc, sizeof(enc));
    if (n <= 0) return -1;
    return kl_base64url_decode(enc, (size_t)n, out, cap);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM *params) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!pc || EVP_PKEY_fromdata_init(pc) != 1 || EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(pc);
    return pkey;
}

static EVP_PKEY *rsa_key(jwk_t *j) {
    uint8_t n[VALUE_MAX], e[16];
    ssize_t nl = b64(j, M_N, n, sizeof(n)), el = b64(j, M_E, e, sizeof(e));
    if (nl <= 0 || el <= 0 || el > 8) {
        refuse(j, "an RSA key needs n and e (base64url, e at most 8 bytes)");
        return NULL;
    }
    if (!(e[el - 1] & 1) || (el == 1 && e[0] < 3)) {
        refuse(j, "an RSA exponent must be odd and at least 3");
        return NULL;
    }
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) && (params = OSSL_PARAM_BLD_to_param(bld)))
        pkey = from_params("RSA", params);
    if (!pkey) refuse(j, "libcrypto refuses the RSA key");
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

static EVP_PKEY *ec_key(jwk_t *j, const char *crv) {
    bool p256 = !strcmp(crv, "P-256");
    size_t size = p256 ? 32 : 48;
    uint8_t pub[1 + 2 * 48];
    pub[0] = 4; /* uncompressed point: 04 || x || y (SEC 1 2.3.3) */
    if (b64(j, M_X, pub + 1, size + 1) != (ssize_t)size || b64(j, M_Y, pub + 1 + size, size + 1) != (ssize_t)size) {
        refuse(j, "an %s key needs x and y of %zu bytes each", crv, size);
        return NULL;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, p256 ? "prime256v1" : "secp384r1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * size),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pkey = from_params("EC", params);
    /* a point off the curve would let signatures leak nothing useful here, but it is a
     * broken key all the same: refused */
    EVP_PKEY_CTX *pc = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    if (!pc || EVP_PKEY_public_check(pc) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        refuse(j, "the %s point is not on the curve", crv);
    }
    EVP_PKEY_CTX_free(pc);
    return pkey;
}

static EVP_PKEY *okp_key(jwk_t *j) {
    uint8_t x[33];
    if (b64(j, M_X, x, sizeof(x)) != 32) {
        refuse(j, "an Ed25519 key needs x of 32 bytes");
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, 32);
    if (!pkey) refuse(j, "libcrypto refuses the Ed25519 key");
    return pkey;
}

/* Whether the key_ops array (raw JSON) lists "verify". */
static bool ops_verify(kl_str_t ops) {
    kl_json_iter_t it;
    kl_json_type_t t;
    kl_str_t v;
    kl_json_elements(&it, ops.base, ops.len);
    while (kl_json_elements_next(&it, &t, &v))
        if (t == KL_JSON_STRING && v.len == 8 && !memcmp(v.base, "\"verify\"", 8)) return true;
    return false;
}

/* Adds the key object obj to ks. Returns 1 added, 0 skipped, -1 refused (reason in j->why). */
static int add_key(kl_str_t obj, kl_jws_keys_t *ks, jwk_t *j) {
    memset(j, 0, sizeof(*j));
    kl_json_iter_t it;
    kl_json_member_t m;
    char name[16];
    kl_json_members(&it, obj.base, obj.len);
    while (kl_json_members_next(&it, &m, name, sizeof(name))) {
        for (int k = 0; k < M_COUNT; k++) {
            if (m.name_len != strlen(member_names[k]) || memcmp(name, member_names[k], m.name_len) != 0) continue;
            if (j->raw[k].base) return refuse(j, "\"%s\" appears twice", member_names[k]);
            j->raw[k] = m.value;
            j->type[k] = m.type;
        }
    }
    char kty[8], crv[16], use[16], algname[16], kid[KL_JWS_KID_MAX + 2];
    int kid_len = -1;
    if (j->raw[M_KID].base && (kid_len = text(j, M_KID, kid, sizeof(kid))) < 0)
        return refuse(j, "kid must be a string of at most %d bytes", KL_JWS_KID_MAX);
    if (j->raw[M_USE].base) {
        if (text(j, M_USE, use, sizeof(use)) < 0) return refuse(j, "use must be a string");
        if (strcmp(use, "sig") != 0) return 0;
    }
    if (j->raw[M_OPS].base) {
        if (j->type[M_OPS] != KL_JSON_ARRAY) return refuse(j, "key_ops must be an array");
        if (!ops_verify(j->raw[M_OPS])) return 0;
    }
    if (text(j, M_KTY, kty, sizeof(kty)) < 0) return refuse(j, "kty is missing or unsupported");
    if (j->raw[M_CRV].base && text(j, M_CRV, crv, sizeof(crv)) < 0) return refuse(j, "crv is unsupported");
    if (!j->raw[M_CRV].base) crv[0] = '\0';
    kl_jws_alg_t def;
    if (!strcmp(kty, "RSA")) def = KL_JWS_RS256;
    else if (!strcmp(kty, "EC") && !strcmp(crv, "P-256")) def = KL_JWS_ES256;
    else if (!strcmp(kty, "EC") && !strcmp(crv, "P-384")) def = KL_JWS_ES384;
    else if (!strcmp(kty, "OKP") && !strcmp(crv, "Ed25519")) def = KL_JWS_EDDSA;
    else if (!strcmp(kty, "oct")) def = KL_JWS_HS256;
    else return refuse(j, "unsupported key type %s%s%s", kty, crv[0] ? " " : "", crv);
    kl_jws_alg_t alg = def;
    if (j->raw[M_ALG].base) {
        int n = text(j, M_ALG, algname, sizeof(algname));
        if (n < 0 || (alg = kl_jws_alg_parse(algname, (size_t)n)) == KL_JWS_NONE)
            return refuse(j, "unsupported alg");
    }
    char err[128];
    const char *kidp = kid_len >= 0 ? kid : NULL;
    size_t kl = kid_len >= 0 ? (size_t)kid_len : 0;
    if (ks->n >= KL_JWKS_MAX_KEYS) return refuse(j, "more than %d keys", KL_JWKS_MAX_KEYS);
    if (def == KL_JWS_HS256) {
        uint8_t k[VALUE_MAX];
        ssize_t n = b64(j, M_K, k, sizeof(k));
        if (n <= 0) return refuse(j, "an oct key needs k (base64url)");
        int r = kl_jws_keys_add_hmac(ks, alg, k, (size_t)n, kidp, kl, err, sizeof(err));
        OPENSSL_cleanse(k, sizeof(k));
        return r == 0 ? 1 : refuse(j, "%s", err);
    }
    EVP_PKEY *pkey = def == KL_JWS_RS256 ? rsa_key(j) : def == KL_JWS_EDDSA ? okp_key(j) : ec_key(j, crv);
    if (!pkey) return -1;
    int r = kl_jws_keys_add_pkey(ks, alg, pkey, kidp, kl, err, sizeof(err));
    EVP_PKEY_free(pkey); /* the set holds its own reference */
    return r == 0 ? 1 : refuse(j, "%s", err);
}

int kl_jwks_parse(const char *json, size_t len, kl_jws_keys_t *ks, kl_jwks_report_t *rep, char *err, size_t errlen) {
    memset(rep, 0, sizeof(*rep));
    kl_json_error_t je;
    kl_json_member_t keys;
    if (len > KL_JWKS_MAX_BYTES) {
        snprintf(err, errlen, "a JWK Set larger than %d bytes", KL_JWKS_MAX_BYTES);
        return -EINVAL;
    }
    if (kl_json_validate(json, len, &je) < 0) {
        snprintf(err, errlen, "not valid JSON: %s at byte %zu", je.reason, je.offset);
        return -EINVAL;
    }
    if (!kl_json_find(json, len, "keys", 4, &keys) || keys.type != KL_JSON_ARRAY) {
        snprintf(err, errlen, "not a JWK Set (an object with a \"keys\" array)");
        return -EINVAL;
    }
    kl_json_iter_t it;
    kl_json_type_t t;
    kl_str_t v;
    jwk_t j;
    kl_json_elements(&it, keys.value.base, keys.value.len);
    while (kl_json_elements_next(&it, &t, &v)) {
        size_t index = rep->elements++;
        int r = t == KL_JSON_OBJECT ? add_key(v, ks, &j) : (refuse(&j, "not an object"), -1);
        if (r > 0) {
            rep->added++;
        } else if (r == 0) {
            rep->skipped++;
        } else if (rep->refused++ == 0) {
            char kid[64] = "";
            if (t == KL_JSON_OBJECT && j.raw[M_KID].base && text(&j, M_KID, kid, sizeof(kid)) < 0) kid[0] = '\0';
            snprintf(rep->why, sizeof(rep->why), "key %zu%s%s%s: %s", index, kid[0] ? " (kid \"" : "", kid,
                     kid[0] ? "\")" : "", j.why);
        }
    }
    return 0;
}

int kl_jwks_max_age(const char *v, size_t len, int64_t *secs) {
    int found = -1;
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t name = i;
        while (i < len && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
        size_t nl = i - name;
        while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
        size_t val = i, vl = 0;
        bool has_value = i < len && v[i] == '=';
        if (has_value) {
            i++;
            while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
            val = i;
            if (i < len && v[i] == '"') {
                val = ++i;
                while (i < len && v[i] != '"') i++;
                vl = i - val;
                if (i < len) i++;
            } else {
                while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
                vl = i - val;
            }
        }
        while (i < len && v[i] != ',') i++; /* whatever else is in this directive */
        if ((nl == 8 && !strncasecmp(v + name, "no-store", 8)) || (nl == 8 && !strncasecmp(v + name, "no-cache", 8))) {
            *secs = 0;
            return 0;
        }
        if (nl == 7 && !strncasecmp(v + name, "max-age", 7) && has_value && vl > 0 && found < 0) {
            int64_t x = 0;
            size_t k;
            for (k = 0; k < vl && v[val + k] >= '0' && v[val + k] <= '9'; k++)
                if (x < INT32_MAX) x = x * 10 + (v[val + k] - '0');
            if (k == vl) {
                *secs = x > INT32_MAX ? INT32_MAX : x;
                found = 1;
            }
        }
    }
    return found;
}
