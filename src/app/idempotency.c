#include "app/idempotency.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

const char kl_idem_schema_sql[] =
    "BEGIN;\n"
    /* "already exists, skipping" at every start after the first is no news */
    "SET LOCAL client_min_messages = warning;\n"
    /* two instances starting at once must not both try to create the objects */
    "SELECT pg_advisory_xact_lock(7340031);\n"
    "CREATE SCHEMA IF NOT EXISTS keel;\n"
    "CREATE TABLE IF NOT EXISTS keel.idempotency (\n"
    "    subject     text NOT NULL,\n"
    "    route       text NOT NULL,\n"
    "    key         text NOT NULL,\n"
    "    fingerprint text NOT NULL,\n"
    "    status      integer,\n"
    "    body        text,\n"
    "    created_at  timestamptz NOT NULL DEFAULT now(),\n"
    "    expires_at  timestamptz NOT NULL,\n"
    "    PRIMARY KEY (subject, route, key));\n"
    "CREATE INDEX IF NOT EXISTS idempotency_expires_at ON keel.idempotency (expires_at);\n"
    "COMMENT ON TABLE keel.idempotency IS 'keel: stored responses of @idempotent routes, per "
    "(subject, route, Idempotency-Key); rows past expires_at are purged by keel';\n"
    "CREATE OR REPLACE FUNCTION keel.idempotency_claim(p_subject text, p_route text, p_key text,\n"
    "                                                  p_fingerprint text, p_ttl_s integer)\n"
    "RETURNS void LANGUAGE plpgsql AS $keel$\n"
    "DECLARE\n"
    "    stored text;\n"
    "BEGIN\n"
    /* an expired row is taken over as if it were not there */
    "    INSERT INTO keel.idempotency AS i (subject, route, key, fingerprint, expires_at)\n"
    "    VALUES (p_subject, p_route, p_key, p_fingerprint, now() + make_interval(secs => p_ttl_s))\n"
    "    ON CONFLICT (subject, route, key) DO UPDATE\n"
    "        SET fingerprint = EXCLUDED.fingerprint, expires_at = EXCLUDED.expires_at,\n"
    "            status = NULL, body = NULL, created_at = now()\n"
    "        WHERE i.expires_at <= now();\n"
    "    IF FOUND THEN\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    SELECT fingerprint INTO stored FROM keel.idempotency\n"
    "    WHERE subject = p_subject AND route = p_route AND key = p_key;\n"
    "    IF stored IS DISTINCT FROM p_fingerprint THEN\n"
    "        RAISE EXCEPTION 'this Idempotency-Key was already used with a different request'\n"
    "            USING ERRCODE = 'KH422';\n"
    "    END IF;\n"
    "    RAISE EXCEPTION 'replay' USING ERRCODE = '" KL_IDEM_REPLAY_SQLSTATE "';\n"
    "END $keel$;\n"
    "COMMIT;\n";

const char kl_idem_claim_sql[] = "SELECT keel.idempotency_claim($1, $2, $3, $4, $5::integer)";

const char kl_idem_lookup_sql[] =
    "SELECT status, body FROM keel.idempotency WHERE subject = $1 AND route = $2 AND key = $3 AND status IS NOT NULL";

const char kl_idem_purge_sql[] =
    "DELETE FROM keel.idempotency WHERE ctid = ANY (ARRAY(SELECT ctid FROM keel.idempotency "
    "WHERE expires_at < now() LIMIT 1000))";

/* A statement PostgreSQL runs only as far as a query reads it (SELECT, VALUES, TABLE, WITH)
 * must be read to run at all; INSERT, UPDATE, DELETE and MERGE in WITH always run whole. */
static bool runs_only_when_read(const char *sql) {
    while (*sql == '(' || isspace((unsigned char)*sql)) sql++;
    static const char *const words[] = {"select", "values", "table", "with"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if (!strncasecmp(sql, words[i], n) && !isalnum((unsigned char)sql[n]) && sql[n] != '_') return true;
    }
    return false;
}

