/* capacity.h - `--capacity 'p99<10ms'`: the objective and the search for the highest
 * open-model rate that meets it.
 *
 * The search starts at the -r rate and doubles it while runs pass; after the first failure
 * it bisects between the highest passing and the lowest failing rate until they are within
 * KB_CAPACITY_PRECISION of each other; when the first rate already fails it halves it until
 * one passes (not below 1 req/s). At most max_steps runs in all, so the whole search takes at
 * most max_steps x (step duration + drain). Pure: the caller carries out each run and says
 * whether it passed. */
#ifndef KB_CAPACITY_H
#define KB_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>

/** The search stops once the failing rate is within 5% above the passing one. */
#define KB_CAPACITY_PRECISION 0.05
/** A run fails when more than this fraction of its scheduled requests failed (transport
 * error, status >= 400) or were dropped (no free connection in time). */
#define KB_CAPACITY_ERROR_BUDGET 0.001
/** Default and largest number of runs in one search. */
#define KB_CAPACITY_STEPS 12
#define KB_CAPACITY_MAX_STEPS 50

typedef struct {
    double pct;     /**< the percentile, e.g. 99 or 99.9 */
    bool inclusive; /**< `<=` rather than `<` */
    double limit;   /**< nanoseconds */
    char text[64];  /**< the objective as given */
} kb_objective_t;

typedef struct {
    double start;      /**< the first rate (req/s) */
    double lo;         /**< highest rate that passed; 0 when none did */
    double hi;         /**< lowest rate that failed; 0 when none did */
    double max_rate;   /**< never try above this */
    unsigned steps;    /**< runs recorded */
    unsigned max_steps;/**< runs allowed */
} kb_capacity_t;

/** Parses an objective `pNN<DURATION` or `pNN<=DURATION`: NN is 50, 90, 95, 99, 999 (99.9),
 * 9999 (99.99) or any percentile written with its dot (p99.5, p75), above 0 and below 100;
 * DURATION a positive number with a unit: us, ms or s (no bare numbers: a capacity claim must
 * say what it means). Returns 0, or -EINVAL with a reason in err. */
int kb_objective_parse(const char *s, kb_objective_t *o, char *err, size_t errcap);

/** True when a run whose percentile o->pct was value_ns meets o. */
bool kb_objective_met(const kb_objective_t *o, double value_ns);

/** Starts a search at start req/s (> 0) with at most max_steps runs, none above max_rate. */
void kb_capacity_init(kb_capacity_t *c, double start, unsigned max_steps, double max_rate);

/** The rate of the next run, or 0 when the search is over (bounds reached, or the passing
 * and failing rates are close enough, or nothing down to 1 req/s passed). */
double kb_capacity_next(const kb_capacity_t *c);

/** Records that the run at rate passed or failed. */
void kb_capacity_record(kb_capacity_t *c, double rate, bool pass);

#endif
