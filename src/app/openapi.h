/* openapi.h - `keel openapi`: an OpenAPI 3.1 document of a route folder, built from the
 * annotations alone (no database): paths, parameters with their types, bounds and
 * defaults, JSON request bodies from @body/@field, the success response and every error
 * status keel itself can give for the route (with keel's error body), bearer security on
 * @auth routes and the RateLimit headers of @rate routes. */
#ifndef KL_OPENAPI_H
#define KL_OPENAPI_H

#include <stdio.h>

#include "app/router.h"

/** Writes the document for the n routes (in any order) to out, titled title. Returns 0, or
 * -EIO when writing failed. */
int kl_openapi_write(FILE *out, const kl_route_t *routes, size_t n, const char *title);

/** Runs `keel openapi [--routes DIR]` (argv[0] is "openapi"; default KEEL_ROUTES): prints the
 * document on stdout. Returns the exit code: 0, 1 when a route file does not load (its
 * file:line: reason on stderr), 2 on a usage error. */
int kl_openapi_main(int argc, char **argv);

#endif
