#include "app/check.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/db.h"
#include "app/idempotency.h"
#include "app/routes_load.h"
#include "app/sql_batch.h"
#include "core/alloc.h"

static const char usage[] =
    "usage: keel check [--routes DIR] [--database-url URL]\n"
    "  Parses every .sql route file of DIR (default: $KEEL_ROUTES) and, with a database URL\n"
    "  (default: $DATABASE_URL), PREPAREs every statement against it inside a transaction\n"
    "  that is rolled back. Prints file:line: reason for each problem.\n"
    "  Exit status: 0 all fine, 1 problems found, 2 usage error, unreadable folder or\n"
    "  unreachable database.\n";

/* Runs sql (one command) in a savepoint, so that a failure leaves the transaction usable.
 * Returns the failed result (the caller PQclear()s it) or NULL on success; then, when desc is
 * not NULL, *desc is the prepared statement's description (the caller PQclear()s it: it is
 * taken here because the next simple query drops the unnamed statement). */
static PGresult *try_exec(PGconn *pg, const char *sql, bool prepare, int nparams, PGresult **desc) {
    PQclear(PQexec(pg, "SAVEPOINT keel_check"));
    PGresult *r = prepare ? PQprepare(pg, "", sql, nparams, NULL) : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (desc) *desc = PQdescribePrepared(pg, "");
        PQclear(r);
        PQclear(PQexec(pg, "RELEASE SAVEPOINT keel_check"));
        return NULL;
    }
    PQclear(PQexec(pg, "ROLLBACK TO SAVEPOINT keel_check"));
    return r;
}

