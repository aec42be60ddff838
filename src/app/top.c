/* top.c - `keel top`; see top.h.
 *
 * One thread, one loop: scrape, draw, then wait for a key or the next second in poll(). The
 * screen is drawn as one buffer per frame (cursor home, each line cleared to its end, the
 * rest of the screen cleared), so a frame never flickers half-drawn. Signals only set a flag:
 * the loop sees it when poll() returns EINTR and restores the terminal on its way out. */
#include "app/top.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "app/top_model.h"
#include "proto/http1.h"

#define DEFAULT_ADMIN "127.0.0.1:9180"
#define MAX_RESPONSE (8u << 20) /* /metrics larger than this is refused, not buffered */
#define IO_TIMEOUT_MS 2000
#define FRAME_CAP (256u << 10)

static volatile sig_atomic_t stop_flag, resized_flag, suspend_flag;

static void on_stop(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void on_winch(int sig) {
    (void)sig;
    resized_flag = 1;
}

static void on_tstp(int sig) {
    (void)sig;
    suspend_flag = 1;
}

static const char enter_screen[] = "\033[?1049h\033[?25l\033[H\033[2J", leave_screen[] = "\033[?25h\033[?1049l";

typedef struct {
    char host[256];
    char port[8];
    char shown[300]; /* HOST:PORT as given */
} endpoint_t;

/* HOST:PORT or [V6]:PORT; a wildcard host (0.0.0.0, ::, empty) is reached on loopback. */
static int parse_endpoint(const char *s, endpoint_t *e) {
    const char *colon = strrchr(s, ':');
    if (!colon || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof e->port) return -EINVAL;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9') return -EINVAL;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535) return -EINVAL;
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof e->host) return -EINVAL;
    memcpy(e->host, h, hl);
    e->host[hl] = 0;
    if (!hl || !strcmp(e->host, "0.0.0.0")) snprintf(e->host, sizeof e->host, "127.0.0.1");
    if (!strcmp(e->host, "::")) snprintf(e->host, sizeof e->host, "::1");
    snprintf(e->port, sizeof e->port, "%ld", port);
    snprintf(e->shown, sizeof e->shown, "%s", s);
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return -errno;
        if (r < 0 && stop_flag) return -EINTR;
    }
}

/* GET /metrics from e into buf (cap bytes); on success *body and *blen give the body inside
 * buf (decoded when chunked). Every step is bounded by IO_TIMEOUT_MS in all. Returns 0, or
 * -errno with a reason in err. */
static int scrape(const endpoint_t *e, char *buf, size_t cap, char **body, size_t *blen, char *err, size_t errcap) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(e->host, e->port, &hints, &ai), fd = -1, rc;
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    if (gai || !ai) {
        snprintf(err, errcap, "cannot resolve %s: %s", e->host, gai ? gai_strerror(gai) : "no address");
        if (ai) freeaddrinfo(ai);
        return -EHOSTUNREACH;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errcap, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        rc = -errno;
        snprintf(err, errcap, "connect: %s", strerror(errno));
        goto out;
    }
    if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0) {
        snprintf(err, errcap, "connect: %s", strerror(-rc));
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        rc = -soerr;
        snprintf(err, errcap, "connect: %s", strerror(soerr));
        goto out;
    }
    char req[400];
    int rl = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: %s\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
                      e->shown);
    for (int sent = 0; sent < rl;) {
        ssize_t n = send(fd, req + sent, (size_t)(rl - sent), MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0) goto io_err;
            continue;
        }
        if (n < 0) {
            rc = -errno;
            goto io_err;
        }
        sent += (int)n;
    }
    size_t len = 0;
    for (;;) {
        if (len == cap - 1) {
            rc = -EMSGSIZE;
            snprintf(err, errcap, "/metrics response larger than %u MiB", (unsigned)(cap >> 20));
            goto out;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) break;
        if (errno == EAGAIN) {
            if ((rc = wait_fd(fd, POLLIN, deadline)) < 0) goto io_err;
            continue;
        }
        if (errno == EINTR) continue;
        rc = -errno;
        goto io_err;
    }
    buf[len] = 0;
    char *head_end = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!head_end || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        rc = -EPROTO;
        snprintf(err, errcap, "not an HTTP response (%zu bytes)", len);
        goto out;
    }
    if (status != 200) {
        rc = -EPROTO;
        snprintf(err, errcap, "GET /metrics answered %d", status);
        goto out;
    }
    *head_end = 0;
    bool chunked = false;
    long long clen = -1;
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "transfer-encoding:", 18) && strstr(line + 20, "chunked")) chunked = true;
        if (!strncasecmp(line + 2, "content-length:", 15)) clen = strtoll(line + 17, NULL, 10);
    }
    *body = head_end + 4;
    *blen = len - (size_t)(*body - buf);
    if (!chunked && clen >= 0) {
        if ((unsigned long long)clen > *blen) { /* closed early: half a scrape would read as a drop to zero */
            rc = -EPROTO;
            snprintf(err, errcap, "/metrics body cut short: %zu of %lld bytes", *blen, clen);
            goto out;
        }
        *blen = (size_t)clen;
    }
    if (chunked) {
        kl_http1_chunked_t st = {.max_body = cap};
        if (kl_http1_decode_chunked(&st, *body, blen) < 0) {
            rc = -EPROTO;
            snprintf(err, errcap, "bad chunked /metrics body: %s", st.error ? st.error : "truncated");
            goto out;
        }
    }
    rc = 0;
    goto out;
