/* server.h - keel's process: listening socket, one shard per CPU, the acceptor, signals
 * and graceful shutdown. */
#ifndef KL_SERVER_H
#define KL_SERVER_H

#include "app/auth.h"
#include "app/config.h"
#include "app/db.h"
#include "app/router.h"

/** Runs keel until SIGTERM/SIGINT, then drains within cfg->shutdown_ms; dbcfg (NULL: no
 * database) gives every shard its PostgreSQL pool, routes (NULL: none) its SQL routes (SIGHUP
 * reloads them from cfg->routes: routes_reload.h; routes itself stays the caller's), auth
 * (NULL: none) the JWT keys @auth verifies with (SIGHUP reloads them; started here, freed
 * by the caller). Returns the process exit code (0 after a clean drain, 1 when startup
 * failed). */
int kl_server_run(const kl_config_t *cfg, const kl_db_config_t *dbcfg, const kl_route_table_t *routes,
                  kl_auth_t *auth);

#endif
