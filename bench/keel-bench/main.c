/* main.c - keel-bench's command line: flags -> kb_config_t, run, report, exit code.
 *
 * Exit codes: 0 every threshold held, 1 a threshold was breached, 2 bad usage or input
 * (flags, URL, scenario file), 3 the run itself could not be carried out or got no
 * successful response (status < 400) at all, 130 interrupted (SIGINT/SIGTERM; the partial
 * results are still reported). 130 comes before 3, 3 before 1.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "capacity.h"
#include "client.h"
#include "report.h"
#include "report_html.h"
#include "run.h"
#include "scenario.h"
#include "stages.h"
#include "stats.h"
#include "threshold.h"
#include "units.h"

#define KB_VERSION "0.1.0"
#define MAX_THRESHOLDS 32
#define MAX_CLI_HEADERS 64
#define EXIT_BREACH 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3
#define EXIT_INTERRUPTED 130

static volatile sig_atomic_t interrupted_flag;

static void on_signal(int sig) {
    interrupted_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

static void usage(FILE *f) {
    fputs("usage: keel-bench [options] http://HOST[:PORT][/PATH]\n"
          "\n"
          "load model (closed by default: N virtual users sending back-to-back):\n"
          "  -c, --connections N   virtual users (closed), or the connection pool (open; default 100)\n"
          "  -d, --duration D      run length, e.g. 30s, 2m (default 10s; 1h cap with -n alone)\n"
          "  -r, --rate R          open model: R requests/s, latency from each intended send time\n"
          "      --stages LIST     steps N:D,... (users) or R/s:D,... (rates), e.g. 10:30s,50:30s,200:60s\n"
          "  -n, --requests N      stop after N requests in total\n"
          "      --timeout D       per request, connect to complete response (default 10s)\n"
          "      --pipeline N      closed model: send N requests at once on each connection\n"
          "  -t, --threads N       worker threads, one io_uring each (default: CPUs, at most the users)\n"
          "requests:\n"
          "  -s, --scenario FILE   weighted request mix (format: bench/README.md)\n"
          "  -m, --method M        method of the single request (default GET)\n"
          "  -H, --header 'N: V'   header of the single request (repeatable)\n"
          "      --body TEXT       body of the single request\n"
          "      --seed N          random seed for the mix and templates (default 1)\n"
          "output:\n"
          "      --threshold EXPR  fail (exit 1) unless EXPR holds, e.g. 'p95<500ms', 'errors<1%',\n"
          "                        'rps>1000', 'p99.9<=1s', 'mean<20ms', 'late<0.1%' (repeatable);\n"
          "                        a latency threshold fails when no response succeeded (status < 400)\n"
          "      --json FILE       write every figure as JSON ('-': stdout, the table then goes to stderr)\n"
          "      --html FILE       write a self-contained HTML report: throughput and p50/p95/p99 second by\n"
          "                        second, the latency percentile curve, the error breakdown (no network)\n"
          "capacity search (open model):\n"
          "      --capacity OBJ    with -r R: find the highest rate that meets OBJ, e.g. 'p99<10ms'\n"
          "                        (p50/p90/p95/p99/p999, units us/ms/s); a run also fails when more than\n"
          "                        0.1% of its requests failed or were dropped. Starts at R, doubles,\n"
          "                        then bisects; each run lasts -d (default 5s) and is printed\n"
          "      --capacity-steps N  at most N runs (default 12, at most 50)\n"
          "      --no-co-correction\n"
          "                        closed model: latencies as measured. By default they are corrected\n"
          "                        for coordinated omission as wrk and HdrHistogram do: a response that\n"
          "                        took v also counts the requests its user would have sent meanwhile,\n"
          "                        at v-I, v-2I, ... down to I, with I = VUs/RPS of the stage (its mean\n"
          "                        cycle time); the measured figures are reported next to them\n"
          "  -q, --quiet           no progress line (it is only drawn on a terminal anyway)\n"
          "  -h, --help            this text;  --version  the version\n"
          "exit codes:\n"
          "  0    every threshold held\n"
          "  1    a threshold was breached\n"
          "  2    bad usage or input (flags, URL, scenario file, unresolvable host)\n"
          "  3    the run could not be carried out, or no response succeeded (every request got a\n"
          "       transport error or a status >= 400: server down, wrong port or path)\n"
          "  130  interrupted by Ctrl-C or SIGTERM (the partial results are still printed)\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "keel-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_USAGE;
}

typedef struct {
    char host[256];
    char port[8];
    const char *path; /* points into the URL; "/" when it has none */
} url_t;

