/* bench_util.h -- the helpers every bench tool (delayline, loadgen, target)
 * needs, header only so each tool still builds from its own sources:
 *   bench_die            print "<BENCH_PROG>: message" on stderr, exit 2
 *   bench_now_ns         CLOCK_MONOTONIC in ns
 *   bench_addr_allowed   the only addresses a bench tool may talk to: 127/8,
 *                        ::1 and the namespace test range 198.18.0.0/15
 *   bench_block_signals  block the signals a tool handles itself (USR1, INT,
 *                        TERM, HUP), to take them at a point of its choosing
 * Define BENCH_PROG (the tool's name, a string literal) before including. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#ifndef BENCH_PROG
#error "define BENCH_PROG before including bench_util.h"
#endif

static inline void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int bench_addr_allowed(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
        return (a >> 24) == 127 || (a & 0xfffe0000u) == 0xc6120000u; /* 127/8, 198.18/15 */
    }
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return 0;
}

/* Blocks USR1, INT, TERM and HUP in the calling thread (threads it starts
 * later inherit the mask); *set is left holding them (for sigtimedwait). */
static inline void bench_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

#endif
