/* fake_env.c -- the clock, the log and the random bytes of the stateful fuzz
 * targets (fake_env.h). */
#include "fake_env.h"
#include "fuzz_util.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

static uint64_t clock_us = FENV_EPOCH_MS * 1000;
static fuzz_rng_t rng;

void fenv_reset(void)
{
    clock_us = FENV_EPOCH_MS * 1000;
    rng.s = 0;
}
void fenv_advance(uint64_t ms) { clock_us += ms * 1000; }
uint64_t fenv_clock(void *arg) { return clock_us / 1000; }

uint64_t __wrap_now_ms(void) { return clock_us / 1000; }
uint64_t __wrap_now_us(void) { return clock_us; }

void __wrap_log_msg(int level, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
}

int __wrap_RAND_bytes(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i += 8) {
        uint64_t v = fuzz_next(&rng);
        memcpy(buf + i, &v, num - i < 8 ? (size_t)(num - i) : 8);
    }
    return 1;
}

/* The hash seeds of the pool and the refill gate: the same stream. */
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags)
{
    __wrap_RAND_bytes(buf, (int)n);
    return (ssize_t)n;
}
