/* accept_encoding.h - may this response be sent gzip-coded? (RFC 9110 12.5.3). Pure, no
 * allocation, linear in the header length. */
#ifndef KL_ACCEPT_ENCODING_H
#define KL_ACCEPT_ENCODING_H

#include <stdbool.h>

#include "core/str.h"

/** True when gzip may be sent for an Accept-Encoding field value. The rule:
 *  - elements are `coding [OWS ";" OWS "q=" qvalue]`, comma-separated, codings and "q="
 *    case-insensitive, OWS around everything; qvalue is strict: 0, 0., 0.5, 0.125, 1,
 *    1.0, 1.000 (at most 3 decimals, nothing above 1). An element with any other
 *    syntax (bad token, other parameters, q=2, q=0.5000, quotes) is ignored, as if
 *    not listed;
 *  - gzip's weight is that of "gzip" or "x-gzip" when listed (the lowest if listed more
 *    than once), else that of "*" when listed, else 0;
 *  - identity's weight is that of "identity" when listed (the lowest if repeated), else
 *    that of "*" when listed, else 0 (unlisted identity stays acceptable but is never
 *    preferred over a listed coding);
 *  - gzip is sent iff its weight is > 0 and >= identity's weight (ties go to gzip).
 * So "gzip, deflate, br" -> true; "gzip;q=0" or "identity" or "*;q=0" -> false;
 * "gzip;q=0.5, identity" -> false; "*" -> true. An empty value or an absent header
 * (base NULL) -> false: keel only compresses for clients that ask. */
bool kl_accept_gzip(kl_str_t header_value);

#endif