static const char *primary(const PGresult *r, PGconn *pg, char *buf, size_t len) {
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(buf, len, "%s", m ? m : PQerrorMessage(pg));
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* PREPAREs route rt's statement (and its @idempotent wrapper); prints each problem. */
static int check_sql(PGconn *pg, const kl_route_t *rt, bool *idem_schema_tried, bool *idem_schema_ok) {
    const kl_route_def_t *d = &rt->def;
    char msg[1024];
    int problems = 0;
    PGresult *desc = NULL, *r = try_exec(pg, d->sql, true, (int)d->n_params, &desc);
    if (r) {
        const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
        printf("%s:%d: SQL does not prepare: %s\n", d->file, kl_routefile_sql_line(d, pos ? atol(pos) : 0),
               primary(r, pg, msg, sizeof(msg)));
        PQclear(r);
        return 1;
    }
    int rc = kl_routes_check_columns(d, desc, PQparameterStatus(pg, "DateStyle"), msg, sizeof(msg));
    PQclear(desc);
    if (rc < 0) {
        printf("%s\n", msg);
        return 1;
    }
    if (d->idempotent == KL_ROUTE_IDEMPOTENT_NO) return 0;
    if (!*idem_schema_tried) { /* keel's own table, as keel creates it at startup (rolled back) */
        *idem_schema_tried = true;
        /* without its own BEGIN/COMMIT, so that it stays inside the rolled-back transaction */
        const char *sql = kl_idem_schema_sql, *begin = "BEGIN;\n", *commit = "COMMIT;\n";
        size_t len = strlen(sql), bl = strlen(begin), cl = strlen(commit);
        if (len >= bl + cl && !memcmp(sql, begin, bl) && !strcmp(sql + len - cl, commit)) sql += bl, len -= bl + cl;
        char *body = kl_malloc(len + 1);
        memcpy(body, sql, len);
        body[len] = '\0';
        r = try_exec(pg, body, false, 0, NULL);
        kl_free(body);
        *idem_schema_ok = r == NULL;
        if (r) {
            printf("%s:%d: @idempotent: cannot create keel's idempotency table (schema keel): %s\n", d->file,
                   d->ann_line[KL_ROUTE_ANN_IDEMPOTENT], primary(r, pg, msg, sizeof(msg)));
            PQclear(r);
            return 1;
        }
    }
    if (!*idem_schema_ok) return 0; /* reported once, at the first @idempotent file */
    char *wrapped = kl_idem_wrap_sql(d);
    r = try_exec(pg, wrapped, true, (int)d->n_params + 3, NULL);
    kl_free(wrapped);
    if (r) {
        printf("%s:%d: @idempotent: the statement cannot store its response (a SELECT, or INSERT/UPDATE/DELETE "
               "with or without RETURNING, is what works): %s\n",
               d->file, d->ann_line[KL_ROUTE_ANN_IDEMPOTENT], primary(r, pg, msg, sizeof(msg)));
        PQclear(r);
        problems++;
    }
    return problems;
}

/* Whether route rt's lookups run batched: its batch form exists and prepares. One that does
 * not prepare is a note, not a problem: keel then runs the route one query at a time. */
static bool check_batch(PGconn *pg, const kl_route_t *rt) {
    char *sql = kl_sql_batch_sql(&rt->def), msg[1024];
    if (!sql) return false;
    PGresult *r = try_exec(pg, sql, true, (int)rt->def.n_params, NULL);
    kl_free(sql);
    if (!r) return true;
    printf("%s:%d: note: lookups run one at a time: the batch form does not prepare: %s\n", rt->def.file,
           rt->def.ann_line[KL_ROUTE_ANN_ROUTE], primary(r, pg, msg, sizeof(msg)));
    PQclear(r);
    return false;
}

static void quiet(void *arg, const PGresult *notice) { /* keel check reports on stdout only */
    (void)arg;
    (void)notice;
}

int kl_check_main(int argc, char **argv) {
    const char *dir = getenv("KEEL_ROUTES"), *url = getenv("DATABASE_URL");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        const char *v = NULL;
        size_t l = 0;
        if (!strncmp(a, "--routes", l = 8) || !strncmp(a, "--database-url", l = 14)) {
            if (a[l] == '=') v = a + l + 1;
            else if (!a[l] && i + 1 < argc) v = argv[++i];
        }
        if (!v || (a[l] && a[l] != '=')) {
            fprintf(stderr, "keel check: unknown or incomplete argument '%s'\n%s", a, usage);
            return 2;
        }
        if (l == 8) dir = v;
        else url = v;
    }
    if (!dir || !*dir) {
        fprintf(stderr, "keel check: no route folder: pass --routes DIR or set KEEL_ROUTES\n%s", usage);
        return 2;
    }
    char err[1024];
    char **names;
    size_t n;
    if (kl_routes_list(dir, &names, &n, err, sizeof(err)) < 0) {
        fprintf(stderr, "keel check: %s\n", err);
        return 2;
    }
    PGconn *pg = NULL;
    if (url && *url) {
        if (!(pg = kl_db_connect_blocking(url, 5, err, sizeof(err)))) {
            fprintf(stderr, "keel check: cannot connect to the database: %s\n", err);
            kl_routes_list_free(names, n);
            return 2;
        }
        PQsetNoticeReceiver(pg, quiet, NULL);
        PQclear(PQexec(pg, "BEGIN"));
    }
    kl_route_t *routes = kl_calloc(sizeof(kl_route_t) * n);
    bool *parsed = kl_calloc(sizeof(bool) * n);
    int problems = 0, nbatched = 0;
    bool idem_tried = false, idem_ok = false, *batched = kl_calloc(sizeof(bool) * n);
    for (size_t i = 0; i < n; i++) {
        if (kl_routes_parse_file(dir, names[i], &routes[i], err, sizeof(err)) < 0) {
            printf("%s\n", err);
            problems++;
            continue;
        }
        parsed[i] = true;
        for (size_t j = 0; j < i; j++) {
            if (parsed[j] && kl_routefile_conflicts(&routes[j].def, &routes[i].def)) {
                printf("%s:%d: duplicate route %s %s (also %s:%d)\n", routes[i].def.file,
                       routes[i].def.ann_line[KL_ROUTE_ANN_ROUTE], routes[i].def.method_name, routes[i].def.path,
                       routes[j].def.file, routes[j].def.ann_line[KL_ROUTE_ANN_ROUTE]);
                problems++;
                break;
            }
        }
        int p = pg ? check_sql(pg, &routes[i], &idem_tried, &idem_ok) : 0;
        problems += p;
        if (pg && !p) nbatched += batched[i] = check_batch(pg, &routes[i]);
    }
    if (pg) {
        PQclear(PQexec(pg, "ROLLBACK"));
        PQfinish(pg);
    }
    if (problems)
        printf("keel check: %d problem%s in %zu route files\n", problems, problems == 1 ? "" : "s", n);
    else if (pg)
        printf("keel check: %zu route files OK; every statement prepares against the database\n", n);
    else
        printf("keel check: %zu route files parse OK; SQL not checked: no database URL "
               "(--database-url or DATABASE_URL)\n", n);
    if (pg && !problems && nbatched) {
        printf("keel check: concurrent lookups run batched (README, \"Batched lookups\") on");
        for (size_t i = 0; i < n; i++)
            if (batched[i]) printf(" %s %s%s", routes[i].def.method_name, routes[i].def.path, --nbatched ? "," : "\n");
    }
    for (size_t i = 0; i < n; i++) kl_routefile_free(&routes[i].def);
    kl_free(routes);
    kl_free(parsed);
    kl_free(batched);
    kl_routes_list_free(names, n);
    return problems ? 1 : 0;
}
