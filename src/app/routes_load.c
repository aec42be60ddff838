#include "app/routes_load.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/auth.h"
#include "app/idempotency.h"
#include "app/sql_batch.h"
#include "core/alloc.h"
#include "core/file.h"
#include "proto/hash.h"
#include "proto/pg_json.h"

/* Appends a statement (sql already allocated, taken over); returns its index. */
static int add_stmt(kl_route_table_t *t, const char *name, char *sql, int nparams, const char *label) {
    kl_db_stmt_t *s = &t->stmts[t->nstmts];
    s->name = kl_strdup(name);
    s->sql = sql;
    s->nparams = nparams;
    s->label = kl_strdup(label);
    return (int)t->nstmts++;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int kl_routes_parse_file(const char *dir, const char *name, kl_route_t *rt, char *err, size_t errlen) {
    char path[4096];
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--; /* "routes/" names files routes/x.sql */
    snprintf(path, sizeof(path), "%.*s/%s", (int)dl, dir, name);
    char *text;
    size_t len;
    int r = kl_file_read(path, KL_ROUTEFILE_MAX_LEN, &text, &len);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", path,
                 r == -EFBIG ? "file too large" : r == -EINVAL ? "not a regular file" : strerror(-r));
        return r;
    }
    r = kl_routefile_parse(path, text, len, &rt->def, err, errlen);
    rt->text_hash = kl_hash64(text, len, kl_hash64(name, strlen(name), 0x6b65656c));
    kl_free(text);
    return r;
}

int kl_routes_list(const char *dir, char ***out, size_t *count, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read the routes folder: %s", dir, strerror(e));
        return -e;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".sql") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) names = kl_realloc(names, sizeof(char *) * (cap = cap ? cap * 2 : 16));
        names[n++] = kl_strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        kl_free(names);
        snprintf(err, errlen, "%s: no .sql route files", dir);
        return -ENOENT;
    }
    qsort(names, n, sizeof(char *), name_cmp);
    *out = names;
    *count = n;
    return 0;
}

void kl_routes_list_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) kl_free(names[i]);
    kl_free(names);
}

int kl_routes_load(const char *dir, bool have_jwt_keys, kl_route_table_t *t, char *err, size_t errlen) {
    memset(t, 0, sizeof(*t));
    char **names = NULL;
    size_t n = 0;
    int r = kl_routes_list(dir, &names, &n, err, errlen);
    if (r < 0) return r;
    t->routes = kl_calloc(sizeof(kl_route_t) * n);
    t->stmts = kl_calloc(sizeof(kl_db_stmt_t) * (3 * n + 5)); /* see add_stmt's callers */
    t->stmt_idem_claim = t->stmt_idem_lookup = t->stmt_idem_purge = -1;
    t->stmt_auth_claims = t->stmt_auth_role = -1;
    for (size_t i = 0; i < n; i++) {
        kl_route_t *rt = &t->routes[t->n];
        if ((r = kl_routes_parse_file(dir, names[i], rt, err, errlen)) < 0) goto out;
        if (rt->def.auth != KL_ROUTE_AUTH_NONE && !have_jwt_keys) {
            snprintf(err, errlen, "%s:%d: @auth needs KEEL_JWT_SECRET or KEEL_JWT_JWKS (the keys tokens are verified with)",
                     rt->def.file, rt->def.ann_line[KL_ROUTE_ANN_AUTH]);
            kl_routefile_free(&rt->def);
            r = -EINVAL;
            goto out;
        }
        char name[32], label[4200];
        snprintf(label, sizeof(label), "%s %s (%s)", rt->def.method_name, rt->def.path, rt->def.file);
        snprintf(name, sizeof(name), "keel_r%zu", t->n);
        rt->stmt = add_stmt(t, name, kl_strdup(rt->def.sql), (int)rt->def.n_params, label);
        char *batch = kl_sql_batch_sql(&rt->def);
        if (batch) { /* right after the route's own: a reload interns them in that order */
            char blabel[4220];
            snprintf(name, sizeof(name), "keel_r%zu_batch", t->n);
            snprintf(blabel, sizeof(blabel), "%s, batched", label);
            int b = add_stmt(t, name, batch, (int)rt->def.n_params, blabel);
            t->stmts[b].optional = true;
            t->stmts[rt->stmt].batch = b + 1;
        }
        rt->stmt_idem = -1;
        if (rt->def.idempotent != KL_ROUTE_IDEMPOTENT_NO) {
            snprintf(name, sizeof(name), "keel_r%zu_idem", t->n);
            rt->stmt_idem = add_stmt(t, name, kl_idem_wrap_sql(&rt->def), (int)rt->def.n_params + 3, label);
        }
        t->n++;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->routes[i].stmt_idem < 0) continue;
        t->stmt_idem_claim = add_stmt(t, "keel_idem_claim", kl_strdup(kl_idem_claim_sql), 5, "keel: idempotency claim");
        t->stmt_idem_lookup = add_stmt(t, "keel_idem_lookup", kl_strdup(kl_idem_lookup_sql), 3, "keel: idempotency replay");
        t->stmt_idem_purge = add_stmt(t, "keel_idem_purge", kl_strdup(kl_idem_purge_sql), 0, "keel: idempotency purge");
        break;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->routes[i].def.auth == KL_ROUTE_AUTH_NONE) continue;
        t->stmt_auth_claims = add_stmt(t, "keel_auth_claims", kl_strdup(KL_AUTH_CLAIMS_SQL), 1, "keel: request.jwt.claims");
        t->stmt_auth_role = add_stmt(t, "keel_auth_role", kl_strdup(KL_AUTH_ROLE_SQL), 1, "keel: role");
        break;
    }
    r = kl_router_build(t, err, errlen);
