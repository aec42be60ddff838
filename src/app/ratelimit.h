/* ratelimit.h - exact request counting for @rate, one table shared by every shard, no lock.
 *
 * The rule: a key (one route's policy for one client) may make `limit` requests per window
 * of `window_ms`; in the same window the next one is refused, whichever shard or connection
 * it arrives on. Refused requests are not counted. Windows are fixed, not sliding: a key's
 * windows follow each other back to back, their boundaries shifted from multiples of
 * window_ms by an offset drawn from the key's hash (clients' budgets do not all come back at
 * the same instant, and the shift is the same for every request of the key, which the
 * exactness argument below needs). So 20/min lets 20 requests through in each of the key's
 * minutes; 40 can pass within a minute that straddles a boundary, as with any fixed window.
 *
 * Storage: 2^k slots of one 64-bit word each, updated with compare-and-swap:
 *
 *     fingerprint (16 bits, lowest always 1) | window end (28 bits, ms mod 2^28) | count (20)
 *
 * A key's slot is looked up by linear probing from a home slot (at most KL_RATELIMIT_PROBES
 * slots), and only ever identified by its fingerprint and the end of its window: the window
 * is part of the identity. A slot is free for key K's window [S, E) when it is empty or its
 * own window ended at or before S. A claim writes an end later than the end it replaced, so
 * once a slot is not free for [S, E) it stays so; probing therefore stops at the first slot
 * that is K's window or free for it, and two shards counting K's window at the same time
 * meet at the same slot: there is never a second slot for one key's window. After counting,
 * the clock is read again; a count made after its window ended (a thread descheduled across
 * the boundary) is retried in the next window. Hence: in every window, at most `limit`
 * requests of a key pass. The only imprecisions err on the side of refusing: a request
 * counted just as its window ends passes or not in the next window, and the count it left
 * in the old one may refuse another request of that same instant one early; two keys with
 * equal fingerprints in one probe range and equal window ends share one count (the chance
 * is about 2^-15 / window_ms per pair of keys near each other).
 *
 * Memory: 8 bytes a slot, allocated once. An idle key costs nothing once its window ended:
 * its slot is free for any window that begins after that (with windows of W, a slot serves
 * other keys at most W after its key went idle). kl_ratelimit_sweep empties slots whose
 * windows ended over an hour ago, so that no old end can wrap around 2^28 ms (74 hours) and
 * look new. When all the probes of a new key's range hold live windows, the key is refused
 * (KL_RATELIMIT_FULL) rather than counted nowhere: a flood of new keys can be refused, but
 * it can neither evict nor reset the count of a key that already holds a slot. Linear
 * probing's clusters grow fast with the load, so the range is long: with 32 probes a table
 * 50% full refused about one new key in 440,000, and one 60% full one in 9,000; with 128,
 * none of 3.7 million at 70% and one in 12,700 at 80% (bench_ratelimit). A long range
 * costs only refusals and crowded tables: a lookup stops at its key's slot or the first
 * free one. */
#ifndef KL_RATELIMIT_H
#define KL_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define KL_RATELIMIT_MAX_LIMIT 1000000u       /**< largest limit a window can count to */
#define KL_RATELIMIT_MAX_WINDOW_MS 3600000u   /**< longest window (an hour) */
#define KL_RATELIMIT_PROBES 128               /**< slots a key may be found in (fewer in a smaller table) */
#define KL_RATELIMIT_MIN_SLOTS 64             /**< smallest table */
#define KL_RATELIMIT_MAX_SLOTS (1u << 24)     /**< largest table */

typedef struct kl_ratelimit kl_ratelimit_t;

/** kl_ratelimit_hit results. */
enum {
    KL_RATELIMIT_OK = 0,      /**< counted: the request may go on */
    KL_RATELIMIT_LIMITED = 1, /**< the window's limit was reached: refuse it */
    KL_RATELIMIT_FULL = 2,    /**< the key has no slot and none is free: refuse it */
};

/** What a hit saw. */
typedef struct {
    uint32_t count;    /**< requests counted in the window (this one included when OK) */
    uint64_t reset_ms; /**< ms until the window ends, >= 1 */
    uint64_t window;   /**< the window counted in (for kl_ratelimit_undo) */
} kl_ratelimit_hit_t;

/** A table of `slots` slots (a power of two, KL_RATELIMIT_MIN_SLOTS..KL_RATELIMIT_MAX_SLOTS)
 * on the monotonic clock `clock(ctx)` in ms (NULL: kl_clock_ms), which every thread using the
 * table must share. Returns NULL when slots is not such a number (memory: as kl_calloc). */
kl_ratelimit_t *kl_ratelimit_new(size_t slots, uint64_t (*clock)(void *ctx), void *ctx);

/** Frees t (no thread may use it any more). */
void kl_ratelimit_free(kl_ratelimit_t *t);

/** Counts one request of key (a 64-bit hash, seeded so clients cannot choose it) against
 * `limit` (1..KL_RATELIMIT_MAX_LIMIT) per `window_ms` (1..KL_RATELIMIT_MAX_WINDOW_MS); the
 * same key must always come with the same window_ms. Returns a KL_RATELIMIT_* value and
 * fills *out. Lock-free: safe from any thread at once. */
int kl_ratelimit_hit(kl_ratelimit_t *t, uint64_t key, uint32_t limit, uint32_t window_ms, kl_ratelimit_hit_t *out);

/** Takes back one request that kl_ratelimit_hit counted (OK) for key in out->window, when
 * that window still holds a count (used when a second limit refuses the request after a
 * first counted it). */
void kl_ratelimit_undo(kl_ratelimit_t *t, uint64_t key, uint64_t window);

/** Empties the slots [from, from + n) (wrapping) whose windows ended more than
 * KL_RATELIMIT_MAX_WINDOW_MS + a minute ago. Returns how many it emptied. Call it so that
 * the whole table is swept at least every few hours (keel: all of it every minute). */
size_t kl_ratelimit_sweep(kl_ratelimit_t *t, size_t from, size_t n);

/** The table's number of slots. */
size_t kl_ratelimit_slots(const kl_ratelimit_t *t);

/** Slots holding a window that has not ended (a full scan: for tests and metrics). */
size_t kl_ratelimit_live(kl_ratelimit_t *t);

#endif
