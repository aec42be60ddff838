/* check.h - `keel check`: the route folder checked the way keel's startup checks it, for CI,
 * reporting every problem instead of stopping at the first. */
#ifndef KL_CHECK_H
#define KL_CHECK_H

/** Runs `keel check [--routes DIR] [--database-url URL]` (argv[0] is "check"; the defaults
 * are KEEL_ROUTES and DATABASE_URL): parses every route file and, given a database, PREPAREs
 * each statement in a transaction that is rolled back. Prints "file:line: reason" per problem
 * and a summary line on stdout. Returns the exit code: 0 all fine, 1 problems found, 2 usage
 * error, unreadable folder or unreachable database. */
int kl_check_main(int argc, char **argv);

#endif
