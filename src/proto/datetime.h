/* datetime.h - the date-time text keel accepts for timestamptz values: RFC 3339's
 * date-time (an ISO 8601 profile) with its time zone offset required. Pure. */
#ifndef KL_DATETIME_H
#define KL_DATETIME_H

#include <stdbool.h>
#include <stddef.h>

/** True when s[0..len) is YYYY-MM-DD, 'T' (or 't' or one space), hh:mm:ss, an optional
 * fraction of 1 to 9 digits, and 'Z' (or 'z') or +hh:mm / -hh:mm; with a real calendar date
 * in years 0001 to 9999, hours 00-23, minutes 00-59, seconds 00-59 or a leap second 60 (no
 * fraction but zeros), and an offset of at most 15:59 (what PostgreSQL's timestamptz
 * accepts, so a value that passes here never fails its cast). */
bool kl_datetime_valid(const char *s, size_t len);

#endif
