/* crash.h - a fatal signal (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL) in any thread writes
 * one JSON line to stderr, {"level":60,...,"msg":"fatal signal","signal":"SIGSEGV",
 * "shard":N,"backtrace":[...]}, then dies of the signal with its default action (non-zero
 * exit, core dump where enabled), so that systemd restarts keel and the operator sees
 * why. The handler allocates nothing; frames are resolved with dladdr into a static
 * buffer. */
#ifndef KL_CRASH_H
#define KL_CRASH_H

/** Installs the handlers (and an alternate signal stack for the calling thread, so that a
 * stack overflow is reported too). Call once, early in main. Returns 0 or -errno. */
int kl_crash_install(void);
/** From a thread that should be named in crash lines (shard id >= 0), as it starts: records
 * the id and gives the thread its own alternate signal stack. */
void kl_crash_thread_init(int shard);
/** From that thread as it ends: releases its alternate signal stack. */
void kl_crash_thread_end(void);

#endif