char *kl_idem_wrap_sql(const kl_route_def_t *d) {
    size_t n = d->n_params;
    char body[256];
    if (d->returns == KL_ROUTE_RETURNS_NONE)
        snprintf(body, sizeof(body), "%s", runs_only_when_read(d->sql) ? "(SELECT count(*) FROM keel_r)" : "0");
    else /* the first column of the first row, whatever its name (a column alias list) */
        snprintf(body, sizeof(body), "(SELECT r.keel_v::text FROM keel_r AS r(keel_v) LIMIT 1)");
#define WRAP                                     \
    "WITH keel_r AS MATERIALIZED (\n%s\n),\n"     \
    "keel_v AS (SELECT %s AS v)\n"                  \
    "UPDATE keel.idempotency AS i\n"                \
    "SET status = %s, body = %s\n"                  \
    "FROM keel_v\n"                                 \
    "WHERE i.subject = $%zu AND i.route = $%zu AND i.key = $%zu\n" \
    "RETURNING i.status, i.body"
    char status[64], stored[64];
    if (d->returns == KL_ROUTE_RETURNS_NONE) {
        snprintf(status, sizeof(status), "%d", d->status);
        snprintf(stored, sizeof(stored), "NULL");
    } else {
        snprintf(status, sizeof(status), "CASE WHEN keel_v.v IS NULL THEN 404 ELSE %d END", d->status);
        snprintf(stored, sizeof(stored), "keel_v.v");
    }
    int len = snprintf(NULL, 0, WRAP, d->sql, body, status, stored, n + 1, n + 2, n + 3);
    char *out = kl_malloc((size_t)len + 1);
    snprintf(out, (size_t)len + 1, WRAP, d->sql, body, status, stored, n + 1, n + 2, n + 3);
#undef WRAP
    return out;
}

int kl_idem_parse_key(kl_str_t f, char out[KL_IDEM_KEY_MAX + 1]) {
    size_t n = 0;
    if (f.len >= 2 && f.base[0] == '"') {
        /* sf-string: printable ASCII, \" and \\ escaped, nothing after the closing quote */
        size_t i = 1;
        for (; i < f.len && f.base[i] != '"'; i++) {
            unsigned char c = (unsigned char)f.base[i];
            if (c == '\\') {
                if (++i == f.len || (f.base[i] != '"' && f.base[i] != '\\')) return -1;
                c = (unsigned char)f.base[i];
            } else if (c < 0x20 || c > 0x7e) {
                return -1;
            }
            if (n == KL_IDEM_KEY_MAX) return -1;
            out[n++] = (char)c;
        }
        if (i != f.len - 1) return -1; /* unterminated, or text after the closing quote */
    } else {
        for (size_t i = 0; i < f.len; i++) {
            unsigned char c = (unsigned char)f.base[i];
            if (c <= 0x20 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\') return -1;
            if (n == KL_IDEM_KEY_MAX) return -1;
            out[n++] = (char)c;
        }
    }
    if (n == 0) return -1;
    out[n] = '\0';
    return (int)n;
}

static void absorb(EVP_MD_CTX *h, kl_str_t s) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)s.len >> (8 * i));
    EVP_DigestUpdate(h, len, sizeof(len));
    EVP_DigestUpdate(h, s.base, s.len);
}

void kl_idem_fingerprint(kl_str_t method, kl_str_t target, kl_str_t body, char out[65]) {
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) { /* out of memory: as kl_malloc does */
        fprintf(stderr, "keel: libcrypto cannot start a SHA-256 digest (out of memory)\n");
        abort();
    }
    absorb(h, method);
    absorb(h, target);
    absorb(h, body);
    EVP_DigestFinal_ex(h, d, &dlen);
    EVP_MD_CTX_free(h);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}
