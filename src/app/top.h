/* top.h - `keel top`: a live terminal view of a running keel, read from its admin listener's
 * /metrics once a second (like htop or pm2 monit): per route requests/s, p50/p99, 4xx/5xx per
 * second and cache hit ratio; the database pool and queue; per shard connections and loop
 * lag. Plain blocking sockets with timeouts, ANSI escapes on the alternate screen, the
 * terminal in raw mode so `q` quits at once; the terminal is restored on every exit path
 * (q, Ctrl-C, SIGTERM, SIGHUP) and while suspended by Ctrl-Z. An unreachable admin endpoint is shown as such and retried
 * every second. */
#ifndef KL_TOP_H
#define KL_TOP_H

/** Runs `keel top` with argv[0] == "top". Returns the process exit code: 0 after q, Ctrl-C
 * or --once, 2 for bad usage, 1 when --once could not scrape. */
int kl_top_main(int argc, char **argv);

#endif
