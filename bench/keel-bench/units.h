/* units.h - parsing of the quantities keel-bench takes on its command line and in
 * thresholds: durations ("250ms", "1.5s", "2m") and plain counts. Pure, self-contained. */
#ifndef KB_UNITS_H
#define KB_UNITS_H

#include <stdint.h>

/** Parses a duration into nanoseconds: a decimal number with an optional unit ns, us, ms,
 * s, m or h; a bare number is taken in default_unit_ns (e.g. 1e9 for seconds). The whole
 * string must be used. Returns 0, or -EINVAL (empty, bad number, unknown unit, negative,
 * or beyond about 100 days). */
int kb_parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *out_ns);

/** Parses a non-negative decimal integer no larger than max (whole string). 0 or -EINVAL. */
int kb_parse_count(const char *s, uint64_t max, uint64_t *out);

/** Parses a non-negative decimal number (e.g. "0.5", "12"; whole string, finite).
 * 0 or -EINVAL. */
int kb_parse_number(const char *s, double *out);

#endif