io_err:
    snprintf(err, errcap, "%s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
out:
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return rc;
}

/* ---- the frame ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    int cols, rows, line; /* terminal size; lines written so far */
    bool ansi;            /* drawing on a terminal: clear each line's rest */
} frame_t;

/* Appends one screen line, cut to the terminal width, cleared to its end. */
__attribute__((format(printf, 2, 3))) static void line(frame_t *f, const char *fmt, ...) {
    char tmp[1024];
    if (f->line >= f->rows) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    if (n > f->cols) n = f->cols;
    if (f->len + (size_t)n + 8 > f->cap) return;
    memcpy(f->buf + f->len, tmp, (size_t)n);
    f->len += (size_t)n;
    /* raw mode leaves output processing on, but \r\n holds whatever the terminal does */
    const char *eol = f->ansi ? "\033[K\r\n" : "\n";
    memcpy(f->buf + f->len, eol, strlen(eol));
    f->len += strlen(eol);
    f->line++;
}

static void fmt_rate(char *b, size_t cap, double v) {
    if (isnan(v)) snprintf(b, cap, "-");
    else if (v >= 10000) snprintf(b, cap, "%.0fk", v / 1000);
    else if (v >= 100 || v == 0) snprintf(b, cap, "%.0f", v);
    else snprintf(b, cap, "%.1f", v);
}

static void fmt_secs(char *b, size_t cap, double s) {
    if (isnan(s)) snprintf(b, cap, "-");
    else if (s >= 1) snprintf(b, cap, "%.2fs", s);
    else if (s >= 0.001) snprintf(b, cap, "%.1fms", s * 1e3);
    else snprintf(b, cap, "%.0fus", s * 1e6);
}

static void fmt_num(char *b, size_t cap, double v) {
    if (isnan(v)) snprintf(b, cap, "-");
    else snprintf(b, cap, "%.0f", v);
}

typedef struct {
    endpoint_t ep;
    kl_top_snapshot_t snaps[2];    /* the last two scrapes */
    kl_top_snapshot_t *cur, *prev; /* into snaps; prev: the scrape before cur (NULL until there is one) */
    int64_t cur_ms, prev_ms;
    char error[256];               /* the last scrape's failure, "" when it worked */
    int64_t down_since_ms;
    unsigned failures;
    kl_top_row_t rows[KL_TOP_MAX_ROUTES];
} top_t;

