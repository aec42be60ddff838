/* kt.h - the unit-test kit: checks that keep going, one "ok NAME" / "FAIL NAME" line per
 * test, a closing "N passed, N failed" line. tests/run.py reads the ok/FAIL lines. */
#ifndef KT_H
#define KT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int kt_failed_checks_;
static int kt_passed_, kt_failed_;

/** Records a failed check with its location and goes on. */
#define KT_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

/** Like KT_CHECK for two integers, printing both values. */
#define KT_EQ(a, b)                                                                            \
    do {                                                                                       \
        long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);                              \
        if (kt_a_ != kt_b_) {                                                                  \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
                    #b, kt_a_, kt_b_);                                                         \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

/** Checks that a (ptr,len) pair equals a C string. */
#define KT_STREQ(ptr, len, cstr)                                                               \
    do {                                                                                       \
        size_t kt_l_ = strlen(cstr);                                                           \
        if ((size_t)(len) != kt_l_ || memcmp((ptr), (cstr), kt_l_) != 0) {                     \
            fprintf(stderr, "  %s:%d: got \"%.*s\", want \"%s\"\n", __FILE__, __LINE__,        \
                    (int)(len), (const char *)(ptr), (cstr));                                  \
            kt_failed_checks_++;                                                               \
        }                                                                                      \
    } while (0)

/** Runs one test function and prints its ok/FAIL line. */
#define KT_RUN(fn)                                                                             \
    do {                                                                                       \
        int kt_before_ = kt_failed_checks_;                                                    \
        fn();                                                                                  \
        if (kt_failed_checks_ == kt_before_) {                                                 \
            kt_passed_++;                                                                      \
            printf("ok %s\n", #fn);                                                            \
        } else {                                                                               \
            kt_failed_++;                                                                      \
            printf("FAIL %s\n", #fn);                                                          \
        }                                                                                      \
        fflush(stdout);                                                                        \
    } while (0)

/** Prints the closing line; use as `return KT_DONE();` from main. */
#define KT_DONE() (printf("%d passed, %d failed\n", kt_passed_, kt_failed_), kt_failed_ ? 1 : 0)

/** Copies len bytes so that they end exactly at a PROT_NONE page: any over-read faults.
 * The returned pointer stays valid until kt_guard_free. */
static inline char *kt_guard_copy(const void *data, size_t len) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (len + pg - 1) / pg * pg + pg;
    char *base = mmap(NULL, span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) abort();
    /* remember the mapping in the page before the data is placed */
    char *guard = base + span;
    mprotect(guard, pg, PROT_NONE);
    char *p = guard - len;
    if (len) memcpy(p, data, len);
    return p;
}

/** Unmaps a buffer from kt_guard_copy (len must match). */
static inline void kt_guard_free(char *p, size_t len) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (len + pg - 1) / pg * pg + pg;
    char *guard = p + len;
    munmap(guard - span, span + pg);
}

#endif
