#include "app/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/restart.h"
#include "core/acceptor.h"
#include "core/log.h"
#include "proto/json.h"

/* sd_listen_fds(3): passed descriptors start here */
#define SD_LISTEN_FDS_START 3
/* more than anyone configures in one .socket unit; bounds the name parsing below */
#define SD_LISTEN_FDS_MAX 64

void kl_listener_name(int fd, char *name, size_t namelen) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    snprintf(name, namelen, "?");
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(name, namelen, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(name, namelen, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *a = (struct sockaddr_un *)&ss;
        snprintf(name, namelen, "%.*s", (int)sizeof(a->sun_path), a->sun_path[0] ? a->sun_path : "@");
    }
}

/* A stream socket that listens: anything else handed to us is a unit file mistake. */
static int check_listening(int fd, char *err, size_t errlen) {
    int v = 0;
    socklen_t l = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM) {
        snprintf(err, errlen, "socket-activated fd %d is not a stream socket", fd);
        return -EINVAL;
    }
    l = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || !v) {
        snprintf(err, errlen, "socket-activated fd %d is not listening", fd);
        return -EINVAL;
    }
    return 0;
}

/* systemd's fd named "admin", taken by kl_listener_open_admin (main thread, at startup). */
static int systemd_admin_fd = -1;

/* $LISTEN_FDS for this process: the fd to serve, -ENOENT when there is none. */
static int from_systemd(char *err, size_t errlen) {
    const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
    int r = -ENOENT;
    if (!pid || !nfds || strtol(pid, NULL, 10) != (long)getpid()) goto out;
    char *end;
    long n = strtol(nfds, &end, 10);
    if (*end || n <= 0 || n > SD_LISTEN_FDS_MAX) {
        snprintf(err, errlen, "LISTEN_FDS=%s: expected 1..%d sockets", nfds, SD_LISTEN_FDS_MAX);
        r = -EINVAL;
        goto out;
    }
    /* The one named "http", else the first one; the name list may be absent or short. */
    char names_of[SD_LISTEN_FDS_MAX][256] = {{0}};
    const char *p = names;
    int pick = -1;
    for (long i = 0; i < n; i++) {
        if (p) {
            size_t len = strcspn(p, ":");
            snprintf(names_of[i], sizeof(names_of[i]), "%.*s", (int)len, p);
            p = p[len] ? p + len + 1 : NULL;
        }
        if (pick < 0 && !strcmp(names_of[i], "http")) pick = SD_LISTEN_FDS_START + (int)i;
    }
    if (pick < 0) pick = SD_LISTEN_FDS_START;
    for (long i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + (int)i;
        /* never inherited by a program we start (a restart passes its own fds) */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (fd == pick) continue;
        if (systemd_admin_fd < 0 && !strcmp(names_of[i], "admin")) {
            systemd_admin_fd = fd;
            continue;
        }
        char esc[512];
        kl_json_escape(esc, sizeof(esc), names_of[i], strlen(names_of[i]));
        kl_log(KL_LOG_WARN, "ignoring a socket-activated fd keel has no use for", "\"fd\":%d,\"name\":\"%s\"", fd, esc);
    }
    r = check_listening(pick, err, errlen);
    if (r == 0) r = pick;
out:
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return r;
}

int kl_listener_open(const kl_config_t *cfg, kl_listener_origin_t *origin, char *name, size_t namelen, char *err,
                     size_t errlen) {
    int fd = kl_restart_inherited_fd(err, errlen);
    if (fd >= 0) {
        *origin = KL_LISTENER_INHERITED;
    } else if (fd == -ENOENT && (fd = from_systemd(err, errlen)) >= 0) {
        *origin = KL_LISTENER_SYSTEMD;
    } else if (fd == -ENOENT) {
        *origin = KL_LISTENER_BOUND;
        fd = kl_listen_tcp(cfg->listen, (int)cfg->port, 4096);
        if (fd < 0) {
            snprintf(err, errlen, "cannot listen on %s:%lld: %s", cfg->listen, (long long)cfg->port, strerror(-fd));
            return fd;
        }
    } else {
        return fd;
    }
    kl_listener_name(fd, name, namelen);
    return fd;
}

int kl_listener_open_admin(const kl_config_t *cfg, char *err, size_t errlen) {
    char host[256];
    int port = 0;
    int fd = kl_restart_inherited_admin_fd(err, errlen);
    if (fd != -ENOENT) return fd;
    if (systemd_admin_fd >= 0) {
        fd = systemd_admin_fd;
        systemd_admin_fd = -1;
        int r = check_listening(fd, err, errlen);
        return r < 0 ? r : fd;
    }
    int r = kl_config_admin_addr(cfg, host, sizeof(host), &port);
    if (r == 1) return -ENOENT;
    if (r < 0) {
        snprintf(err, errlen, "bad admin address %s", cfg->admin_listen);
        return r;
    }
    if ((fd = kl_listen_tcp(host, port, 128)) < 0)
        snprintf(err, errlen, "cannot listen on the admin address %s: %s (set KEEL_ADMIN_LISTEN, or off)",
                 cfg->admin_listen, strerror(-fd));
    return fd;
}
