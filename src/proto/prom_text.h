/* prom_text.h - the Prometheus text exposition format 0.0.4, one line at a time: what
 * `keel top` reads from the admin listener's /metrics.
 *
 *   # HELP / # TYPE / other comments, blank lines   -> skipped
 *   name{label="value",...} value [timestamp]      -> a sample
 *
 * picohttpparser's contract: the caller owns the bytes, the parser never allocates and
 * returns pointer+length pairs into them (label values still escaped; kl_prom_unescape
 * decodes one). Strict about what the format allows (names, quoting, escapes \\ \" \n,
 * Go float syntax incl. NaN and +Inf; no NUL byte); a line it cannot read is an error,
 * not a guess. */
#ifndef KL_PROM_TEXT_H
#define KL_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** Most labels one sample may carry; more is an error. */
#define KL_PROM_MAX_LABELS 16
/** Longest line accepted (a longer one is an error, so hostile input stays bounded). */
#define KL_PROM_MAX_LINE 65536

#define KL_PROM_INCOMPLETE (-2)
#define KL_PROM_ERROR (-1)

typedef struct {
    const char *name;  /**< label name */
    size_t name_len;   /**< its length */
    const char *value; /**< raw value between the quotes, escapes not decoded */
    size_t value_len;  /**< its length */
} kl_prom_label_t;

typedef struct {
    bool is_sample;    /**< false for a comment or blank line (nothing else is set) */
    const char *name;  /**< metric name, e.g. "http_requests_total" or "..._bucket" */
    size_t name_len;   /**< its length */
    kl_prom_label_t labels[KL_PROM_MAX_LABELS]; /**< in the order written */
    size_t nlabels;    /**< how many */
    double value;      /**< the sample value (may be NaN or +-Inf) */
} kl_prom_sample_t;

/** Parses the line at buf[0..len): returns the bytes it took including its '\n' (> 0),
 * KL_PROM_INCOMPLETE when buf holds no '\n' (and is shorter than KL_PROM_MAX_LINE), or
 * KL_PROM_ERROR. A final line without '\n' is the caller's to terminate. */
ssize_t kl_prom_parse_line(const char *buf, size_t len, kl_prom_sample_t *s);

/** The label of s named name (NUL-terminated), or NULL. */
const kl_prom_label_t *kl_prom_label(const kl_prom_sample_t *s, const char *name);

/** True when s's name is exactly name (NUL-terminated). */
bool kl_prom_name_is(const kl_prom_sample_t *s, const char *name);

/** Decodes label value v[0..len) (escapes \\ \" \n) into out with a NUL; values longer than
 * cap-1 are cut at cap-1 bytes. Returns the decoded length (before any cut), or -1 when
 * cap is 0. */
ssize_t kl_prom_unescape(const char *v, size_t len, char *out, size_t cap);

#endif
