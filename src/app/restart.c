#include "app/restart.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/sd_notify.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "proto/json.h"

#define ENV_LISTEN_FD "KEEL_INHERIT_LISTEN_FD"
#define ENV_ADMIN_FD "KEEL_INHERIT_ADMIN_FD"
#define ENV_READY_FD "KEEL_READY_FD"
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
/* /proc/self/cmdline larger than this is not an argv keel would have been started with */
#define CMDLINE_MAX (1u << 20)

extern char **environ;

void kl_restart_init(kl_restart_t *rs) {
    memset(rs, 0, sizeof(*rs));
    rs->ready_fd = -1;
    ssize_t n = readlink("/proc/self/exe", rs->exe, sizeof(rs->exe) - 1);
    if (n < 0) n = 0;
    rs->exe[n] = '\0';
    /* Replaced on disk already (a deploy raced our start): the path is still the one to run. */
    const char *del = " (deleted)";
    size_t dl = strlen(del);
    if ((size_t)n > dl && !strcmp(rs->exe + n - dl, del)) rs->exe[n - dl] = '\0';
}

static int env_fd(const char *var, char *err, size_t errlen) {
    const char *v = getenv(var);
    if (!v) return -ENOENT;
    char *end;
    errno = 0;
    long fd = strtol(v, &end, 10);
    if (errno || *end || fd < 0 || fd > 1 << 20 || fcntl((int)fd, F_GETFD) < 0) {
        snprintf(err, errlen, "%s=%s is not an open file descriptor", var, v);
        return -EINVAL;
    }
    return (int)fd;
}