out:
    kl_routes_list_free(names, n);
    if (r < 0) kl_router_free(t);
    return r;
}

int kl_routes_check_columns(const kl_route_def_t *d, const PGresult *desc, const char *datestyle, char *err,
                            size_t errlen) {
    if (PQresultStatus(desc) != PGRES_COMMAND_OK) { /* NULL included: libpq ran out of memory */
        snprintf(err, errlen, "%s: cannot describe the statement: %s", d->file,
                 desc ? PQresultErrorMessage(desc) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        return -EINVAL;
    }
    int n = PQnfields(desc), line = d->ann_line[KL_ROUTE_ANN_RETURNS] ? d->ann_line[KL_ROUTE_ANN_RETURNS]
                                                                      : kl_routefile_sql_line(d, 0);
    if (n < 2 || d->returns == KL_ROUTE_RETURNS_NONE) return 0;
    if (d->idempotent != KL_ROUTE_IDEMPOTENT_NO) {
        snprintf(err, errlen, "%s:%d: @idempotent stores one column of the answer and the statement returns %d: "
                 "return row_to_json(...) of them", d->file, d->ann_line[KL_ROUTE_ANN_IDEMPOTENT], n);
        return -EINVAL;
    }
    for (int c = 0; c < n; c++) {
        kl_pgjson_kind_t k = kl_pgjson_kind(PQftype(desc, c));
        if (k == KL_PGJSON_OTHER) {
            snprintf(err, errlen, "%s:%d: column \"%s\" (type oid %u) is an array, a record or a type of the "
                     "database's own, which keel does not write as JSON: select to_json(...) or a cast to text "
                     "for it, or return row_to_json(...) as one column", d->file, line, PQfname(desc, c),
                     (unsigned)PQftype(desc, c));
            return -EINVAL;
        }
        if (kl_pgjson_kind_dated(k) && (!datestyle || strncmp(datestyle, "ISO", 3) != 0)) {
            snprintf(err, errlen, "%s:%d: column \"%s\" is a date or time, which keel writes as row_to_json does "
                     "only under DateStyle ISO, and the connection's is %s: set it to ISO (ALTER DATABASE ... SET "
                     "DateStyle = 'ISO, MDY') or return row_to_json(...) as one column", d->file, line,
                     PQfname(desc, c), datestyle ? datestyle : "unknown");
            return -EINVAL;
        }
    }
    return 0;
}

int kl_routes_check_sql(const kl_route_table_t *t, PGconn *pg, char *err, size_t errlen) {
    int r = 0;
    if (t->stmt_idem_claim >= 0) { /* keel's own table, before the statements that use it */
        PGresult *res = PQexec(pg, kl_idem_schema_sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "cannot create keel's idempotency table (schema keel): %s", PQerrorMessage(pg));
            err[strcspn(err, "\n")] = '\0';
            PQclear(res);
            r = -EINVAL;
            goto out;
        }
        PQclear(res);
        const int own[] = {t->stmt_idem_claim, t->stmt_idem_lookup, t->stmt_idem_purge};
        for (size_t k = 0; k < 3; k++) {
            const kl_db_stmt_t *s = &t->stmts[own[k]];
            res = PQprepare(pg, s->name, s->sql, s->nparams, NULL);
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok) snprintf(err, errlen, "%s does not prepare: %s", s->label, PQerrorMessage(pg));
            PQclear(res);
            if (!ok) {
                r = -EINVAL;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        const kl_route_t *rt = &t->routes[i];
        const kl_db_stmt_t *s = &t->stmts[rt->stmt];
        PGresult *res = PQprepare(pg, s->name, s->sql, s->nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
            int line = kl_routefile_sql_line(&rt->def, pos ? atol(pos) : 0);
            snprintf(err, errlen, "%s:%d: SQL does not prepare: %s", rt->def.file, line, m ? m : PQerrorMessage(pg));
            PQclear(res);
            r = -EINVAL;
            goto out;
        }
        PQclear(res);
        res = PQdescribePrepared(pg, s->name);
        r = kl_routes_check_columns(&rt->def, res, PQparameterStatus(pg, "DateStyle"), err, errlen);
        PQclear(res);
        if (r < 0) goto out;
        if (rt->stmt_idem < 0) continue;
        s = &t->stmts[rt->stmt_idem];
        res = PQprepare(pg, s->name, s->sql, s->nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(err, errlen, "%s:%d: @idempotent: the statement cannot store its response (a SELECT, or "
                     "INSERT/UPDATE/DELETE with or without RETURNING, is what works): %s",
                     rt->def.file, rt->def.ann_line[KL_ROUTE_ANN_IDEMPOTENT], m ? m : PQerrorMessage(pg));
            PQclear(res);
            r = -EINVAL;
            goto out;
        }
        PQclear(res);
    }
out:
    return r;
}
