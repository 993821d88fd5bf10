/* lg_rng.c -- xoshiro256** seeded by splitmix64 (lg_rng.h). Its state is this
 * file's alone: only lg_rng_* touch it. */
#include "lg_rng.h"

static uint64_t lg_rng_s[4];

static uint64_t lg_rng_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t lg_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t lg_rng_next(void)
{
    uint64_t *s = lg_rng_s;
    uint64_t r = lg_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = lg_rng_rotl(s[3], 45);
    return r;
}

void lg_rng_seed(uint64_t seed)
{
    for (int k = 0; k < 4; k++) lg_rng_s[k] = lg_rng_splitmix(&seed);
}

double lg_rng_u01(void)
{
    return (double)(lg_rng_next() >> 11) * 0x1.0p-53;
}
