/* restart.h - restarts that drop nothing (SIGUSR2): keel starts a new keel from the
 * binary on disk with the same arguments and environment, hands it the listening socket
 * (an fd number in $KEEL_INHERIT_LISTEN_FD), the admin listener's when there is one
 * ($KEEL_INHERIT_ADMIN_FD: the new keel could not bind its address while the old one holds
 * it) and a pipe ($KEEL_READY_FD) on which the new
 * one writes one byte once every shard serves. Only then does the old keel stop accepting
 * and drain; a new keel that exits, closes the pipe or is not ready within
 * KL_RESTART_READY_MS leaves the old one serving. Main thread only. */
#ifndef KL_RESTART_H
#define KL_RESTART_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How long a new keel may take to serve (its startup connects to PostgreSQL and checks
 * every route's SQL, 3 s at most for the connection) before the old one gives up on it. */
#define KL_RESTART_READY_MS 30000

typedef struct {
    char exe[PATH_MAX]; /**< the binary's path when keel started: a deploy replaces the file there */
    pid_t child;        /**< the new keel being waited for; 0: none */
    pid_t reap;         /**< a new keel that failed and was told to stop, not yet reaped; 0: none */
    int ready_fd;       /**< read end of the child's ready pipe; -1: none */
    uint64_t deadline_ms; /**< kl_clock_ms by which the child must be ready */
} kl_restart_t;

/** Records the binary's path. Call at startup, before any restart. */
void kl_restart_init(kl_restart_t *rs);
/** The listening fd a restarting keel handed this one (close-on-exec set again, variable
 * unset), -ENOENT when it was not started that way, or -EINVAL with a reason in err. */
int kl_restart_inherited_fd(char *err, size_t errlen);
/** The same for the admin listener's fd. */
int kl_restart_inherited_admin_fd(char *err, size_t errlen);
/** From the new keel once it serves: tells the old one (the ready pipe, when there is one)
 * and systemd (MAINPID= this process, READY=1, STATUS=status). */
void kl_restart_report_ready(const char *status);
/** Starts a new keel handing it listen_fd and admin_fd (-1: none). Returns 0 (poll with kl_restart_poll) or -errno
 * (logged; nothing changed: e.g. a restart is already under way). */
int kl_restart_begin(kl_restart_t *rs, int listen_fd, int admin_fd);
/** Non-blocking check on the restart under way: 1 the new keel is ready (the caller
 * drains and exits), 0 still waiting or none under way, -1 it failed (logged; the caller
 * keeps serving). */
int kl_restart_poll(kl_restart_t *rs);

/** Keel stops before the restart under way finished: the new keel, not ready yet, is told
 * to stop too (SIGTERM: it drains whatever it accepted), so that no keel outlives the
 * stop it was not told about. */
void kl_restart_abandon(kl_restart_t *rs);

#endif
