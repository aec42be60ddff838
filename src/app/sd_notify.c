#include "app/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int kl_sd_notify(const char *msg) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0]) return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@')) return -EINVAL;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@') sa.sun_path[0] = '\0'; /* abstract: the name's length is all that counts */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int r = 0;
    /* A datagram socket never blocks on a full receiver for long: MSG_DONTWAIT makes a
     * stuck supervisor cost us a lost message, not a stuck main thread. */
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, len) < 0) r = -errno;
    close(fd);
    return r;
}

int kl_sd_reloading(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    return kl_sd_notify(msg);
}

int kl_sd_reloaded(const char *status) {
    char msg[512];
    snprintf(msg, sizeof(msg), "READY=1%s%s", status ? "\nSTATUS=" : "", status ? status : "");
    return kl_sd_notify(msg);
}

uint64_t kl_sd_watchdog_usec(void) {
    const char *pid = getenv("WATCHDOG_PID"), *usec = getenv("WATCHDOG_USEC");
    if (!usec || !usec[0]) return 0;
    if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid()) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno || *end || v == 0) return 0;
    return (uint64_t)v;
}
