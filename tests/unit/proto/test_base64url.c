/* test_base64url.c - strict unpadded base64url: RFC 4648 section 10 vectors in the URL
 * alphabet, round trips, and every rejection (padding, foreign bytes, impossible lengths,
 * non-zero unused bits, short output). Inputs end at a PROT_NONE page. */
#include "proto/base64url.h"
#include "kt.h"

static ssize_t dec(const char *in, size_t len, uint8_t *out, size_t cap) {
    char *g = kt_guard_copy(in, len);
    ssize_t r = kl_base64url_decode(g, len, out, cap);
    kt_guard_free(g, len);
    return r;
}

static ssize_t decs(const char *in, uint8_t *out, size_t cap) { return dec(in, strlen(in), out, cap); }

static void rfc4648_vectors(void) {
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char e[16];
        size_t n = kl_base64url_encode((const uint8_t *)plain[i], strlen(plain[i]), e, sizeof e);
        KT_STREQ(e, n, enc[i]);
        KT_EQ(n, KL_BASE64URL_ENCODED_LEN(strlen(plain[i])));
        uint8_t d[16];
        ssize_t r = decs(enc[i], d, sizeof d);
        KT_STREQ(d, r, plain[i]);
    }
}

static void url_alphabet(void) {
    /* 0xfb 0xff is "+/8=" in standard base64 and "-_8" here */
    const uint8_t in[] = {0xfb, 0xff};
    char e[8];
    KT_EQ(kl_base64url_encode(in, 2, e, sizeof e), 3);
    KT_STREQ(e, 3, "-_8");
    uint8_t d[4];
    KT_EQ(decs("-_8", d, sizeof d), 2);
    KT_CHECK(d[0] == 0xfb && d[1] == 0xff);
    KT_EQ(decs("+/8", d, sizeof d), -1);
    /* all 64 characters, in order, decode to 48 bytes and encode back */
    const char *all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t b[48];
    KT_EQ(decs(all, b, sizeof b), 48);
    char back[65];
    KT_EQ(kl_base64url_encode(b, 48, back, sizeof back), 64);
    KT_STREQ(back, 64, all);
}

static void round_trips(void) {
    uint8_t in[200], out[200];
    char e[300];
    unsigned x = 12345;
    for (size_t len = 0; len <= sizeof in; len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
        }
        size_t n = kl_base64url_encode(in, len, e, sizeof e);
        KT_EQ(n, KL_BASE64URL_ENCODED_LEN(len));
        KT_EQ(strlen(e), n);
        KT_CHECK(KL_BASE64URL_DECODED_MAX(n) >= len);
        ssize_t r = dec(e, n, out, len); /* exactly enough room */
        KT_EQ(r, (ssize_t)len);
        KT_CHECK(r < 0 || memcmp(in, out, len) == 0);
        if (len) KT_EQ(dec(e, n, out, len - 1), -1); /* one byte short */
    }
}

static void rejects_padding_and_foreign_bytes(void) {
    uint8_t d[16];
    KT_EQ(decs("Zg==", d, sizeof d), -1);
    KT_EQ(decs("Zm8=", d, sizeof d), -1);
    KT_EQ(decs("Zm9v====", d, sizeof d), -1);
    KT_EQ(decs("Zm9 v", d, sizeof d), -1);
    KT_EQ(decs("Zm9v\n", d, sizeof d), -1);
    KT_EQ(decs("Zm.v", d, sizeof d), -1);
    KT_EQ(decs("Zm9\x80", d, sizeof d), -1);
    KT_EQ(dec("Zm\0v", 4, d, sizeof d), -1);
    /* every byte in every position of a 4-character group and of 2- and 3-character tails */
    static const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int c = 0; c < 256; c++) {
        int in_alpha = c != 0 && strchr(ok, c) != NULL;
        for (int pos = 0; pos < 4; pos++) {
            char g[4] = {'A', 'A', 'A', 'A'};
            g[pos] = (char)c;
            KT_EQ(dec(g, 4, d, sizeof d), in_alpha ? 3 : -1);
        }
        char t[3] = {'A', (char)c, 'A'};
        KT_EQ(dec(t, 3, d, sizeof d), in_alpha ? 2 : -1);
        char t2[2] = {(char)c, 'A'};
        KT_EQ(dec(t2, 2, d, sizeof d), in_alpha ? 1 : -1);
    }
}

static void rejects_impossible_lengths_and_bits(void) {
    uint8_t d[16];
    KT_EQ(decs("A", d, sizeof d), -1);
    KT_EQ(decs("Zm9vY", d, sizeof d), -1);
    /* "Zg" is 'f'; "Zh".."Zv" carry the same byte with non-zero unused bits */
    KT_EQ(decs("Zg", d, sizeof d), 1);
    KT_EQ(decs("Zh", d, sizeof d), -1);
    KT_EQ(decs("Zv", d, sizeof d), -1);
    KT_EQ(decs("Zm8", d, sizeof d), 2);
    KT_EQ(decs("Zm9", d, sizeof d), -1);
    KT_EQ(decs("Zm-", d, sizeof d), -1);
    /* exactly one accepted spelling for each 1- and 2-byte tail */
    int accepted1 = 0, accepted2 = 0;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; i++) {
        char t[3] = {'Z', alpha[i], 0};
        if (dec(t, 2, d, sizeof d) == 1 && d[0] == 'f') accepted1++;
        char u[3] = {'Z', 'm', alpha[i]};
        if (dec(u, 3, d, sizeof d) == 2 && d[0] == 'f' && d[1] == 'o') accepted2++;
    }
    KT_EQ(accepted1, 1);
    KT_EQ(accepted2, 1);
}

static void output_capacity(void) {
    uint8_t d[8];
    KT_EQ(decs("", NULL, 0), 0);
    KT_EQ(decs("Zm9vYmFy", d, 6), 6);
    KT_EQ(decs("Zm9vYmFy", d, 5), -1);
    KT_EQ(decs("Zm9vYmE", d, 4), -1);
    KT_EQ(decs("Zg", NULL, 0), -1);
    char e[8];
    memset(e, '#', sizeof e);
    /* "foobar" needs 8 characters and a NUL: with cap 8 nothing is written */
    KT_EQ(kl_base64url_encode((const uint8_t *)"foobar", 6, e, 8), 8);
    KT_CHECK(e[0] == '#' && e[7] == '#');
    KT_EQ(kl_base64url_encode((const uint8_t *)"", 0, e, 1), 0);
    KT_EQ(e[0], 0);
    KT_EQ(kl_base64url_encode((const uint8_t *)"", 0, NULL, 0), 0);
}

int main(void) {
    KT_RUN(rfc4648_vectors);
    KT_RUN(url_alphabet);
    KT_RUN(round_trips);
    KT_RUN(rejects_padding_and_foreign_bytes);
    KT_RUN(rejects_impossible_lengths_and_bits);
    KT_RUN(output_capacity);
    return KT_DONE();
}
