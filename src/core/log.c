#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048 /* a kl_log or kl_log_text line, newline included: cut to this */

/* The queue between kl_log's callers (any thread) and the writer thread. Callers copy a
 * line in under the mutex and never wait for stderr; only the writer makes the write(2),
 * outside the mutex: callers write only into the free part [head, tail + cap), the writer
 * reads only [tail, head), so the bytes it writes cannot change under it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t more, drained;
    char *buf;
    size_t cap;          /* a power of two */
    uint64_t head, tail; /* bytes ever queued, ever written */
    uint64_t dropped, reported;
    bool on, stop, abandoned;
    pthread_t thread;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER};

static void escape(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out[o++] = '\\', out[o++] = (char)c;
        else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* Copies line into the queue if it has room (q.mu held). */
static bool enqueue_locked(const char *line, size_t n) {
    if (q.cap - (size_t)(q.head - q.tail) < n) return false;
    size_t at = (size_t)(q.head & (q.cap - 1)), first = n < q.cap - at ? n : q.cap - at;
    memcpy(q.buf + at, line, first);
    memcpy(q.buf, line + first, n - first);
    q.head += n;
    pthread_cond_signal(&q.more);
    return true;
}

/* Queues line, writes it directly when no writer runs, or drops it. */
static void emit(const char *line, size_t n) {
    pthread_mutex_lock(&q.mu);
    bool direct = !q.on && !q.abandoned;
    if (q.on && !enqueue_locked(line, n)) q.dropped++;
    pthread_mutex_unlock(&q.mu);
    if (direct) {
        ssize_t w = write(STDERR_FILENO, line, n); /* one write: lines never interleave */
        (void)w;
    }
}

void kl_log_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* a broken output must not stop the server: the lines are lost */
        p += w;
        n -= (size_t)w;
    }
}

static size_t vformat(char *line, int level, const char *msg, const char *fields_fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static size_t __attribute__((format(printf, 4, 5))) format_line(char *line, int level, const char *msg,
                                                                const char *fields_fmt, ...) {
    va_list ap;
    va_start(ap, fields_fmt);
    size_t n = vformat(line, level, msg, fields_fmt, ap);
    va_end(ap);
    return n;
}

static void *writer(void *arg) {
    (void)arg;
    char out[4096]; /* PIPE_BUF on Linux */
    char report[LINE_MAX_BYTES];
    pthread_setname_np(pthread_self(), "keel-stderr");
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (q.head == q.tail && !q.stop) pthread_cond_wait(&q.more, &q.mu);
        if (q.head == q.tail) break; /* stopping, and everything is written */
        size_t at = (size_t)(q.tail & (q.cap - 1)), n = (size_t)(q.head - q.tail);
        if (n > sizeof(out)) n = sizeof(out);
        size_t first = n < q.cap - at ? n : q.cap - at;
        memcpy(out, q.buf + at, first);
        memcpy(out + first, q.buf, n - first);
        pthread_mutex_unlock(&q.mu);
        /* Whole lines in one write of at most PIPE_BUF: a pipe takes such a write entirely
         * or not at all, so a reader never sees half a line, even of a writer abandoned
         * at exit. A line is at most half of out, so there is always one. */
        size_t whole = n;
        while (whole > 0 && out[whole - 1] != '\n') whole--;
        if (whole) n = whole;
        kl_log_write_all(STDERR_FILENO, out, n); /* may block for as long as stderr's reader takes */
        pthread_mutex_lock(&q.mu);
        q.tail += n;
        pthread_cond_broadcast(&q.drained);
        uint64_t d = q.dropped - q.reported;
        if (d && !q.stop) { /* say so once there is room again */
            pthread_mutex_unlock(&q.mu);
            size_t rn = format_line(report, KL_LOG_WARN, "log lines dropped: stderr was not taking them",
                                    "\"dropped\":%llu", (unsigned long long)d);
            pthread_mutex_lock(&q.mu);
            /* Callers may have filled the room first. Then the report waits for the next
             * write; it is not a lost line, so it is not counted as one. */
            if (enqueue_locked(report, rn)) q.reported += d;
        }
    }
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

int kl_log_start(size_t queue_bytes) {
    size_t cap = 4096;
    while (cap < queue_bytes) cap *= 2;
    char *buf = malloc(cap);
    if (!buf) return -ENOMEM;
    pthread_mutex_lock(&q.mu);
    q.buf = buf, q.cap = cap, q.head = q.tail = 0, q.stop = false, q.on = true;
    /* The writer never takes a process-directed signal: the server waits for its signals
     * with sigwaitinfo, which only works while no thread leaves them unblocked (a thread
     * started before it blocks them would take SIGTERM's default action, ending keel). The
     * faults stay open so that the crash handler reports one here. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV), sigdelset(&all, SIGBUS), sigdelset(&all, SIGFPE), sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&q.thread, NULL, writer, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) q.on = false, q.buf = NULL;
    pthread_mutex_unlock(&q.mu);
    if (r != 0) free(buf);
    return -r;
}

uint64_t kl_log_stop(int wait_ms) {
    pthread_mutex_lock(&q.mu);
    if (!q.on) {
        pthread_mutex_unlock(&q.mu);
        return q.dropped;
    }
    q.stop = true;
    pthread_cond_signal(&q.more);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* the condition variable's default clock */
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (q.head != q.tail && pthread_cond_timedwait(&q.drained, &q.mu, &until) == 0) {
    }
    bool flushed = q.head == q.tail;
    q.on = false;
    q.abandoned = !flushed; /* stderr takes nothing: later lines are dropped, not waited for */
    uint64_t dropped = q.dropped;
    char *buf = q.buf;
    pthread_mutex_unlock(&q.mu);
    if (flushed) {
        pthread_join(q.thread, NULL);
        free(buf);
    } else {
        pthread_detach(q.thread); /* blocked in write(2): it keeps buf, the process is ending */
    }
    return dropped;
}

void kl_log(int level, const char *msg, const char *fields_fmt, ...) {
    char line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fields_fmt);
    size_t n = vformat(line, level, msg, fields_fmt, ap);
    va_end(ap);
    emit(line, n);
}

void kl_log_text(const char *fmt, ...) {
    char line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    emit(line, (size_t)n);
}

/* One JSON line of at most LINE_MAX_BYTES, newline included, into line; returns its length. */
static size_t vformat(char *line, int level, const char *msg, const char *fields_fmt, va_list ap) {
    char m[512];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    escape(m, sizeof(m), msg);
    int n = snprintf(line, LINE_MAX_BYTES, "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"msg\":\"%s\"", level,
                     (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (int)getpid(), m);
    if (fields_fmt && *fields_fmt && n < LINE_MAX_BYTES - 2) {
        line[n++] = ',';
        n += vsnprintf(line + n, LINE_MAX_BYTES - (size_t)n, fields_fmt, ap);
    }
    if (n > LINE_MAX_BYTES - 3) n = LINE_MAX_BYTES - 3;
    line[n++] = '}';
    line[n++] = '\n';
    return (size_t)n;
}
