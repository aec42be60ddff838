#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

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

void kl_log(int level, const char *msg, const char *fields_fmt, ...) {
    char line[2048], m[512];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    escape(m, sizeof(m), msg);
    int n = snprintf(line, sizeof(line), "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"msg\":\"%s\"", level,
                     (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (int)getpid(), m);
    if (fields_fmt && *fields_fmt && n < (int)sizeof(line) - 2) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields_fmt);
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fields_fmt, ap);
        va_end(ap);
    }
    if (n > (int)sizeof(line) - 3) n = (int)sizeof(line) - 3;
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
