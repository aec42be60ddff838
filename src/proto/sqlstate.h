/* sqlstate.h - PostgreSQL SQLSTATE -> HTTP status, as keel answers database errors. */
#ifndef KL_SQLSTATE_H
#define KL_SQLSTATE_H

/** Returned for serialization failures and deadlocks: retry a bounded number of times. */
#define KL_SQLSTATE_RETRY (-1)

/** The HTTP status for a 5-character SQLSTATE: 22P02/22003/23502/23514 (and the rest of
 * class 22) -> 400, 23505/23503 -> 409, 57014 -> 504, 40001/40P01 -> KL_SQLSTATE_RETRY,
 * connection classes 08/57P0x -> 503, user-raised KHnnn -> nnn when 200..599 (a 1xx is not
 * a final status), anything else (or a malformed code) -> 500. */
int kl_sqlstate_http(const char *sqlstate);

#endif
