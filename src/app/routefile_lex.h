/* routefile_lex.h - for the route-file parser only (routefile.c, routefile_annotations.c);
 * everyone else uses routefile.h.
 *
 * The lowest of the parser's three parts: the state one parse threads through all of them,
 * its error and memory helpers, keel's name syntax, and the lexer. The lexer splits the file
 * the way PostgreSQL's scanner does (string literals, quoted identifiers, dollar quotes,
 * comments), hands each annotation comment to a callback, and writes the one statement with
 * $n in place of :name. It knows neither what an annotation means (routefile_annotations.c)
 * nor where a parameter's value comes from (routefile.c resolves the names once the whole
 * file is read, as annotations may follow the SQL). */
#ifndef KL_ROUTEFILE_LEX_H
#define KL_ROUTEFILE_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "app/routefile.h"
#include "core/str.h"

/** One parse of one file. kl_routefile_parse owns it (on its stack) and the parts fill it. */
typedef struct {
    const char *file;    /**< the file name, for messages */
    const char *text;    /**< the file's bytes, text[0..len); borrowed for the parse */
    size_t len;          /**< bytes in text */
    kl_route_def_t *def; /**< the result being filled */
    char *err;           /**< where kl_routefile_lex_fail writes "file:line: reason" */
    size_t errlen;       /**< size of err */
    char *mem;           /**< the def's one block (def->_mem): [used, cap) is free */
    size_t used, cap;    /**< bytes of mem carved so far / its size */
    char *sql;           /**< the rewritten statement, carved from mem */
    size_t sql_len, sql_cap; /**< bytes in sql / the most the lexer may write there */
    kl_str_t pnames[KL_ROUTE_MAX_PARAMS]; /**< $n's name as written, pointing into text */
    int tag_line[KL_ROUTE_MAX_TAGS]; /**< line of each def->tags[i], for finish's messages */
    int inv_line[KL_ROUTE_MAX_TAGS]; /**< line of each def->invalidates[i] */
    bool status_set;     /**< @returns gave a status: finish leaves def->status alone */
} kl_routefile_parser_t;

/** Writes "file:line: " and the formatted reason into p->err (truncated to p->errlen) and
 * returns -EINVAL, so that an error is `return kl_routefile_lex_fail(...)`. */
__attribute__((format(printf, 3, 4))) int kl_routefile_lex_fail(kl_routefile_parser_t *p, int line,
                                                                 const char *fmt, ...);

/** How many bytes of s a message shows, for "%.*s": words from the file are cut to 60. */
int kl_routefile_lex_shown(kl_str_t s);

/** n bytes aligned to align (a power of two) from p's block; NULL when it is used up. */
void *kl_routefile_lex_carve(kl_routefile_parser_t *p, size_t n, size_t align);

/** A NUL-terminated copy of s in p's block. The block is sized so that this cannot run out;
 * NULL is still handled, as "too complex", rather than trusted. */
const char *kl_routefile_lex_dup(kl_routefile_parser_t *p, kl_str_t s);

/** dst = kl_routefile_lex_dup(p, s), or return the error "route file too complex" at line. */
#define KL_ROUTEFILE_DUP_OR_FAIL(dst, p, s, line)                                              \
    do {                                                                                       \
        if (((dst) = kl_routefile_lex_dup((p), (s))) == NULL)                                  \
            return kl_routefile_lex_fail((p), (line), "route file too complex");               \
    } while (0)

/** keel's names (parameters, claims) are ASCII identifiers: true when c may start one. */
bool kl_routefile_lex_name_start(unsigned char c);

/** True when c may follow a name's first character: a letter, a digit or '_'. */
bool kl_routefile_lex_name_char(unsigned char c);

/** True when c may continue a PostgreSQL identifier or keyword: a letter, a digit, '_', '$'
 * or any byte >= 0x80. */
bool kl_routefile_lex_sql_ident_char(unsigned char c);

/** True when s is a whole name. */
bool kl_routefile_lex_valid_name(kl_str_t s);

/** Called by the lexer for each `-- @...` comment that starts its line (after blanks):
 * text[0..len) runs from the '@' to the end of the line, trailing blanks and '\r' cut.
 * Returns 0, or an error that stops the parse. */
typedef int (*kl_routefile_lex_annotation_fn)(kl_routefile_parser_t *p, const char *text, size_t len,
                                              int line);

/** Lexes p->text in one pass: calls `annotation` for each annotation where it meets it;
 * appends the statement to p->sql with comments dropped (their newlines kept, so a line of
 * sql is the same line of the file) and its ';' and everything after it dropped; replaces each
 * :name (also :auth.claim and :body.field, named with their prefix) by $n, numbering
 * distinct names in order of first use (sets p->pnames[n-1], def->params[n-1].line, its
 * index to -1, and def->n_params; the caller resolves the rest).
 * Returns 0, or -EINVAL with p->err set at the first error: a NUL byte, an unterminated
 * quote or comment, a positional $n, a second statement, an annotation after SQL on its
 * line, or any error from `annotation`. */
int kl_routefile_lex_file(kl_routefile_parser_t *p, kl_routefile_lex_annotation_fn annotation);

#endif
