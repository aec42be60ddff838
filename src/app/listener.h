/* listener.h - where keel's listening socket comes from: inherited from the keel that
 * restarted into this one (restart.h), handed over by systemd's socket activation
 * ($LISTEN_FDS), or bound here from --listen/--port, in that order of preference. */
#ifndef KL_LISTENER_H
#define KL_LISTENER_H

#include <stddef.h>

#include "app/config.h"

/** Where the socket came from. */
typedef enum { KL_LISTENER_BOUND, KL_LISTENER_SYSTEMD, KL_LISTENER_INHERITED } kl_listener_origin_t;

/** Opens the main HTTP listener (close-on-exec, listening) and writes its address
 * ("127.0.0.1:8080", "[::1]:80", or a unix path) into name. Takes $LISTEN_FDS only when
 * $LISTEN_PID is this process; picks the fd named "http" in $LISTEN_FDNAMES, else the first,
 * keeps the one named "admin" for kl_listener_open_admin, and logs the others, which it
 * leaves alone. Unsets the $LISTEN_* variables (a child must
 * not take them for its own). Returns the fd, or -errno with a reason in err. */
int kl_listener_open(const kl_config_t *cfg, kl_listener_origin_t *origin, char *name, size_t namelen, char *err,
                     size_t errlen);

/** Opens the admin listener (after kl_listener_open): inherited from a restarting keel,
 * else systemd's fd named "admin", else bound from cfg->admin_listen. Returns the fd, -ENOENT
 * when the admin listener is off, or -errno with a reason in err. */
int kl_listener_open_admin(const kl_config_t *cfg, char *err, size_t errlen);

/** Writes fd's local address as "host:port" into name (best effort: "?" when unknown). */
void kl_listener_name(int fd, char *name, size_t namelen);

#endif
