/* prom_text.c - libFuzzer driver for src/proto/prom_text.c and the /metrics reading of
 * src/app/top_model.c: what `keel top` does with whatever the admin endpoint answers.
 *
 * Checked with abort():
 *  - kl_prom_parse_line over the input line by line: a result > 0 ends just after a '\n'
 *    within the input and within KL_PROM_MAX_LINE; INCOMPLETE only when no '\n' is in the
 *    rest (and it is shorter than the limit); a sample's name and every label name and value
 *    are ranges inside its line, the name matches [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 *    [a-zA-Z_][a-zA-Z0-9_]*, at most KL_PROM_MAX_LABELS labels; every value unescapes to no
 *    more bytes than it has, the same answer with a 1-byte buffer;
 *  - kl_top_snapshot_parse: 0 or -EINVAL with a message; counts within the caps; every
 *    route's buckets strictly ascending; kl_top_rows over (snapshot, snapshot) gives at most
 *    nroutes rows, sorted, with non-negative rates and quantiles inside the bucket bounds. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/top_model.h"
#include "proto/prom_text.h"

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);                \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static int name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

static void in_range(const char *p, size_t n, const char *lo, const char *hi) { CHECK(p >= lo && p + n <= hi); }

static kl_top_snapshot_t snap, snap2;
static kl_top_row_t rows[KL_TOP_MAX_ROUTES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t off = 0;
    while (off < size) {
        kl_prom_sample_t s;
        ssize_t r = kl_prom_parse_line(buf + off, size - off, &s);
        const char *nl = memchr(buf + off, '\n', size - off);
        if (r == KL_PROM_INCOMPLETE) {
            CHECK(!nl && size - off < KL_PROM_MAX_LINE);
            break;
        }
        if (r == KL_PROM_ERROR) {
            /* skip the bad line, as a reader that resynchronises would */
            if (!nl) break;
            off = (size_t)(nl - buf) + 1;
            continue;
        }
        CHECK(r > 0 && nl && (size_t)r == (size_t)(nl - (buf + off)) + 1 && (size_t)r <= KL_PROM_MAX_LINE);
        const char *lo = buf + off, *hi = buf + off + r;
        if (s.is_sample) {
            CHECK(s.name_len > 0 && name_start(s.name[0]));
            in_range(s.name, s.name_len, lo, hi);
            for (size_t i = 1; i < s.name_len; i++) CHECK(name_char(s.name[i]));
            CHECK(s.nlabels <= KL_PROM_MAX_LABELS);
            for (size_t i = 0; i < s.nlabels; i++) {
                const kl_prom_label_t *l = &s.labels[i];
                in_range(l->name, l->name_len, lo, hi);
                in_range(l->value, l->value_len, lo, hi);
                CHECK(l->name_len > 0 && name_start(l->name[0]) && l->name[0] != ':');
                char out[64], one[1];
                ssize_t n = kl_prom_unescape(l->value, l->value_len, out, sizeof out);
                CHECK(n >= 0 && (size_t)n <= l->value_len);
                CHECK(strlen(out) == ((size_t)n < sizeof out ? (size_t)n : sizeof out - 1));
                CHECK(kl_prom_unescape(l->value, l->value_len, one, 1) == n && one[0] == 0);
            }
        }
        off += (size_t)r;
    }
    char err[128];
    int rc = kl_top_snapshot_parse(&snap, buf, size, err, sizeof err);
    CHECK(rc == 0 || (rc == -EINVAL && err[0]));
    if (rc == 0) {
        CHECK(snap.nroutes <= KL_TOP_MAX_ROUTES && snap.ncaches <= KL_TOP_MAX_ROUTES && snap.nshards <= KL_TOP_MAX_SHARDS);
        for (size_t i = 0; i < snap.nroutes; i++) {
            CHECK(snap.routes[i].nb <= KL_TOP_MAX_BUCKETS);
            for (size_t b = 1; b < snap.routes[i].nb; b++) CHECK(snap.routes[i].le[b - 1] < snap.routes[i].le[b]);
        }
        memcpy(&snap2, &snap, sizeof snap);
        /* the second scrape: every counter doubled */
        for (size_t i = 0; i < snap2.nroutes; i++) {
            snap2.routes[i].requests *= 2;
            for (size_t b = 0; b < snap2.routes[i].nb; b++) snap2.routes[i].cum[b] *= 2;
        }
        size_t n = kl_top_rows(&snap, &snap2, 1.0, rows, KL_TOP_MAX_ROUTES);
        CHECK(n == snap2.nroutes);
        for (size_t i = 0; i < n; i++) {
            CHECK(isnan(rows[i].rps) || rows[i].rps >= 0);
            if (i) CHECK(!(rows[i].rps > rows[i - 1].rps));
            const kl_top_route_t *r = NULL;
            for (size_t j = 0; j < snap2.nroutes; j++)
                if (rows[i].route == snap2.routes[j].route) r = &snap2.routes[j];
            CHECK(r);
            if (!isnan(rows[i].p99) && r->nb) {
                double lo_b = r->le[0] < 0 ? r->le[0] : 0, hi_b = r->le[r->nb - 1];
                if (isinf(hi_b) && r->nb > 1) hi_b = r->le[r->nb - 2];
                CHECK(rows[i].p99 >= lo_b - 1e-9 * fabs(lo_b) && rows[i].p99 <= hi_b + 1e-9 * fabs(hi_b));
            }
        }
    }
    free(buf);
    return 0;
}