static int parse_url(const char *u, url_t *out) {
    if (!strncmp(u, "https://", 8)) return -ENOTSUP;
    if (strncmp(u, "http://", 7)) return -EINVAL;
    const char *h = u + 7, *end = h + strcspn(h, "/?#"), *hp_end = end;
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) return -EINVAL;
        if ((size_t)(rb - h - 1) >= sizeof out->host || rb == h + 1) return -EINVAL;
        memcpy(out->host, h + 1, (size_t)(rb - h - 1));
        out->host[rb - h - 1] = 0;
        if (rb + 1 < end) {
            if (rb[1] != ':') return -EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        const char *he = colon ? colon : end;
        if (he == h || (size_t)(he - h) >= sizeof out->host) return -EINVAL;
        memcpy(out->host, h, (size_t)(he - h));
        out->host[he - h] = 0;
    }
    snprintf(out->port, sizeof out->port, "80");
    if (colon) {
        size_t pl = (size_t)(hp_end - colon - 1);
        uint64_t port;
        char tmp[8];
        if (!pl || pl >= sizeof tmp) return -EINVAL;
        memcpy(tmp, colon + 1, pl);
        tmp[pl] = 0;
        if (kb_parse_count(tmp, 65535, &port) < 0 || port == 0) return -EINVAL;
        snprintf(out->port, sizeof out->port, "%u", (unsigned)port);
    }
    if (*end == '#') return -EINVAL;
    out->path = *end ? end : "/";
    return 0;
}

/* Appends s to the synthesized scenario with every '{' doubled, so it stays literal. */
static int append_escaped(char *buf, size_t cap, size_t *len, const char *s) {
    for (; *s; s++) {
        size_t need = *s == '{' ? 2 : 1;
        if (*len + need >= cap) return -ENOSPC;
        buf[(*len)++] = *s;
        if (*s == '{') buf[(*len)++] = '{';
    }
    buf[*len] = 0;
    return 0;
}

