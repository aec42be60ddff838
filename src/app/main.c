/* keel: serve an HTTP/1.1 API from one binary. See `keel --help`. */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "app/auth.h"
#include "app/check.h"
#include "app/config.h"
#include "app/crash.h"
#include "app/db.h"
#include "app/openapi.h"
#include "app/routes_load.h"
#include "app/server.h"
#include "app/top.h"
#include "core/log.h"
#include "proto/json.h"

/* stderr's queue: about 1,600 slow-query lines of a burst before any is dropped */
#define LOG_QUEUE_BYTES (256 * 1024)
/* how long the exit waits for stderr to take what is queued */
#define LOG_FLUSH_MS 2000

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "check")) return kl_check_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "openapi")) return kl_openapi_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "top")) return kl_top_main(argc - 1, argv + 1);
    kl_config_t cfg;
    kl_route_table_t routes = {0};
    char err[1024];
    kl_crash_install(); /* first: a crash anywhere after this is reported */
    /* From here a stderr that nobody reads must not stall keel (log.h): not the shards, and
     * not a start that fails (a bad setting, a route file refused), which exits within
     * LOG_FLUSH_MS instead of blocking in its error line. Failing to start the writer
     * leaves kl_log writing directly, as before. */
    (void)kl_log_start(LOG_QUEUE_BYTES);
    int rc = 2;
    kl_auth_t *auth = NULL;
    int r = kl_config_load(&cfg, argc, argv);
    if (r != 0) { /* --help and --version return 1: done */
        rc = r > 0 ? 0 : 2;
        goto out;
    }
    bool use_db = cfg.routes[0] || cfg.database_url[0];
    if (kl_auth_new(&cfg, &auth, err, sizeof(err)) < 0) {
        kl_log_text("keel: %s", err);
        goto out;
    }
    if (cfg.routes[0] && kl_routes_load(cfg.routes, auth != NULL, &routes, err, sizeof(err)) < 0) {
        kl_log_text("keel: %s", err);
        goto out;
    }
    kl_db_config_t db = {
        .conninfo = cfg.database_url,
        .conns = (int)cfg.db_conns,
        .pipeline_depth = (int)cfg.db_depth,
        .queue_max = (int)cfg.db_queue,
        .batch_max = (int)cfg.db_batch,
        .max_answer = (size_t)cfg.max_answer,
        .acquire_ms = (int)cfg.db_acquire_ms,
        .queue_target_ms = (int)cfg.db_queue_target_ms,
        .statement_timeout_ms = (int)cfg.statement_timeout_ms,
        .slow_ms = (int)cfg.slow_query_ms,
        .stmts = routes.stmts,
        .nstmts = (int)routes.nstmts,
    };
    if (routes.n) {
        /* one connection for every startup check: the route SQL, then the JWT roles */
        PGconn *pg = kl_db_connect_blocking(cfg.database_url, 3, err, sizeof(err));
        if (!pg) { /* down at startup: serve /health, report not-ready, keep connecting */
            char e[1024];
            kl_json_escape(e, sizeof(e), err, strlen(err));
            kl_log(KL_LOG_WARN, "database unreachable at startup; route SQL is checked when it connects",
                   "\"error\":\"%s\"", e);
        } else {
            r = kl_routes_check_sql(&routes, pg, err, sizeof(err));
            /* a role keel cannot switch to would fail every request */
            if (r == 0 && routes.stmt_auth_role >= 0)
                r = kl_auth_check_db(auth, pg, routes.stmt_idem_claim >= 0, err, sizeof(err));
            PQfinish(pg);
            if (r < 0) {
                kl_log_text("keel: %s", err);
                goto out;
            }
        }
    }
    rc = kl_server_run(&cfg, use_db ? &db : NULL, routes.n ? &routes : NULL, auth);
out:
    (void)kl_log_stop(LOG_FLUSH_MS);
    kl_auth_free(auth); /* after every shard stopped */
    kl_router_free(&routes);
    kl_config_free(&cfg);
    return rc;
}
