/* pg_json.h - PostgreSQL column values, as libpq hands them over in text format, written as
 * JSON byte for byte the way PostgreSQL's row_to_json writes the same values, so that a
 * route may select plain columns and let keel build the object (PostgreSQL then skips
 * forming a record and its JSON text; see README "Routes"). Pure functions; each writer
 * takes out == NULL to only count, so a caller sizes once and writes once. */
#ifndef KL_PG_JSON_H
#define KL_PG_JSON_H

#include <stdbool.h>
#include <stddef.h>

/** How row_to_json writes a type's values. */
typedef enum {
    KL_PGJSON_STRING,      /**< a JSON string of the text (text, varchar, uuid, interval, ...) */
    KL_PGJSON_NUMBER,      /**< as written when a JSON number, else a string (NaN, Infinity) */
    KL_PGJSON_BOOL,        /**< t/f as true/false */
    KL_PGJSON_RAW,         /**< already JSON (json, jsonb) */
    KL_PGJSON_TIMESTAMP,   /**< ISO text with 'T' between date and time (timestamp) */
    KL_PGJSON_TIMESTAMPTZ, /**< the same, and the offset always with its minutes (+00:00) */
    KL_PGJSON_DATE,        /**< a string; needs DateStyle ISO like the two above */
    KL_PGJSON_OTHER,       /**< a type row_to_json writes otherwise (arrays, records, enums and
                              other types of the database's own, whose casts to json may
                              apply): written as a string, refused for routes at startup */
} kl_pgjson_kind_t;

/** The kind of the built-in type oid (a result column's type: PostgreSQL reports a domain's
 * base type there). */
kl_pgjson_kind_t kl_pgjson_kind(unsigned oid);

/** True for the kinds whose text depends on the session's DateStyle (ISO assumed). */
bool kl_pgjson_kind_dated(kl_pgjson_kind_t k);

/** Writes s[0..len) as a JSON string, quotes included, escaping as PostgreSQL's escape_json
 * does (", \, \b \f \n \r \t, other bytes below 0x20 as \u00xx; everything else as is: the
 * text comes from the database in UTF-8). out NULL: only counts. Returns the length. */
size_t kl_pgjson_string(char *out, const char *s, size_t len);

/** Writes the text-format value v[0..len) of kind k as row_to_json would (NULL values are the
 * caller's: they are `null`). out NULL: only counts. Returns the length. */
size_t kl_pgjson_value(char *out, kl_pgjson_kind_t k, const char *v, size_t len);

/** True when s[0..len) is a JSON number (RFC 8259 grammar). */
bool kl_pgjson_is_number(const char *s, size_t len);

#endif
