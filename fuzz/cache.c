/* cache.c - libFuzzer driver for the response cache (src/app/cache.c) and the slab under it
 * (src/core/slab.c): the input is a program of cache operations run against a small budget,
 * so that eviction, invalidation, detaching and page reuse happen all the time, with bodies
 * on both sides of KL_SLAB_MAX.
 *
 * Input format: byte 0 picks the budget (4 KiB << (byte0 % 8)); then each operation is one
 * byte (op = byte % 8) followed by its arguments, read as bytes (0 when the input ends):
 *   0 put     key, length (2 bytes, 0..4095), tag mask (low 4 bits: tags t0..t3; bit 4: a
 *             key 300 bytes longer)
 *   1 lookup  key           2 invalidate  tag (t0..t7)     3 remove  key
 *   4 gzip    key, length (1 byte, times 9, + 1) on a current entry
 *   5 hold    key (a current entry; at most 8 held)          6 release the last held
 *   7 clear
 * Every body and gzip variant is a pattern derived from the put that made it, so any byte
 * read is checked. A model keeps, per key, the put that is current (if the cache may still
 * hold it) and its tags.
 *
 * Checked with abort(): a lookup finds only an entry the model still allows (never one
 * whose key was removed, invalidated through a tag or cleared), with the key, body, tags
 * and gzip variant of its last put; a held entry keeps its bytes until released, whatever
 * left the cache meanwhile; the charged bytes stay within the budget. Freed and unused
 * slab memory is poisoned under ASan, so reading a slot after its entry went is reported. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/cache.h"

#define KEYS 32
#define LONG_KEY 300

typedef struct {
    bool present;   /* the cache may hold this key's last put */
    uint32_t seq;   /* which put */
    size_t len;     /* its body's length */
    unsigned tags;  /* its tag mask */
    size_t gz_len;  /* its gzip variant's length, 0 for none */
    bool long_key;
} model_t;

typedef struct {
    const uint8_t *p, *end;
} input_t;

static unsigned next(input_t *in) { return in->p < in->end ? *in->p++ : 0; }

static char pattern(uint32_t seq, size_t i, bool gz) { return (char)(seq * 131u + i * 7u + (gz ? 3u : 0u)); }

static size_t key_of(unsigned id, bool long_key, char *out) {
    size_t n = 0;
    out[n++] = 'k';
    out[n++] = (char)('a' + id % 26);
    out[n++] = (char)('0' + id / 26);
    if (long_key)
        for (size_t i = 0; i < LONG_KEY; i++) out[n++] = (char)('A' + (id + i) % 26);
    return n;
}