static void draw(top_t *t, frame_t *f, bool ansi) {
    char clock[16];
    time_t now = time(NULL);
    struct tm tm;
    strftime(clock, sizeof clock, "%H:%M:%S", localtime_r(&now, &tm));
    f->len = 0;
    f->line = 0;
    f->ansi = ansi;
    if (ansi) {
        memcpy(f->buf, "\033[H", 3);
        f->len = 3;
    }
    const kl_top_snapshot_t *s = t->cur;
    char up[32] = "";
    if (s && !isnan(s->start_time)) {
        double u = (double)now - s->start_time;
        if (u >= 0) snprintf(up, sizeof up, "  up %dh%02dm%02ds", (int)(u / 3600), (int)fmod(u / 60, 60), (int)fmod(u, 60));
    }
    line(f, "keel top  %s  %s%s%s%s", t->ep.shown, clock, s && s->version[0] ? "  keel " : "", s ? s->version : "", up);
    if (t->error[0]) {
        line(f, "%s", "");
        line(f, "admin endpoint %s unreachable: %s", t->ep.shown, t->error);
        line(f, "retrying every second (%u failed %s, for %llds)%s", t->failures, t->failures == 1 ? "scrape" : "scrapes",
             (long long)((now_ms() - t->down_since_ms) / 1000), s ? "; last figures below" : "");
        if (!s) {
            line(f, "%s", "");
            line(f, "q: quit");
            goto done;
        }
    }
    {
        double dt = t->prev ? (double)(t->cur_ms - t->prev_ms) / 1000.0 : 0;
        size_t n = kl_top_rows(t->prev, s, dt, t->rows, KL_TOP_MAX_ROUTES);
        double tot_rps = 0, tot_4 = 0, tot_5 = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isnan(t->rows[i].rps)) tot_rps += t->rows[i].rps;
            if (!isnan(t->rows[i].e4xx)) tot_4 += t->rows[i].e4xx;
            if (!isnan(t->rows[i].e5xx)) tot_5 += t->rows[i].e5xx;
        }
        char a[32], b[32], c[32], d[32], e[32];
        if (t->prev) {
            fmt_rate(a, sizeof a, tot_rps);
            fmt_rate(b, sizeof b, tot_4);
            fmt_rate(c, sizeof c, tot_5);
            line(f, "requests %s/s   4xx %s/s   5xx %s/s   over the last %.1fs", a, b, c, dt);
        } else {
            line(f, "requests -   (rates from the next scrape on)");
        }
        line(f, "%s", "");
        /* the route column as wide as the longest route, within what the terminal leaves */
        int w = 12;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(t->rows[i].route) > w) w = (int)strlen(t->rows[i].route);
        if (w > f->cols - 63) w = f->cols - 63;
        if (w < 12) w = 12;
        line(f, "%-7s %-*s %8s %9s %9s %7s %7s %6s", "METHOD", w, "ROUTE", "REQ/S", "P50", "P99", "4XX/S", "5XX/S", "CACHE");
        int room = f->rows - f->line - 4 - (s->nshards ? (int)s->nshards + 2 : 0);
        if (room < 3) room = 3;
        for (size_t i = 0; i < n; i++) {
            const kl_top_row_t *r = &t->rows[i];
            if ((int)i >= room) {
                line(f, "... %zu more routes", n - i);
                break;
            }
            fmt_rate(a, sizeof a, r->rps);
            fmt_secs(b, sizeof b, r->p50);
            fmt_secs(c, sizeof c, r->p99);
            fmt_rate(d, sizeof d, r->e4xx);
            fmt_rate(e, sizeof e, r->e5xx);
            char hit[16];
            if (isnan(r->hit_ratio)) snprintf(hit, sizeof hit, "-");
            else snprintf(hit, sizeof hit, "%.0f%%", 100 * r->hit_ratio);
            line(f, "%-7.7s %-*.*s %8s %9s %9s %7s %7s %6s", r->method[0] ? r->method : "-", w, w, r->route[0] ? r->route : "(none)",
                 a, b, c, d, e, hit);
        }
        if (!n) line(f, "(no requests counted yet)");
        line(f, "%s", "");
        fmt_num(a, sizeof a, s->pool_busy);
        fmt_num(b, sizeof b, s->pool_idle);
        fmt_num(c, sizeof c, s->pool_connecting);
        fmt_num(d, sizeof d, s->queue_depth);
        if (isnan(s->pool_busy) && isnan(s->pool_idle) && isnan(s->queue_depth)) line(f, "database  (no pool metrics)");
        else line(f, "database  pool busy %s  idle %s  connecting %s   queue %s", a, b, c, d);
        char cpu[32] = "-", rss[32] = "-";
        if (t->prev && !isnan(s->cpu_seconds) && !isnan(t->prev->cpu_seconds) && dt > 0)
            snprintf(cpu, sizeof cpu, "%.0f%%", 100 * (s->cpu_seconds - t->prev->cpu_seconds) / dt);
        if (!isnan(s->rss_bytes)) snprintf(rss, sizeof rss, "%.1f MiB", s->rss_bytes / 1048576);
        line(f, "process   cpu %s   rss %s", cpu, rss);
        if (s->nshards) {
            line(f, "%s", "");
            line(f, "%-6s %11s %10s", "SHARD", "CONNECTIONS", "LOOP LAG");
            for (size_t i = 0; i < s->nshards; i++) {
                fmt_num(a, sizeof a, s->shards[i].conns);
                fmt_secs(b, sizeof b, s->shards[i].lag);
                line(f, "%-6s %11s %10s", s->shards[i].id, a, b);
            }
        }
        if (s->dropped) line(f, "(%zu series beyond keel top's limits not shown)", s->dropped);
        line(f, "%s", "");
        line(f, "q: quit");
    }
