/* stages.h - the load plan: `--stages 10:30s,50:30s,200:60s` (virtual users, closed model)
 * or `--stages 100/s:30s,500/s:30s` (arrival rates, open model). Stages are steps, not
 * ramps, so each row of the report is measured at one load level. Pure, self-contained
 * apart from units.c. */
#ifndef KB_STAGES_H
#define KB_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** At most this many stages in one run. */
#define KB_MAX_STAGES 64
/** At most this many virtual users (connections) in one stage. */
#define KB_MAX_VUS 20000
/** At most this many requests per second in one stage. */
#define KB_MAX_RATE 10000000.0

typedef struct {
    uint32_t vus;         /**< closed model: concurrent virtual users (connections); 0 in open model */
    double rate;          /**< open model: requests per second; 0 in the closed model */
    uint64_t duration_ns; /**< how long the stage lasts */
} kb_stage_t;

/** Parses a comma-separated stage list into out[0..*n) (capacity KB_MAX_STAGES). Every
 * stage must use the same model. Returns 0, or -EINVAL with a reason in err. */
int kb_stages_parse(const char *s, kb_stage_t *out, size_t *n, char *err, size_t errcap);

#endif
