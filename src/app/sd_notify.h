/* sd_notify.h - systemd's service notification protocol, spoken without libsystemd: one
 * datagram per message to the unix socket named by $NOTIFY_SOCKET (a path, or '@' for
 * the abstract namespace), and the watchdog interval from $WATCHDOG_USEC. Everything is a
 * no-op when keel does not run under a notify-aware supervisor. Main thread only. */
#ifndef KL_SD_NOTIFY_H
#define KL_SD_NOTIFY_H

#include <stdint.h>

/** Sends msg ("KEY=value" lines) to $NOTIFY_SOCKET. Returns 0 (also when the variable is
 * unset: nobody listens) or -errno. */
int kl_sd_notify(const char *msg);
/** Sends "RELOADING=1" with the MONOTONIC_USEC= systemd wants beside it. Pair with
 * kl_sd_reloaded once the reload ended, however it ended. Returns 0 or -errno. */
int kl_sd_reloading(void);
/** Sends "READY=1" and STATUS=status (NULL: none) after a reload. Returns 0 or -errno. */
int kl_sd_reloaded(const char *status);
/** The watchdog interval systemd expects pings within, in microseconds; 0 when there is
 * no watchdog ($WATCHDOG_USEC unset or invalid, or $WATCHDOG_PID names another process). */
uint64_t kl_sd_watchdog_usec(void);

#endif
