/* jwt_checks.h - what the two JWT drivers check alike: an independent UTF-8 validator,
 * written apart from the decoders under test so that the two do not share a mistake, and
 * claim-set equality. */
#ifndef FUZZ_JWT_CHECKS_H
#define FUZZ_JWT_CHECKS_H

#include <stdint.h>
#include <string.h>

#include "proto/jwt.h"

/** True when the C string s is valid UTF-8 (RFC 3629: shortest form, no surrogates,
 * nothing above U+10FFFF). */
static inline int fuzz_utf8_ok(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        unsigned need;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) need = 2;
        else if (c >= 0xf0 && c <= 0xf4) need = 3;
        else return 0;
        unsigned cp = c & (0x3fu >> need);
        for (unsigned i = 1; i <= need; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        s += need + 1;
    }
    return 1;
}

/** Same members, types and text (the storage past the used part may hold older inputs). */
static inline int fuzz_same_claims(const kl_jwt_claims_t *a, const kl_jwt_claims_t *b) {
    if (a->count != b->count) return 0;
    for (uint32_t i = 0; i < a->count; i++)
        if (a->_type[i] != b->_type[i] || strcmp(kl_jwt_claim_name(a, i), kl_jwt_claim_name(b, i)) != 0 ||
            strcmp(kl_jwt_claim_value(a, i), kl_jwt_claim_value(b, i)) != 0)
            return 0;
    return 1;
}

#endif
