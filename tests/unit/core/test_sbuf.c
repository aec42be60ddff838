#include <stdint.h>
#include <string.h>

#include "core/sbuf.h"
#include "kt.h"

/* A response head: status, Content-Length and a request id as numbers, byte for byte what
 * snprintf's %llu and %llx printed before. */
static void numbers_match_printf(void) {
    char buf[128];
    kl_sbuf_t b = kl_sbuf(buf, sizeof(buf));
    kl_sbuf_u64(&b, 0);
    KL_SBUF_LIT(&b, " ");
    kl_sbuf_u64(&b, 200);
    KL_SBUF_LIT(&b, " ");
    kl_sbuf_u64(&b, UINT64_MAX);
    KL_SBUF_LIT(&b, " ");
    kl_sbuf_hex(&b, 0);
    KL_SBUF_LIT(&b, " ");
    kl_sbuf_hex(&b, 0x1f0aULL);
    KL_SBUF_LIT(&b, " ");
    kl_sbuf_hex(&b, UINT64_MAX);
    KT_STREQ(buf, kl_sbuf_len(&b), "0 200 18446744073709551615 0 1f0a ffffffffffffffff");
}

/* A header that does not fit is cut at the buffer's end, never written past it, and later
 * appends are dropped: the guard byte after the buffer stays untouched. */
static void overflow_is_cut_not_written_past(void) {
    char buf[9];
    buf[8] = '#';
    kl_sbuf_t b = kl_sbuf(buf, 8);
    kl_sbuf_str(&b, "ETag: ");
    kl_sbuf_u64(&b, 123456);
    KT_EQ(kl_sbuf_len(&b), 8);
    KT_STREQ(buf, 8, "ETag: 12");
    kl_sbuf_hex(&b, 0xabc);
    KL_SBUF_LIT(&b, "\r\n");
    kl_sbuf_str(&b, NULL);
    KT_EQ(kl_sbuf_len(&b), 8);
    KT_EQ(buf[8], '#');
}

int main(void) {
    KT_RUN(numbers_match_printf);
    KT_RUN(overflow_is_cut_not_written_past);
    return KT_DONE();
}
