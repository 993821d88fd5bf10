/* lg_rng.h -- the load generator's random numbers: xoshiro256** seeded by
 * splitmix64, one generator per process (seeded after the --procs fork, so each
 * shard draws its own sequence). Fast, reproducible for a seed, not for
 * cryptography. */
#ifndef LG_RNG_H
#define LG_RNG_H

#include <stdint.h>

void lg_rng_seed(uint64_t seed);
/* Uniform in [0, 1). */
double lg_rng_u01(void);

#endif