done:
    if (ansi && f->len + 4 < f->cap) {
        memcpy(f->buf + f->len, "\033[J", 3);
        f->len += 3;
    }
}

static void write_all(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void term_size(frame_t *f) {
    struct winsize ws;
    f->cols = 100;
    f->rows = 40;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        f->cols = ws.ws_col;
        f->rows = ws.ws_row;
    }
}

static void usage(FILE *out) {
    fprintf(out, "usage: keel top [--admin HOST:PORT] [--once]\n\n"
                 "A live view of a running keel from its admin listener's /metrics, refreshed every second:\n"
                 "per route requests/s, p50/p99, 4xx/5xx per second and cache hit ratio; the database pool\n"
                 "and queue; per shard connections and loop lag. q quits.\n\n"
                 "  --admin HOST:PORT   the admin listener (default: $KEEL_ADMIN_LISTEN, else " DEFAULT_ADMIN ")\n"
                 "  --once              scrape twice, one second apart, print one screen and exit\n"
                 "  --help              this text\n");
}

/* Raw mode (no line buffering, no echo: a key arrives at once; Ctrl-C and Ctrl-Z still
 * signal) and the alternate screen with the cursor hidden. */
static void term_enter(bool raw, const struct termios *saved) {
    if (raw) {
        struct termios r = *saved;
        r.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        r.c_cc[VMIN] = 1;
        r.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &r);
    }
    write_all(enter_screen, sizeof enter_screen - 1);
}

/* The terminal as it was: main screen, cursor, the saved modes. */
static void term_leave(bool raw, const struct termios *saved) {
    write_all(leave_screen, sizeof leave_screen - 1);
    if (raw) tcsetattr(STDIN_FILENO, TCSAFLUSH, saved);
}

/* One scrape into t: the new snapshot becomes cur, the old cur prev (two buffers, swapped). */
static void step(top_t *t, char *resp) {
    char *body;
    size_t blen;
    char err[256];
    int rc = scrape(&t->ep, resp, MAX_RESPONSE, &body, &blen, err, sizeof err);
    int64_t when = now_ms();
    if (rc == 0) {
        kl_top_snapshot_t *next = t->cur == &t->snaps[0] ? &t->snaps[1] : &t->snaps[0];
        if (t->prev == next) t->prev = NULL; /* about to be overwritten */
        if (kl_top_snapshot_parse(next, body, blen, err, sizeof err) == 0) {
            t->prev = t->cur;
            t->prev_ms = t->cur_ms;
            t->cur = next;
            t->cur_ms = when;
            t->error[0] = 0;
            t->failures = 0;
            return;
        }
    }
    if (!t->failures) t->down_since_ms = when;
    t->failures++;
    snprintf(t->error, sizeof t->error, "%s", err);
    /* rates after an outage start over: a stale prev would spread the gap over one interval */
    t->prev = NULL;
}

