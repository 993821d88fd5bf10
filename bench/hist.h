/* hist.h -- a log-linear latency histogram (HdrHistogram-like), header only.
 *
 * Values are unsigned 64-bit integers (the bench tools record nanoseconds).
 * Values below 2*HIST_SUB are exact; above that each power-of-two range is split
 * into HIST_SUB equal sub-buckets, so a bucket is at most 1/HIST_SUB = 0.78% wide
 * relative to its lower bound. The full uint64 range is covered (no clamping):
 * 1 us .. 100 s in ns uses ~4000 of the 7424 buckets (58 KiB of counters).
 *
 * Percentiles report the highest value equivalent to the bucket (its upper bound,
 * the conservative choice), clamped to the exact recorded min and max, so p0 is
 * the exact min and p100 the exact max. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)                 /* 128 sub-buckets */
#define HIST_NBUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB) /* 7424 */

typedef struct hist {
    uint64_t count;
    uint64_t min, max;
    double sum;                 /* for the mean; double avoids overflow */
    uint64_t c[HIST_NBUCKETS];
} hist_t;

static inline void hist_init(hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static inline unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;           /* >= 1 here */
    unsigned mant = (unsigned)(v >> shift);         /* in [HIST_SUB, 2*HIST_SUB) */
    return (shift + 1) * HIST_SUB + (mant - HIST_SUB);
}

/* Lowest value that maps to bucket i. */
static inline uint64_t hist_bucket_lo(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1;
    uint64_t mant = HIST_SUB + (i % HIST_SUB);
    return mant << shift;
}

/* Highest value that maps to bucket i. */
static inline uint64_t hist_bucket_hi(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1;
    return hist_bucket_lo(i) + ((uint64_t)1 << shift) - 1;
}

static inline void hist_record_n(hist_t *h, uint64_t v, uint64_t n)
{
    if (!n)
        return;
    h->c[hist_index(v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

static inline void hist_record(hist_t *h, uint64_t v) { hist_record_n(h, v, 1); }

static inline void hist_merge(hist_t *dst, const hist_t *src)
{
    if (!src->count)
        return;
    for (unsigned i = 0; i < HIST_NBUCKETS; i++)
        dst->c[i] += src->c[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

static inline double hist_mean(const hist_t *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

/* The value at percentile p (0..100): the smallest bucket whose cumulative count
 * reaches ceil(p/100 * count), reported as that bucket's upper bound clamped to
 * [min, max]. 0 for an empty histogram. */
static inline uint64_t hist_percentile(const hist_t *h, double p)
{
    if (!h->count)
        return 0;
    if (p <= 0.0)
        return h->min;
    if (p >= 100.0)
        return h->max;
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
        cum += h->c[i];
        if (cum >= rank) {
            uint64_t v = hist_bucket_hi(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}

#endif
