#include "app/access_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "proto/json.h"

/* How long the writer sleeps when every ring was empty: bounds a line's delay, and the
 * writer's own cost when idle (500 wake-ups a second). */
#define IDLE_NS (2 * 1000 * 1000)

/* Drains ring r; returns whether there was anything. */
static bool drain(kl_alog_t *l, kl_alog_ring_t *r) {
    /* Acquire: the bytes below head were written before the shard published it. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (head == tail) return false;
    size_t at = (size_t)(tail & (r->cap - 1)), n = (size_t)(head - tail);
    size_t first = n < r->cap - at ? n : r->cap - at;
    kl_log_write_all(l->fd, r->buf + at, first);
    if (n > first) kl_log_write_all(l->fd, r->buf, n - first);
    /* Release: the shard may overwrite these bytes once it sees the new tail. */
    atomic_store_explicit(&r->tail, head, memory_order_release);
    return true;
}

static void *writer_main(void *arg) {
    kl_alog_t *l = arg;
    pthread_setname_np(pthread_self(), "keel-log");
    for (;;) {
        bool stop = atomic_load_explicit(&l->stop, memory_order_acquire), any = false;
        for (unsigned i = 0; i < l->n; i++) any |= drain(l, &l->rings[i]);
        if (stop && !any) {
            atomic_store_explicit(&l->done, 1, memory_order_release);
            return NULL;
        }
        if (!any) {
            struct timespec ts = {0, IDLE_NS};
            nanosleep(&ts, NULL);
        }
    }
}

kl_alog_t *kl_alog_start(unsigned n, size_t ring_bytes, int fd) {
    kl_alog_t *l = kl_calloc(sizeof(*l));
    size_t cap = 4096;
    while (cap < ring_bytes) cap *= 2;
    l->n = n;
    l->fd = fd;
    char host[256] = "", esc[256];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    kl_json_escape(esc, sizeof(esc), host, strlen(host));
    l->prefix_len = (size_t)snprintf(l->prefix, sizeof(l->prefix), ",\"pid\":%d,\"hostname\":\"%s\"", (int)getpid(), esc);
    l->rings = kl_calloc(sizeof(kl_alog_ring_t) * n);
    for (unsigned i = 0; i < n; i++) {
        l->rings[i].buf = kl_malloc(cap);
        l->rings[i].cap = cap;
    }
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        for (unsigned i = 0; i < n; i++) kl_free(l->rings[i].buf);
        kl_free(l->rings);
        kl_free(l);
        return NULL;
    }
    return l;
}

bool kl_alog_push(kl_alog_t *l, unsigned i, const char *line, size_t len) {
    kl_alog_ring_t *r = &l->rings[i];
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Acquire: the writer is done with the bytes below tail. */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (r->cap - (size_t)(head - tail) < len) return false;
    size_t at = (size_t)(head & (r->cap - 1));
    size_t first = len < r->cap - at ? len : r->cap - at;
    memcpy(r->buf + at, line, first);
    memcpy(r->buf, line + first, len - first);
    /* Release: the writer sees the line's bytes before the head that covers them. */
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    return true;
}

void kl_alog_stop(kl_alog_t *l, int wait_ms) {
    if (!l) return;
    atomic_store_explicit(&l->stop, 1, memory_order_release);
    for (int waited = 0; !atomic_load_explicit(&l->done, memory_order_acquire); waited++) {
        if (waited >= wait_ms) { /* blocked in write(2) on an output nobody reads */
            pthread_detach(l->thread); /* it keeps l and the rings: the process is ending */
            return;
        }
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    pthread_join(l->thread, NULL);
    for (unsigned i = 0; i < l->n; i++) kl_free(l->rings[i].buf);
    kl_free(l->rings);
    kl_free(l);
}
