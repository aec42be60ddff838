#include "proto/sqlstate.h"

#include <string.h>

static int digit(char c) { return c >= '0' && c <= '9' ? c - '0' : -1; }

int kl_sqlstate_http(const char *s) {
    if (!s || strlen(s) != 5) return 500;
    if (s[0] == 'K' && s[1] == 'H') {
        int a = digit(s[2]), b = digit(s[3]), c = digit(s[4]);
        if (a < 0 || b < 0 || c < 0) return 500;
        int st = a * 100 + b * 10 + c;
        /* final statuses only: a 1xx would leave the client waiting for the real answer */
        return st >= 200 && st <= 599 ? st : 500;
    }
    if (!strcmp(s, "23505") || !strcmp(s, "23503")) return 409;
    if (!strcmp(s, "23502") || !strcmp(s, "23514")) return 400;
    if (!strncmp(s, "22", 2)) return 400; /* data exceptions: bad input (22P02, 22003, ...) */
    if (!strcmp(s, "57014")) return 504;  /* statement_timeout */
    if (!strcmp(s, "40001") || !strcmp(s, "40P01")) return KL_SQLSTATE_RETRY;
    if (!strncmp(s, "08", 2) || !strncmp(s, "57P0", 4)) return 503;
    if (!strcmp(s, "53300")) return 503; /* too many connections */
    return 500;
}