int kl_top_main(int argc, char **argv) {
    const char *admin = NULL;
    bool once = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--once")) {
            once = true;
        } else if (!strcmp(a, "--admin") && i + 1 < argc) {
            admin = argv[++i];
        } else if (!strncmp(a, "--admin=", 8)) {
            admin = a + 8;
        } else {
            fprintf(stderr, "keel top: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!admin) admin = getenv("KEEL_ADMIN_LISTEN");
    if (!admin || !*admin) admin = DEFAULT_ADMIN;
    if (!strcmp(admin, "off")) {
        fprintf(stderr, "keel top: the admin listener is off (KEEL_ADMIN_LISTEN=off); pass --admin HOST:PORT\n");
        return 2;
    }
    top_t *t = calloc(1, sizeof *t);
    char *resp = malloc(MAX_RESPONSE);
    frame_t f = {.buf = malloc(FRAME_CAP), .cap = FRAME_CAP};
    int rc = 0;
    if (!t || !resp || !f.buf) {
        fprintf(stderr, "keel top: out of memory\n");
        rc = 1;
        goto out;
    }
    if (parse_endpoint(admin, &t->ep) < 0) {
        fprintf(stderr, "keel top: bad admin address '%s': expected HOST:PORT, e.g. " DEFAULT_ADMIN "\n", admin);
        rc = 2;
        goto out;
    }
    if (once) {
        step(t, resp);
        if (!t->error[0]) {
            sleep(1);
            step(t, resp);
        }
        f.cols = 160;
        f.rows = 1000;
        draw(t, &f, false);
        write_all(f.buf, f.len);
        rc = t->error[0] ? 1 : 0;
        goto out;
    }

    bool tty = isatty(STDIN_FILENO);
    struct termios saved;
    bool raw = tty && tcgetattr(STDIN_FILENO, &saved) == 0;
    struct sigaction sa = {.sa_handler = on_stop}, sw = {.sa_handler = on_winch}, st = {.sa_handler = on_tstp}, old_int,
                     old_term, old_hup, old_winch, old_tstp;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&sw.sa_mask);
    sigemptyset(&st.sa_mask);
    sigaction(SIGTSTP, &st, &old_tstp);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sigaction(SIGWINCH, &sw, &old_winch);
    term_enter(raw, &saved);
    bool stdin_open = true;
    while (!stop_flag) {
        int64_t next = now_ms() + 1000;
        step(t, resp);
        term_size(&f);
        draw(t, &f, true);
        write_all(f.buf, f.len);
        while (!stop_flag) {
            int64_t left = next - now_ms();
            if (left <= 0) break;
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            int r = poll(&p, stdin_open ? 1 : 0, (int)left);
            if (r < 0 && errno == EINTR) {
                if (suspend_flag) { /* Ctrl-Z: the shell gets its terminal back as it gave it */
                    suspend_flag = 0;
                    term_leave(raw, &saved);
                    struct sigaction dfl = {.sa_handler = SIG_DFL}, mine = {.sa_handler = on_tstp};
                    sigemptyset(&dfl.sa_mask);
                    sigemptyset(&mine.sa_mask);
                    sigaction(SIGTSTP, &dfl, NULL);
                    raise(SIGTSTP); /* stops here until SIGCONT (fg) */
                    sigaction(SIGTSTP, &mine, NULL);
                    term_enter(raw, &saved);
                    resized_flag = 1;
                }
                if (resized_flag) {
                    resized_flag = 0;
                    term_size(&f);
                    draw(t, &f, true);
                    write_all(f.buf, f.len);
                }
                continue;
            }
            if (r > 0) {
                char k[64];
                ssize_t n = read(STDIN_FILENO, k, sizeof k);
                if (n <= 0) {
                    stdin_open = false; /* EOF: keep drawing until a signal ends it */
                    continue;
                }
                if (memchr(k, 'q', (size_t)n) || memchr(k, 'Q', (size_t)n)) stop_flag = 1;
            }
        }
    }
    term_leave(raw, &saved);
    sigaction(SIGTSTP, &old_tstp, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
out:
    free(t);
    free(resp);
    free(f.buf);
    return rc;
}
