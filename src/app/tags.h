/* tags.h - cache tags of a request: @tags / @invalidates templates with {param}
 * references filled in from the request's bound parameter values. */
#ifndef KL_TAGS_H
#define KL_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "app/routefile.h"
#include "core/arena.h"
#include "core/str.h"

/** Separates tags in a NOTIFY payload (never part of an expanded tag). */
#define KL_TAGS_SEP '\n'

/** Expands one template: each {name} becomes the value bound for the path or query
 * parameter `name` (values[i] is $i+1's text). Returns an arena string; a reference that
 * names no such parameter expands to nothing. Separator bytes in values are dropped. */
char *kl_tags_expand(kl_arena_t *a, const kl_route_def_t *d, const char *const *values, const char *tpl);
/** Steps through a KL_TAGS_SEP-separated list: *cursor starts at the list's first byte.
 * Returns false at the end, else true with the next non-empty tag in *tag. */
bool kl_tags_next(const char **cursor, kl_str_t *tag);
/** Expands every template of list (n of them) and joins them with KL_TAGS_SEP. */
char *kl_tags_join(kl_arena_t *a, const kl_route_def_t *d, const char *const *values, const char *const *list, size_t n);

#endif
