/* log.h - pino-shaped JSON log lines on stderr; lines from different threads never
 * interleave. Levels as pino: 30 info, 40 warn, 50 error. While the writer thread runs
 * (kl_log_start), a caller only queues its line: a stderr that nobody reads (a stuck pipe,
 * a full journal socket) drops lines, counted and reported, instead of stalling a shard. */
#ifndef KL_LOG_H
#define KL_LOG_H

#include <stddef.h>
#include <stdint.h>

#define KL_LOG_INFO 30
#define KL_LOG_WARN 40
#define KL_LOG_ERROR 50

/** Writes {"level":L,"time":ms,"pid":P,"msg":"<msg>"[,<fields>]} and a newline. msg is
 * escaped; fields_fmt is a printf format producing zero or more JSON members (callers
 * escape any untrusted text they put there). */
void kl_log(int level, const char *msg, const char *fields_fmt, ...) __attribute__((format(printf, 3, 4)));
/** Writes one plain-text line (a printf format; the newline is added, a longer line cut at
 * 2 KiB) the way kl_log writes its JSON lines: queued while the writer runs. For the
 * `keel: ...` errors of a start that fails, which people read on a terminal. */
void kl_log_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Writes all n bytes of p to fd, a log output, retrying on EINTR and partial writes; gives
 * up (the bytes are lost) on an error or a closed output rather than stop the caller. */
void kl_log_write_all(int fd, const char *p, size_t n);
/** Starts the writer thread with a queue of queue_bytes (rounded up to a power of two);
 * until then, and after kl_log_stop, kl_log writes directly. 0 or -errno. */
int kl_log_start(size_t queue_bytes);
/** Waits up to wait_ms for the queue to be written, then stops the writer (a writer stuck
 * on stderr is left behind and later lines are dropped). Returns the lines dropped in all. */
uint64_t kl_log_stop(int wait_ms);

#endif
