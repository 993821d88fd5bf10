/* fake_env.c -- the clock and the log of the stateful fuzz targets (fake_env.h). */
#include "fake_env.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static uint64_t clock_us = FENV_EPOCH_MS * 1000;

void fenv_reset(void) { clock_us = FENV_EPOCH_MS * 1000; }
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