static int inherited(const char *var, char *err, size_t errlen) {
    int fd = env_fd(var, err, errlen);
    unsetenv(var);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int kl_restart_inherited_fd(char *err, size_t errlen) { return inherited(ENV_LISTEN_FD, err, errlen); }

int kl_restart_inherited_admin_fd(char *err, size_t errlen) { return inherited(ENV_ADMIN_FD, err, errlen); }

void kl_restart_report_ready(const char *status) {
    char err[128], msg[512];
    int fd = env_fd(ENV_READY_FD, err, sizeof(err));
    if (fd >= 0) {
        /* the old keel drains from here on: it reads this byte, or EOF when we are gone */
        if (write(fd, "1", 1) != 1) kl_log(KL_LOG_WARN, "cannot tell the old keel this one is ready", NULL);
        close(fd);
    }
    /* MAINPID first: under NotifyAccess=all systemd follows the new process from here */
    snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1\nSTATUS=%s", (int)getpid(), status);
    kl_sd_notify(msg);
}

/* argv as this process got it, from /proc/self/cmdline (NUL-separated). */
static char **read_argv(char **buf_out) {
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = kl_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= CMDLINE_MAX) break;
            cap *= 2;
            buf = kl_realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (len == 0) {
        kl_free(buf);
        return NULL;
    }
    buf[len] = '\0';
    size_t argc = 0;
    for (size_t i = 0; i < len; i++) argc += buf[i] == '\0';
    if (buf[len - 1] != '\0') argc++;
    char **argv = kl_malloc((argc + 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < len && k < argc; i += strlen(buf + i) + 1) argv[k++] = buf + i;
    argv[k] = NULL;
    *buf_out = buf;
    return argv;
}

static bool dropped(const char *e) {
    /* ours are set anew; systemd's describe this process, not the child (WATCHDOG_PID would
     * make the child think the watchdog is someone else's) */
    static const char *const drop[] = {ENV_LISTEN_FD "=", ENV_ADMIN_FD "=", ENV_READY_FD "=", "WATCHDOG_PID=", "LISTEN_PID=",
                                       "LISTEN_FDS=", "LISTEN_FDNAMES="};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (!strncmp(e, drop[i], strlen(drop[i]))) return true;
    return false;
}

int kl_restart_begin(kl_restart_t *rs, int listen_fd, int admin_fd) {
    if (rs->child || rs->reap) {
        kl_log(KL_LOG_WARN, "SIGUSR2: a restart is already under way; ignored", "\"child\":%d",
               (int)(rs->child ? rs->child : rs->reap));
        return -EBUSY;
    }
    if (!rs->exe[0]) {
        kl_log(KL_LOG_ERROR, "SIGUSR2: cannot restart: the binary's path is unknown", NULL);
        return -ENOENT;
    }
    char *argbuf = NULL;
    char **argv = read_argv(&argbuf);
    if (!argv) {
        kl_log(KL_LOG_ERROR, "SIGUSR2: cannot restart: /proc/self/cmdline is unreadable", NULL);
        return -EIO;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        int e = errno;
        kl_log(KL_LOG_ERROR, "SIGUSR2: cannot restart: pipe failed", "\"error\":\"%s\"", strerror(e));
        kl_free(argv);
        kl_free(argbuf);
        return -e;
    }
    size_t n = 0;
    while (environ[n]) n++;
    char **envp = kl_malloc((n + 4) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!dropped(environ[i])) envp[k++] = environ[i];
    char lvar[64], avar[64], rvar[64];
    snprintf(lvar, sizeof(lvar), ENV_LISTEN_FD "=%d", listen_fd);
    snprintf(avar, sizeof(avar), ENV_ADMIN_FD "=%d", admin_fd);
    snprintf(rvar, sizeof(rvar), ENV_READY_FD "=%d", p[1]);
    envp[k++] = lvar;
    if (admin_fd >= 0) envp[k++] = avar;
    envp[k++] = rvar;
    envp[k] = NULL;

    pid_t pid = fork();
    if (pid == 0) {
        /* The child of a threaded process: async-signal-safe calls only, until execve.
         * Nothing but the listeners and the pipe may leak into the new keel (a client
         * socket kept open there would never be answered nor closed). */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
        fcntl(listen_fd, F_SETFD, 0);
        if (admin_fd >= 0) fcntl(admin_fd, F_SETFD, 0);
        fcntl(p[1], F_SETFD, 0);
        execve(rs->exe, argv, envp);
        _exit(127);
    }
    int e = errno;
    close(p[1]);
    kl_free(envp);
    kl_free(argv);
    kl_free(argbuf);
    if (pid < 0) {
        close(p[0]);
        kl_log(KL_LOG_ERROR, "SIGUSR2: cannot restart: fork failed", "\"error\":\"%s\"", strerror(e));
        return -e;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    rs->child = pid;
    rs->ready_fd = p[0];
    rs->deadline_ms = kl_clock_ms() + KL_RESTART_READY_MS;
    char exe[2 * PATH_MAX];
    kl_json_escape(exe, sizeof(exe), rs->exe, strlen(rs->exe));
    kl_log(KL_LOG_INFO, "SIGUSR2: starting a new keel", "\"child\":%d,\"exe\":\"%s\"", (int)pid, exe);
    return 0;
}

static int failed(kl_restart_t *rs, const char *why, int status) {
    char what[96] = "";
    if (status >= 0 && WIFEXITED(status)) snprintf(what, sizeof(what), ",\"exit_code\":%d", WEXITSTATUS(status));
    else if (status >= 0 && WIFSIGNALED(status)) snprintf(what, sizeof(what), ",\"signal\":%d", WTERMSIG(status));
    kl_log(KL_LOG_ERROR, "restart failed; this keel keeps serving", "\"child\":%d,\"reason\":\"%s\"%s",
           (int)rs->child, why, what);
    close(rs->ready_fd);
    rs->ready_fd = -1;
    rs->child = 0;
    return -1;
}

int kl_restart_poll(kl_restart_t *rs) {
    if (rs->reap && waitpid(rs->reap, NULL, WNOHANG) != 0) rs->reap = 0;
    if (!rs->child) return 0;
    char b;
    ssize_t n = read(rs->ready_fd, &b, 1);
    if (n == 1) {
        kl_log(KL_LOG_INFO, "restart: the new keel serves; this one stops accepting and drains", "\"child\":%d",
               (int)rs->child);
        close(rs->ready_fd);
        rs->ready_fd = -1;
        rs->child = 0; /* ours until we exit; then the init process (or systemd) reaps it */
        return 1;
    }
    int st;
    if (waitpid(rs->child, &st, WNOHANG) == rs->child) return failed(rs, "the new keel exited before it served", st);
    if (n == 0 || kl_clock_ms() >= rs->deadline_ms) {
        /* it lives but will never report (closed the pipe), or is too slow: stop it; it
         * may have accepted connections already, so it gets the graceful SIGTERM */
        kill(rs->child, SIGTERM);
        rs->reap = rs->child;
        return failed(rs, n == 0 ? "the new keel closed its ready pipe without serving"
                                 : "the new keel did not serve within the restart deadline", -1);
    }
    return 0;
}

void kl_restart_abandon(kl_restart_t *rs) {
    if (!rs->child) return;
    kl_log(KL_LOG_WARN, "stopping before the new keel served; stopping it too", "\"child\":%d", (int)rs->child);
    kill(rs->child, SIGTERM);
    close(rs->ready_fd);
    rs->ready_fd = -1;
    rs->child = 0;
}
