/* stages.c - `--stages` parsing; see stages.h. */
#include "stages.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

int kb_stages_parse(const char *s, kb_stage_t *out, size_t *n, char *err, size_t errcap) {
    char item[128];
    size_t count = 0;
    const char *p = s;
    if (!*s) {
        snprintf(err, errcap, "empty stage list");
        return -EINVAL;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (count == KB_MAX_STAGES) {
            snprintf(err, errcap, "more than %d stages", KB_MAX_STAGES);
            return -EINVAL;
        }
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errcap, "stage %zu: expected LOAD:DURATION", count + 1);
            return -EINVAL;
        }
        memcpy(item, p, len);
        item[len] = 0;
        char *colon = strchr(item, ':');
        if (!colon) {
            snprintf(err, errcap, "stage %zu (%s): expected LOAD:DURATION, e.g. 50:30s or 200/s:30s", count + 1, item);
            return -EINVAL;
        }
        *colon = 0;
        kb_stage_t st = {0};
        size_t ll = strlen(item);
        if (ll > 2 && strcmp(item + ll - 2, "/s") == 0) {
            item[ll - 2] = 0;
            if (kb_parse_number(item, &st.rate) < 0 || st.rate <= 0 || st.rate > KB_MAX_RATE) {
                snprintf(err, errcap, "stage %zu: rate must be a number of requests/s in (0, %.0f]", count + 1, KB_MAX_RATE);
                return -EINVAL;
            }
        } else {
            uint64_t v;
            if (kb_parse_count(item, KB_MAX_VUS, &v) < 0 || v == 0) {
                snprintf(err, errcap, "stage %zu: virtual users must be an integer in 1..%d", count + 1, KB_MAX_VUS);
                return -EINVAL;
            }
            st.vus = (uint32_t)v;
        }
        if (kb_parse_duration(colon + 1, 1000000000ull, &st.duration_ns) < 0 || st.duration_ns < 1000000) {
            snprintf(err, errcap, "stage %zu: bad duration '%s' (e.g. 30s, 500ms, 2m; at least 1ms)", count + 1, colon + 1);
            return -EINVAL;
        }
        if (count && (st.vus == 0) != (out[0].vus == 0)) {
            snprintf(err, errcap, "stage %zu: cannot mix user counts (N:D) and rates (N/s:D)", count + 1);
            return -EINVAL;
        }
        out[count++] = st;
        if (!comma) break;
        p = comma + 1;
    }
    *n = count;
    return 0;
}
