#include "app/crash.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Frames reported; deeper ones are cut (the line says how many were). */
#define MAX_FRAMES 64
/* One line: 64 frames of a symbol and a path each fit comfortably. */
#define LINE_CAP 32768
/* An alternate stack large enough for backtrace() and dladdr on top of the handler. */
#define ALT_STACK (64 * 1024)

/* Process-wide by necessity: a signal handler reaches nothing else. The line buffer is
 * static (no allocation in the handler) and taken by the first crashing thread; a second
 * one waits for the first to kill the process. */
static char line[LINE_CAP];
static atomic_flag taken = ATOMIC_FLAG_INIT;
/* The shard a thread runs (-1: not a shard); set once by the thread itself. */
static _Thread_local int thread_shard = -1;
static _Thread_local void *thread_altstack;

static const int fatal[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};

static const char *sig_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "?";
    }
}

/* Async-signal-safe appenders over the static line (no snprintf: it may allocate). */
typedef struct {
    size_t len;
} out_t;

static void put(out_t *o, const char *s) {
    while (*s && o->len < LINE_CAP - 8) line[o->len++] = *s++;
}

/* s escaped as the inside of a JSON string (quotes, backslashes, control bytes dropped). */
static void put_esc(out_t *o, const char *s) {
    for (; *s && o->len < LINE_CAP - 8; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) continue;
        if (c == '"' || c == '\\') line[o->len++] = '\\';
        line[o->len++] = (char)c;
    }
}

static void put_u(out_t *o, uint64_t v) {
    char b[24];
    int i = (int)sizeof(b);
    b[--i] = '\0';
    do b[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    put(o, b + i);
}

static void put_hex(out_t *o, uintptr_t v) {
    char b[2 + 2 * sizeof(v) + 1];
    int i = (int)sizeof(b);
    b[--i] = '\0';
    do b[--i] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) && i > 2);
    b[--i] = 'x';
    b[--i] = '0';
    put(o, b + i);
}

/* One frame: "module(symbol+0xoff) [0xaddr]", or "module(+0xoff)" relative to the module's
 * load address when the symbol is not exported (addr2line -e module 0xoff names it). */
static void put_frame(out_t *o, void *addr) {
    Dl_info di;
    put(o, "\"");
    if (dladdr(addr, &di) && di.dli_fname) {
        put_esc(o, di.dli_fname);
        put(o, "(");
        if (di.dli_sname) {
            put_esc(o, di.dli_sname);
            put(o, "+");
            put_hex(o, (uintptr_t)addr - (uintptr_t)di.dli_saddr);
        } else {
            put(o, "+");
            put_hex(o, (uintptr_t)addr - (uintptr_t)di.dli_fbase);
        }
        put(o, ") ");
    }
    put(o, "[");
    put_hex(o, (uintptr_t)addr);
    put(o, "]\"");
}

static void on_fatal(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int saved = errno;
    if (!atomic_flag_test_and_set(&taken)) {
        out_t o = {0};
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char tname[17] = "";
        prctl(PR_GET_NAME, tname, 0, 0, 0);
        put(&o, "{\"level\":60,\"time\":");
        put_u(&o, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
        put(&o, ",\"pid\":");
        put_u(&o, (uint64_t)getpid());
        put(&o, ",\"msg\":\"fatal signal\",\"signal\":\"");
        put(&o, sig_name(sig));
        put(&o, "\",\"shard\":");
        if (thread_shard >= 0) put_u(&o, (uint64_t)thread_shard);
        else put(&o, "null");
        put(&o, ",\"thread\":\"");
        put_esc(&o, tname);
        put(&o, "\",\"code\":");
        put_u(&o, (uint64_t)(si->si_code < 0 ? 0 : si->si_code));
        if (si->si_code == SI_USER || si->si_code == SI_TKILL) {
            put(&o, ",\"sender_pid\":"); /* sent with kill(2): not a fault in keel */
            put_u(&o, (uint64_t)si->si_pid);
        } else if (sig != SIGABRT) {
            put(&o, ",\"addr\":\"");
            put_hex(&o, (uintptr_t)si->si_addr);
            put(&o, "\"");
        }
        void *frames[MAX_FRAMES];
        int n = backtrace(frames, MAX_FRAMES);
        put(&o, ",\"backtrace\":[");
        for (int i = 0; i < n; i++) {
            if (i) put(&o, ",");
            put_frame(&o, frames[i]);
        }
        put(&o, "]}\n");
        if (line[o.len - 1] != '\n') line[o.len++] = '\n'; /* cut short: still one line */
        for (size_t off = 0; off < o.len;) {
            ssize_t w = write(STDERR_FILENO, line + off, o.len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
    } else {
        for (;;) pause(); /* another thread is reporting and will end the process */
    }
    /* Die of the signal itself: the default action, exit status and core as without us.
     * The handler was reset (SA_RESETHAND); the signal is blocked until we return, then
     * delivered again (a fault re-executes; a sent signal is raised here). */
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

static void give_altstack(void) {
    void *mem = mmap(NULL, ALT_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return; /* best effort: only stack overflows go unreported */
    stack_t ss = {.ss_sp = mem, .ss_size = ALT_STACK};
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(mem, ALT_STACK);
        return;
    }
    thread_altstack = mem;
}

int kl_crash_install(void) {
    /* backtrace() loads libgcc_s on first use, which allocates: do it now, not in a handler */
    void *warm[2];
    backtrace(warm, 2);
    give_altstack();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (sigaction(fatal[i], &sa, NULL) < 0) return -errno;
    return 0;
}

void kl_crash_thread_init(int shard) {
    thread_shard = shard;
    if (!thread_altstack) give_altstack();
}

void kl_crash_thread_end(void) {
    if (!thread_altstack) return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(thread_altstack, ALT_STACK);
    thread_altstack = NULL;
}
