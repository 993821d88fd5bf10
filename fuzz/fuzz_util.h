/* fuzz_util.h -- helpers shared by the libFuzzer targets in fuzz/.
 * A failed property check prints what failed and abort()s, which libFuzzer
 * reports as a crash (and saves the input). */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                           \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                     \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* FNV-1a: a seed for the target's own choices (chunk sizes, random draws) that
 * depends only on the input, so every crash replays. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* splitmix64 */
typedef struct fuzz_rng { uint64_t s; } fuzz_rng_t;

static inline uint64_t fuzz_next(fuzz_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform enough in [0, n), n > 0. */
static inline uint64_t fuzz_below(fuzz_rng_t *r, uint64_t n)
{
    return fuzz_next(r) % n;
}

/* A growable byte log. */
typedef struct fuzz_buf { uint8_t *p; size_t len, cap; } fuzz_buf_t;

static inline void fuzz_put(fuzz_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n)
            c *= 2;
        b->p = realloc(b->p, c);
        FUZZ_CHECK(b->p != NULL);
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void fuzz_put8(fuzz_buf_t *b, uint8_t v) { fuzz_put(b, &v, 1); }

static inline void fuzz_buf_free(fuzz_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* An exact-size heap copy (so ASan sees any read past the end), optionally
 * NUL-terminated. */
static inline char *fuzz_dup(const uint8_t *p, size_t n, int nul)
{
    char *s = malloc(n + (nul ? 1 : 0) + (n == 0 && !nul));
    FUZZ_CHECK(s != NULL);
    if (n)
        memcpy(s, p, n);
    if (nul)
        s[n] = '\0';
    return s;
}

#endif
