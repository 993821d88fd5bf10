/* test_hist.c -- bench/hist.h: bucket mapping, precision, percentiles, merge. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "../bench/hist.h"

/* Every value maps into a bucket whose [lo, hi] contains it; indexes increase
 * with the value; a bucket is at most 1/128 wide relative to its lower bound. */
static void test_index_bounds(void **state)
{
    (void)state;
    uint64_t vals[] = {0, 1, 2, 127, 128, 255, 256, 257, 511, 512, 1000, 1023,
                       1024, 999999, 1000000, 123456789, 100000000000ull,
                       (1ull << 40) + 12345, UINT64_MAX / 3, UINT64_MAX - 1, UINT64_MAX};
    unsigned prev = 0;
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        uint64_t v = vals[k];
        unsigned i = hist_index(v);
        assert_true(i < HIST_NBUCKETS);
        assert_true(hist_bucket_lo(i) <= v);
        assert_true(hist_bucket_hi(i) >= v);
        if (k)
            assert_true(i >= prev);
        prev = i;
        uint64_t lo = hist_bucket_lo(i), hi = hist_bucket_hi(i);
        if (lo >= 2 * HIST_SUB)
            assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 128 + 1e-12);
        else
            assert_int_equal(lo, hi); /* exact below 256 */
    }
    assert_int_equal(hist_index(UINT64_MAX), HIST_NBUCKETS - 1);
}

/* Buckets tile the range: hi(i) + 1 == lo(i+1) everywhere. */
static void test_contiguous(void **state)
{
    (void)state;
    for (unsigned i = 0; i + 1 < HIST_NBUCKETS; i++) {
        assert_int_equal(hist_bucket_hi(i) + 1, hist_bucket_lo(i + 1));
        assert_int_equal(hist_index(hist_bucket_lo(i)), i);
        assert_int_equal(hist_index(hist_bucket_hi(i)), i);
    }
}

static void test_percentiles_uniform(void **state)
{
    (void)state;
    hist_t *h = malloc(sizeof *h);
    assert_non_null(h);
    hist_init(h);
    assert_int_equal(hist_percentile(h, 50), 0);
    /* 1..100000 us in ns */
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(h, v * 1000);
    assert_int_equal(h->count, 100000);
    assert_int_equal(hist_percentile(h, 0), 1000);
    assert_int_equal(hist_percentile(h, 100), 100000000);
    double ps[] = {1, 10, 50, 90, 99, 99.9};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        double exact = ps[k] / 100.0 * 100000 * 1000;
        double got = (double)hist_percentile(h, ps[k]);
        assert_true(got >= exact * 0.999);          /* upper bound: never below */
        assert_true(got <= exact * (1 + 1.0 / 128) + 1000);
    }
    assert_true(hist_mean(h) > 50000.4e3 && hist_mean(h) < 50000.6e3);
    free(h);
}

static void test_merge_and_single(void **state)
{
    (void)state;
    hist_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    hist_init(a);
    hist_init(b);
    hist_record(a, 40500000);               /* one value: every percentile is it */
    assert_int_equal(hist_percentile(a, 50), 40500000);
    assert_int_equal(hist_percentile(a, 99), 40500000);
    hist_record_n(b, 10, 99);
    hist_merge(a, b);
    assert_int_equal(a->count, 100);
    assert_int_equal(a->min, 10);
    assert_int_equal(a->max, 40500000);
    assert_int_equal(hist_percentile(a, 99), 10);
    assert_int_equal(hist_percentile(a, 99.5), 40500000);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_bounds),
        cmocka_unit_test(test_contiguous),
        cmocka_unit_test(test_percentiles_uniform),
        cmocka_unit_test(test_merge_and_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
