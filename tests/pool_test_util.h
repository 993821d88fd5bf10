/* pool_test_util.h -- shared by the pool contract and stress tests. */
#ifndef POOL_TEST_UTIL_H
#define POOL_TEST_UTIL_H

#include <stdbool.h>
#include <string.h>

#include "pool.h"

/* Every implementation registered in pools/pool.c; the suites run on each. */
static const char *const pool_test_impls[] = {"none", "lock", "lockfree", "highperf"};
#define POOL_TEST_NIMPLS ((int)(sizeof pool_test_impls / sizeof pool_test_impls[0]))

/* "none" is the no-pooling baseline: it holds no spares and keeps no state per
 * target (always MISS, never FULL, tick asks for nothing). Assertions about
 * held spares, per-target caps or tracked targets do not apply to it; the
 * suites check its baseline behaviour there instead. */
static inline bool pool_test_holds(const char *impl) { return strcmp(impl, "none") != 0; }

#endif
