/* routefile_annotations.h - for the route-file parser only (routefile.c); everyone else uses
 * routefile.h.
 *
 * One annotation line -> fields of the def. Every annotation is one row of
 * kl_routefile_annotations_table: its name, whether it may appear only once, and the function
 * that parses the words after the name. A row checks what its own line says (syntax, values,
 * its own options); what needs other annotations or the SQL (a tag's {param}, @cache on a GET
 * only, ...) waits for the whole file, in routefile.c. To add an annotation: a value in
 * kl_route_ann_t (routefile.h), the fields it fills in kl_route_def_t, one row and one parse
 * function in routefile_annotations.c, and its line in the format list of routefile.h. */
#ifndef KL_ROUTEFILE_ANNOTATIONS_H
#define KL_ROUTEFILE_ANNOTATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "app/routefile.h"
#include "app/routefile_lex.h"
#include "core/str.h"

/** Parses args[0..n), the words after the annotation's name (a "double quoted" word has lost
 * its quotes), on file line `line` into p->def. Returns 0 or kl_routefile_lex_fail's -EINVAL. */
typedef int (*kl_routefile_annotations_parse_fn)(kl_routefile_parser_t *p, const kl_str_t *args, size_t n,
                                                 int line);

/** One annotation. */
typedef struct {
    const char *name; /**< "@route": matched exactly, case included */
    bool once;        /**< at most one per file; a second is "duplicate @x (first at line N)" */
    kl_routefile_annotations_parse_fn parse; /**< fills the def from the annotation's words */
} kl_routefile_annotations_row_t;

/** Every annotation keel knows, indexed by kl_route_ann_t (so def->ann_line[k] is the line of
 * the first kl_routefile_annotations_table[k]). */
extern const kl_routefile_annotations_row_t kl_routefile_annotations_table[KL_ROUTE_ANN_COUNT_];

/** A kl_routefile_lex_annotation_fn: splits text[0..len) (from the '@' to the end of the line)
 * into words, finds the annotation's row, refuses a second one of a `once` row, records the
 * line of the first one in def->ann_line, and calls the row's parse. Returns 0 or -EINVAL. */
int kl_routefile_annotations_parse(kl_routefile_parser_t *p, const char *text, size_t len, int line);

#endif