static int append_raw(char *buf, size_t cap, size_t *len, const char *s) {
    size_t n = strlen(s);
    if (*len + n >= cap) return -ENOSPC;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return 0;
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* One open-model run per step of the capacity search (capacity.h), each printed as a row:
 * the rate asked, the rate achieved, the objective's percentile, errors and dropped
 * requests, and the verdict. A step passes when at least one response succeeded, the
 * percentile meets the objective, and at most KB_CAPACITY_ERROR_BUDGET of its scheduled
 * requests failed (transport error or status >= 400) or were dropped for want of a
 * connection. Exit 0 when some rate passed, 1 when none did, 3 when a run could
 * not be carried out, 130 when interrupted (the steps so far are printed). */
static int run_capacity(kb_config_t *cfg, const kb_objective_t *obj, unsigned steps, kb_stats_t *stages,
                        kb_route_stats_t *routes, bool progress) {
    kb_capacity_t cap;
    char err[512], pname[16], val[32], lim[32];
    kb_capacity_init(&cap, cfg->stages[0].rate, steps, KB_MAX_RATE);
    snprintf(pname, sizeof pname, "p%g", obj->pct);
    snprintf(lim, sizeof lim, "%.4g ms", obj->limit / 1e6);
    printf("capacity search: highest rate with %s %s %s and at most %g%% of the requests failed or dropped; %.3g s per step, at most %u steps\n\n",
           pname, obj->inclusive ? "<=" : "<", lim, KB_CAPACITY_ERROR_BUDGET * 100, (double)cfg->stages[0].duration_ns / 1e9,
           steps);
    printf("| step | rate | achieved | %s | errors | dropped | result |\n|---:|---:|---:|---:|---:|---:|---|\n", pname);
    fflush(stdout);
    double best = 0, best_value = 0, rate;
    bool interrupted = false;
    unsigned step = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    while ((rate = kb_capacity_next(&cap)) > 0) {
        cfg->stages[0].rate = rate;
        uint64_t t = ncpu > 0 ? (uint64_t)ncpu : 1;
        cfg->threads = (unsigned)(t < cfg->connections ? t : cfg->connections);
        if (kb_run(cfg, stages, routes, NULL, NULL, progress, &interrupted_flag, &interrupted, err, sizeof err) < 0) {
            fprintf(stderr, "keel-bench: %s\n", err);
            return EXIT_RUNTIME;
        }
        if (interrupted) break;
        const kb_stats_t *s = &stages[0];
        uint64_t ok = kb_stats_ok(s), failed = kb_stats_finished(s) - ok;
        double value = (double)kb_hist_percentile(&s->hist, obj->pct);
        bool met = ok > 0 && kb_objective_met(obj, value);
        /* a rate the server only meets by refusing or losing work is not one it can take */
        double lost = s->scheduled ? (double)(failed + s->dropped) / (double)s->scheduled : 1;
        bool pass = met && lost <= KB_CAPACITY_ERROR_BUDGET;
        char why[96];
        if (!ok) snprintf(why, sizeof why, "FAIL (no successful response)");
        else if (!met) snprintf(why, sizeof why, "FAIL (%s)", pname);
        else if (!pass) snprintf(why, sizeof why, "FAIL (%.2f%% failed or dropped)", 100 * lost);
        else snprintf(why, sizeof why, "pass");
        if (ok) snprintf(val, sizeof val, "%.3f ms", value / 1e6);
        else snprintf(val, sizeof val, "-");
        printf("| %u | %g | %.1f | %s | %llu | %llu | %s |\n", ++step, rate, (double)s->responses / kb_stats_seconds(s), val,
               (unsigned long long)failed, (unsigned long long)s->dropped, why);
        fflush(stdout);
        if (pass && rate > best) {
            best = rate;
            best_value = value;
        }
        kb_capacity_record(&cap, rate, pass);
    }
    printf("\n");
    if (interrupted) printf("interrupted after %u steps\n", step);
    if (best > 0) {
        printf("capacity: %g req/s meets %s (%s %.3f ms at that rate)", best, obj->text, pname, best_value / 1e6);
        if (cap.hi) printf("; %g req/s did not\n", cap.hi);
        else printf("; every rate tried passed: raise -r or --capacity-steps to search higher\n");
    } else if (step) {
        printf("capacity: no rate tried meets %s (lowest tried: %g req/s)\n", obj->text, cap.hi);
    }
    return interrupted ? EXIT_INTERRUPTED : best > 0 ? 0 : EXIT_BREACH;
}

int main(int argc, char **argv) {
    enum { O_STAGES = 256, O_TIMEOUT, O_PIPELINE, O_BODY, O_SEED, O_THRESHOLD, O_JSON, O_VERSION, O_NO_CO, O_HTML, O_CAPACITY,
           O_CAPACITY_STEPS };
    static const struct option opts[] = {
        {"connections", required_argument, NULL, 'c'}, {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},        {"stages", required_argument, NULL, O_STAGES},
        {"requests", required_argument, NULL, 'n'},    {"timeout", required_argument, NULL, O_TIMEOUT},
        {"pipeline", required_argument, NULL, O_PIPELINE}, {"threads", required_argument, NULL, 't'},
        {"scenario", required_argument, NULL, 's'},    {"method", required_argument, NULL, 'm'},
        {"header", required_argument, NULL, 'H'},      {"body", required_argument, NULL, O_BODY},
        {"seed", required_argument, NULL, O_SEED},     {"threshold", required_argument, NULL, O_THRESHOLD},
        {"json", required_argument, NULL, O_JSON},     {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},              {"version", no_argument, NULL, O_VERSION},
        {"no-co-correction", no_argument, NULL, O_NO_CO}, {"html", required_argument, NULL, O_HTML},
        {"capacity", required_argument, NULL, O_CAPACITY}, {"capacity-steps", required_argument, NULL, O_CAPACITY_STEPS},
        {NULL, 0, NULL, 0},
    };
    static kb_config_t cfg;
    static kb_threshold_t thr[MAX_THRESHOLDS];
    const char *headers[MAX_CLI_HEADERS];
    size_t nthr = 0, nheaders = 0;
    const char *stages_arg = NULL, *scenario_path = NULL, *method = NULL, *body = NULL, *json_path = NULL;
    const char *html_path = NULL;
    kb_objective_t objective;
    bool capacity = false;
    uint64_t conns = 0, duration_ns = 0, threads = 0, pipeline = 1, seed = 1, capacity_steps = KB_CAPACITY_STEPS;
    double rate = 0;
    bool have_conns = false, have_duration = false, quiet = false, co_correct = true;
    char err[512];
    int opt;

    cfg.timeout_ns = 10000000000ull;
    while ((opt = getopt_long(argc, argv, "c:d:r:n:t:s:m:H:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (kb_parse_count(optarg, KB_MAX_VUS, &conns) < 0 || !conns)
                return die_usage("--connections: expected 1..%d, got '%s'", KB_MAX_VUS, optarg);
            have_conns = true;
            break;
        case 'd':
            if (kb_parse_duration(optarg, 1000000000ull, &duration_ns) < 0 || duration_ns < 1000000)
                return die_usage("--duration: expected a duration like 30s, 2m, 500ms, got '%s'", optarg);
            have_duration = true;
            break;
        case 'r':
            if (kb_parse_number(optarg, &rate) < 0 || rate <= 0 || rate > KB_MAX_RATE)
                return die_usage("--rate: expected requests per second in (0, %.0f], got '%s'", KB_MAX_RATE, optarg);
            break;
        case O_STAGES: stages_arg = optarg; break;
        case 'n':
            if (kb_parse_count(optarg, UINT64_MAX / 2, &cfg.max_requests) < 0 || !cfg.max_requests)
                return die_usage("--requests: expected a positive integer, got '%s'", optarg);
            break;
        case O_TIMEOUT:
            if (kb_parse_duration(optarg, 1000000000ull, &cfg.timeout_ns) < 0 || cfg.timeout_ns < 1000000)
                return die_usage("--timeout: expected a duration of at least 1ms, got '%s'", optarg);
            break;
        case O_PIPELINE:
            if (kb_parse_count(optarg, KB_MAX_PIPELINE, &pipeline) < 0 || !pipeline)
                return die_usage("--pipeline: expected 1..%d, got '%s'", KB_MAX_PIPELINE, optarg);
            break;
        case 't':
            if (kb_parse_count(optarg, KB_MAX_THREADS, &threads) < 0 || !threads)
                return die_usage("--threads: expected 1..%d, got '%s'", KB_MAX_THREADS, optarg);
            break;
        case 's': scenario_path = optarg; break;
        case 'm': method = optarg; break;
        case 'H':
            if (nheaders == MAX_CLI_HEADERS) return die_usage("more than %d -H headers", MAX_CLI_HEADERS);
            headers[nheaders++] = optarg;
            break;
        case O_BODY: body = optarg; break;
        case O_SEED:
            if (kb_parse_count(optarg, UINT64_MAX - 1, &seed) < 0) return die_usage("--seed: expected an integer");
            break;
        case O_THRESHOLD:
            if (nthr == MAX_THRESHOLDS) return die_usage("more than %d thresholds", MAX_THRESHOLDS);
            if (kb_threshold_parse(optarg, &thr[nthr], err, sizeof err) < 0) return die_usage("--threshold %s", err);
            nthr++;
            break;
        case O_JSON: json_path = optarg; break;
        case O_HTML: html_path = optarg; break;
        case O_CAPACITY:
            if (kb_objective_parse(optarg, &objective, err, sizeof err) < 0) return die_usage("--capacity: %s", err);
            capacity = true;
            break;
        case O_CAPACITY_STEPS:
            if (kb_parse_count(optarg, KB_CAPACITY_MAX_STEPS, &capacity_steps) < 0 || !capacity_steps)
                return die_usage("--capacity-steps: expected 1..%d, got '%s'", KB_CAPACITY_MAX_STEPS, optarg);
            break;
        case 'q': quiet = true; break;
        case O_NO_CO: co_correct = false; break;
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("keel-bench %s\n", KB_VERSION); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *url = argv[optind];
    url_t u;
    int rc = parse_url(url, &u);
    if (rc == -ENOTSUP) return die_usage("https is not supported: keel-bench speaks plain HTTP/1.1");
    if (rc < 0) return die_usage("bad URL '%s': expected http://HOST[:PORT][/PATH]", url);

    if (capacity) {
        if (!rate) return die_usage("--capacity needs the open model's starting rate: -r R (requests per second)");
        if (stages_arg) return die_usage("--capacity and --stages: the search sets the rates (start with -r)");
        if (nthr || json_path || html_path)
            return die_usage("--capacity runs many measurements: --threshold, --json and --html apply to a single run");
        if (!have_duration) {
            duration_ns = 5000000000ull; /* per step */
            have_duration = true;
        }
    }

    /* the plan */
    if (stages_arg) {
        if (have_duration) return die_usage("--duration and --stages: the stages set the durations");
        if (rate) return die_usage("--rate and --stages: give rates in the stages, e.g. 100/s:30s");
        if (kb_stages_parse(stages_arg, cfg.stages, &cfg.nstages, err, sizeof err) < 0) return die_usage("--stages: %s", err);
        cfg.open_model = cfg.stages[0].vus == 0;
        if (!cfg.open_model && have_conns) return die_usage("--connections and --stages: the stages set the users");
    } else {
        cfg.nstages = 1;
        cfg.open_model = rate > 0;
        cfg.stages[0].duration_ns = have_duration ? duration_ns : cfg.max_requests ? 3600000000000ull : 10000000000ull;
        if (cfg.open_model) cfg.stages[0].rate = rate;
        else cfg.stages[0].vus = (uint32_t)(have_conns ? conns : 10);
    }
    cfg.connections = cfg.open_model ? (uint32_t)(have_conns ? conns : 100) : 0;
    for (size_t i = 0; i < nthr; i++)
        if (thr[i].metric == KB_METRIC_LATE && !cfg.open_model)
            return die_usage("--threshold %s: 'late' needs the open model (--rate or rate stages)", thr[i].text);
    if (cfg.open_model && pipeline > 1) return die_usage("--pipeline applies to the closed model only");
    if (cfg.open_model && !co_correct)
        return die_usage("--no-co-correction applies to the closed model only (open model latencies run from the intended send times)");
    cfg.pipeline = (unsigned)pipeline;
    cfg.seed = seed;
    uint32_t most = cfg.connections;
    for (size_t i = 0; i < cfg.nstages; i++)
        if (cfg.stages[i].vus > most) most = cfg.stages[i].vus;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (!threads) threads = ncpu > 0 ? (uint64_t)ncpu : 1;
    if (threads > most) threads = most;
    cfg.threads = (unsigned)threads;

    /* the requests */
    kb_scenario_t sc;
    if (scenario_path) {
        if (method || body || nheaders) return die_usage("-m, -H and --body describe a single request; with --scenario put them in the file");
        if (strcmp(u.path, "/")) return die_usage("with --scenario give the URL without a path: the scenario's paths are used");
        if (kb_scenario_load(&sc, scenario_path, err, sizeof err) < 0) {
            fprintf(stderr, "keel-bench: %s\n", err);
            return EXIT_USAGE;
        }
    } else {
        static char text[1 << 16];
        size_t len = 0;
        int e = append_raw(text, sizeof text, &len, "request 1 ");
        e |= append_raw(text, sizeof text, &len, method ? method : "GET");
        e |= append_raw(text, sizeof text, &len, " ");
        e |= append_escaped(text, sizeof text, &len, u.path);
        e |= append_raw(text, sizeof text, &len, "\n");
        for (size_t i = 0; i < nheaders; i++) {
            if (strchr(headers[i], '\n') || strchr(headers[i], '\r')) return die_usage("-H: no line breaks in a header");
            e |= append_raw(text, sizeof text, &len, "  header ");
            e |= append_escaped(text, sizeof text, &len, headers[i]);
            e |= append_raw(text, sizeof text, &len, "\n");
        }
        if (body) {
            /* each line of the body becomes one body line; they are joined with \n again */
            const char *p = body;
            do {
                const char *nl = strchr(p, '\n');
                char line[1 << 12];
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                if (n >= sizeof line) return die_usage("--body: lines longer than %zu bytes", sizeof line - 1);
                memcpy(line, p, n);
                line[n] = 0;
                e |= append_raw(text, sizeof text, &len, "  body ");
                e |= append_escaped(text, sizeof text, &len, line);
                e |= append_raw(text, sizeof text, &len, "\n");
                p = nl ? nl + 1 : NULL;
            } while (p);
        }
        if (e) return die_usage("request too large for the command line (use --scenario)");
        if (kb_scenario_parse(&sc, "command line", text, len, err, sizeof err) < 0) {
            fprintf(stderr, "keel-bench: %s\n", err);
            return EXIT_USAGE;
        }
    }
    cfg.scenario = &sc;

    /* the target */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(u.host, u.port, &hints, &ai);
    if (gai || !ai) {
        fprintf(stderr, "keel-bench: cannot resolve %s: %s\n", u.host, gai ? gai_strerror(gai) : "no address");
        kb_scenario_free(&sc);
        return EXIT_USAGE;
    }
    memcpy(&cfg.addr, ai->ai_addr, ai->ai_addrlen);
    cfg.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    bool v6 = strchr(u.host, ':') != NULL;
    snprintf(cfg.host, sizeof cfg.host, "%s%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "", strcmp(u.port, "80") ? ":" : "",
             strcmp(u.port, "80") ? u.port : "");

    FILE *json = NULL;
    bool json_stdout = json_path && !strcmp(json_path, "-");
    if (json_path && !json_stdout && !(json = fopen(json_path, "w"))) {
        fprintf(stderr, "keel-bench: %s: %s\n", json_path, strerror(errno));
        kb_scenario_free(&sc);
        return EXIT_USAGE;
    }
    if (json_stdout) json = stdout;
    FILE *html = NULL;
    if (html_path && !(html = fopen(html_path, "w"))) {
        fprintf(stderr, "keel-bench: %s: %s\n", html_path, strerror(errno));
        if (json && json != stdout) fclose(json);
        kb_scenario_free(&sc);
        return EXIT_USAGE;
    }

    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    static kb_stats_t stages[KB_MAX_STAGES], total;
    bool interrupted = false;
    bool progress = !quiet && isatty(STDERR_FILENO);
    kb_route_stats_t *routes = calloc(sc.nroutes, sizeof *routes);
    if (!routes) {
        fprintf(stderr, "keel-bench: out of memory for %zu routes\n", sc.nroutes);
        kb_scenario_free(&sc);
        return EXIT_RUNTIME;
    }
    if (capacity) {
        int code = run_capacity(&cfg, &objective, (unsigned)capacity_steps, stages, routes, progress);
        free(routes);
        kb_scenario_free(&sc);
        return code;
    }
    static kb_series_t series;
    uint64_t run_ns = 0;
    rc = kb_run(&cfg, stages, routes, html ? &series : NULL, &run_ns, progress, &interrupted_flag, &interrupted, err,
                sizeof err);
    if (rc < 0) {
        fprintf(stderr, "keel-bench: %s\n", err);
        if (json && json != stdout) fclose(json);
        if (html) fclose(html);
        kb_series_free(&series);
        free(routes);
        kb_scenario_free(&sc);
        return EXIT_RUNTIME;
    }
    /* closed model: each stage corrected for coordinated omission with its own interval (or
     * only its interval computed, with --no-co-correction); the total merges the results */
    static kb_hist_t measured[KB_MAX_STAGES], measured_total;
    uint64_t co_interval[KB_MAX_STAGES] = {0};
    kb_hist_init(&measured_total);
    for (size_t i = 0; i < cfg.nstages && !cfg.open_model; i++) {
        co_interval[i] = kb_stats_co_interval(&stages[i], (uint64_t)cfg.stages[i].vus * cfg.pipeline);
        kb_stats_co_correct(&stages[i], co_correct ? co_interval[i] : 0, &measured[i]);
        kb_hist_merge(&measured_total, &measured[i]);
    }
    kb_stats_init(&total);
    for (size_t i = 0; i < cfg.nstages; i++) kb_stats_merge(&total, &stages[i]);

    /* a run without one successful response measured nothing: its latency thresholds fail
     * and it exits 3 rather than passing vacuously on an empty histogram */
    uint64_t ok = kb_stats_ok(&total);
    double values[MAX_THRESHOLDS];
    kb_verdict_t verdicts[MAX_THRESHOLDS];
    bool all = true;
    for (size_t i = 0; i < nthr; i++) {
        values[i] = kb_report_metric(&total, &thr[i]);
        verdicts[i] = kb_threshold_verdict(&thr[i], values[i], ok);
        all &= verdicts[i] == KB_VERDICT_PASS;
    }
    kb_report_t rep = {.cfg = &cfg, .url = url, .scenario_path = scenario_path, .stages = stages, .total = &total, .routes = routes,
                       .measured = cfg.open_model ? NULL : measured, .measured_total = &measured_total,
                       .co_interval_ns = co_interval, .co_corrected = co_correct && !cfg.open_model,
                       .thresholds = thr, .values = values, .verdicts = verdicts, .nthresholds = nthr,
                       .interrupted = interrupted};
    kb_report_table(json_stdout ? stderr : stdout, &rep);
    fflush(stdout);
    if (!ok && !interrupted) {
        uint64_t failed = kb_stats_finished(&total);
        fprintf(stderr,
                "keel-bench: no successful response: %llu requests, %llu failed (%llu transport errors, %llu with status >= 400)\n",
                (unsigned long long)total.sent, (unsigned long long)failed,
                (unsigned long long)(failed - total.responses), (unsigned long long)total.responses);
    }
    int exit_code = interrupted ? EXIT_INTERRUPTED : !ok ? EXIT_RUNTIME : all ? 0 : EXIT_BREACH;
    if (json) {
        if (kb_report_json(json, &rep) < 0) {
            fprintf(stderr, "keel-bench: writing %s failed\n", json_path);
            exit_code = EXIT_RUNTIME;
        }
        if (json != stdout && fclose(json) != 0) exit_code = EXIT_RUNTIME;
    }
    if (html) {
        if (kb_report_html(html, &rep, &series, run_ns) < 0 || fclose(html) != 0) {
            fprintf(stderr, "keel-bench: writing %s failed\n", html_path);
            exit_code = EXIT_RUNTIME;
        }
    }
    kb_series_free(&series);
    free(routes);
    kb_scenario_free(&sc);
    return exit_code;
}