static void check_entry(const kl_cache_entry_t *e, const model_t *m) {
    if (e->body_len != m->len) abort();
    const char *b = kl_cache_entry_body(e);
    for (size_t i = 0; i < m->len; i++)
        if (b[i] != pattern(m->seq, i, false)) abort();
    if ((e->gzip != NULL) != (m->gz_len != 0) || e->gzip_len != m->gz_len) abort();
    for (size_t i = 0; i < m->gz_len; i++)
        if (e->gzip[i] != pattern(m->seq, i, true)) abort();
    if (kl_cache_entry_ntags(e) != (size_t)__builtin_popcount(m->tags)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    input_t in = {data + 1, data + size};
    size_t budget = (size_t)4096 << (data[0] % 8);
    kl_cache_t *c = kl_cache_new(budget);
    static model_t model[KEYS];
    memset(model, 0, sizeof model);
    static char body[4096 + 1], gz[256 * 9 + 1], key[8 + LONG_KEY];
    kl_cache_entry_t *held[8];
    model_t held_as[8];
    size_t nheld = 0;
    uint32_t seq = 0;
    while (in.p < in.end) {
        unsigned op = next(&in) % 8;
        kl_cache_entry_t *e = NULL;
        switch (op) {
        case 0: {
            unsigned id = next(&in) % KEYS;
            size_t len = (next(&in) << 8 | next(&in)) % 4096;
            unsigned mask = next(&in);
            bool long_key = mask & 16;
            seq++;
            for (size_t i = 0; i < len; i++) body[i] = pattern(seq, i, false);
            static const kl_str_t names[] = {KL_STR("t0"), KL_STR("t1"), KL_STR("t2"), KL_STR("t3")};
            kl_str_t tags[4];
            size_t nt = 0;
            for (unsigned t = 0; t < 4; t++)
                if (mask & (1u << t)) tags[nt++] = names[t];
            kl_cache_put_t p = {.status = 200, .content_type = "application/json", .body = body, .body_len = len,
                                .ttl_ms = 1000000, .tags = nt ? tags : NULL, .ntags = nt};
            /* one form of a key at a time: the other goes first, so the model's one put is all there is */
            kl_cache_remove(c, key, key_of(id, !long_key, key));
            model[id] = (model_t){.long_key = long_key};
            int rc = kl_cache_put(c, key, key_of(id, long_key, key), &p, seq, &e);
            if (rc == 0) {
                model[id] = (model_t){.present = true, .seq = seq, .len = len, .tags = mask & 15, .long_key = long_key};
                check_entry(e, &model[id]);
            } else if (rc != -EFBIG && rc != -ENOMEM) {
                abort();
            }
            break;
        }
        case 1: case 4: case 5: {
            unsigned id = next(&in) % KEYS;
            size_t gz_len = op == 4 ? next(&in) * 9u + 1 : 0;
            model_t *m = &model[id];
            kl_cache_state_t st = kl_cache_lookup(c, key, key_of(id, m->long_key, key), seq, &e);
            if (st == KL_CACHE_MISS) {
                m->present = false; /* evicted */
                break;
            }
            if (!m->present) abort(); /* removed, invalidated, cleared or replaced: must not be found */
            kl_str_t k = kl_cache_entry_key(e);
            if (k.len != key_of(id, m->long_key, key) || memcmp(k.base, key, k.len) != 0) abort();
            check_entry(e, m);
            if (op == 4 && !e->gzip) {
                for (size_t i = 0; i < gz_len; i++) gz[i] = pattern(m->seq, i, true);
                int rc = kl_cache_set_gzip(c, e, gz, gz_len);
                if (rc == 0) m->gz_len = gz_len;
                else if (rc != -EFBIG && rc != -ENOMEM) abort();
                /* making room may have evicted any other key: the model learns at its next lookup */
            } else if (op == 5 && nheld < 8) {
                kl_cache_hold(e);
                held[nheld] = e;
                held_as[nheld++] = *m;
            }
            break;
        }
        case 2: {
            unsigned t = next(&in) % 8;
            char name[3] = {'t', (char)('0' + t), 0};
            kl_cache_invalidate_tag(c, (kl_str_t){name, 2});
            if (t < 4)
                for (unsigned id = 0; id < KEYS; id++)
                    if (model[id].tags & (1u << t)) model[id].present = false;
            break;
        }
        case 3: {
            unsigned id = next(&in) % KEYS;
            kl_cache_remove(c, key, key_of(id, model[id].long_key, key));
            model[id].present = false;
            break;
        }
        case 6:
            if (nheld) {
                /* a held entry keeps its bytes, in the cache or not; its gzip may have come later */
                kl_cache_entry_t *h = held[--nheld];
                model_t m = held_as[nheld];
                m.gz_len = h->gzip_len;
                m.tags = kl_cache_entry_ntags(h) ? m.tags : 0;
                check_entry(h, &m);
                kl_cache_release(c, h);
            }
            break;
        case 7:
            kl_cache_clear(c);
            for (unsigned id = 0; id < KEYS; id++) model[id].present = false;
            break;
        }
        if (kl_cache_stats(c)->bytes > budget) abort();
    }
    while (nheld) kl_cache_release(c, held[--nheld]);
    kl_cache_free(c);
    return 0;
}
