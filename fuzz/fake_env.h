/* fake_env.h -- the clock, the log and the random bytes of the stateful fuzz
 * targets, replaced at link time (-Wl,--wrap=now_ms,now_us,log_msg,RAND_bytes,getrandom;
 * the Makefile's FUZZ_WRAP_ENV):
 *  - now_ms/now_us read a clock the harness moves (fenv_advance), so the
 *    loop's timers fire when the input says time has passed, and a run
 *    replays exactly;
 *  - log_msg formats every line (so ASan/UBSan check its arguments: peer
 *    text printed with %s must be a C string) and throws it away. With
 *    log_level at LOG_DEBUG every line of the code is formatted;
 *  - RAND_bytes (the code's calls; OpenSSL's own are not wrapped) gives a
 *    splitmix64 stream restarted at each input: the client's padding sizes
 *    (padding.c's rand_below) are drawn from it, so a run replays exactly
 *    (coverage does not change from one replay to the next), and a draw
 *    costs nothing next to OpenSSL's DRBG (7% of a client execution);
 *    getrandom (the pool's and the refill gate's hash seeds) reads it too. */
#ifndef FAKE_ENV_H
#define FAKE_ENV_H

#include <stdint.h>

#define FENV_EPOCH_MS 1000000000ull  /* the clock at the start of each input */

void fenv_reset(void);               /* the clock back to FENV_EPOCH_MS, RAND_bytes restarted */
void fenv_advance(uint64_t ms);
uint64_t fenv_clock(void *arg);      /* in ms: a pool_config_t.now_ms */

#endif
