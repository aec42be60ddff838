/* log.h - pino-shaped JSON log lines on stderr, one write(2) per line so lines from
 * different shards never interleave. Levels as pino: 30 info, 40 warn, 50 error. */
#ifndef KL_LOG_H
#define KL_LOG_H

#define KL_LOG_INFO 30
#define KL_LOG_WARN 40
#define KL_LOG_ERROR 50

/** Writes {"level":L,"time":ms,"pid":P,"msg":"<msg>"[,<fields>]} and a newline. msg is
 * escaped; fields_fmt is a printf format producing zero or more JSON members (callers
 * escape any untrusted text they put there). */
void kl_log(int level, const char *msg, const char *fields_fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
