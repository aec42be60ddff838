/* tags.h - cache tags of a request: @tags / @invalidates templates with {param} references
 * filled in from the request's bound path and query values, {body.field} references from its
 * validated JSON body, and {auth.claim} references from its verified token.
 *
 * Both lists go through the same expansion, so a stored tag and an invalidated tag match
 * exactly when the same template saw the same values. No client-supplied value may widen
 * an invalidation: values are percent-encoded where they could forge structure ('%', '*',
 * '#', the separator, control bytes), so no expanded tag is "*" (KL_DB_NOTIFY_ALL), holds
 * a separator or looks like a digest; and a tag longer than KL_TAGS_MAX bytes is replaced
 * by its digest form, so one tag never approaches PostgreSQL's NOTIFY payload limit.
 * Template literals cannot hold any of those bytes (routefile.c allows letters, digits,
 * '_', ':', '.', '-', '/' only). */
#ifndef KL_TAGS_H
#define KL_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "app/routefile.h"
#include "core/arena.h"
#include "core/str.h"
#include "proto/jwt.h"

/** Separates tags in a NOTIFY payload (never part of an expanded tag). */
#define KL_TAGS_SEP '\n'
/** Longest tag kept as text; a longer one becomes its digest form. */
#define KL_TAGS_MAX 200
/** Length of the digest form: '#' and 32 lowercase hex digits, the first 128 bits of the
 * SHA-256 of the whole (escaped) tag; equal long tags get equal digests. */
#define KL_TAGS_DIGEST_LEN 33

/** What a request's tags are made of. */
typedef struct {
    const kl_route_def_t *def;     /**< the route */
    const char *const *values;     /**< values[i] is $i+1's text (NULL: SQL NULL) */
    const char *const *fields;     /**< fields[k] is @field k's text (NULL: absent); NULL: none */
    const kl_jwt_claims_t *claims; /**< the verified token's claims; NULL when anonymous */
} kl_tags_src_t;

/** Expands one template: each {name} becomes the value bound for the path or query
 * parameter `name`, each {body.field} the text of that validated @field, each {auth.claim}
 * the text of that claim of the token, percent-encoded
 * as above; a reference to nothing (an absent claim, an anonymous request) expands to
 * nothing. Returns an arena string of at most KL_TAGS_MAX bytes: the expansion, or its
 * digest form when longer. */
char *kl_tags_expand(kl_arena_t *a, const kl_tags_src_t *src, const char *tpl);
/** Steps through a KL_TAGS_SEP-separated list: *cursor starts at the list's first byte.
 * Returns false at the end, else true with the next non-empty tag in *tag. */
bool kl_tags_next(const char **cursor, kl_str_t *tag);
/** Expands every template of list (n of them) and joins them with KL_TAGS_SEP. */
char *kl_tags_join(kl_arena_t *a, const kl_tags_src_t *src, const char *const *list, size_t n);

#endif
