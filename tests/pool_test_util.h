/* pool_test_util.h -- shared by the pool contract and stress tests. The suites
 * run on every implementation in the registry (pool_count() / pool_at(i),
 * pools/pool.c): a type added there is tested without an edit here. */
#ifndef POOL_TEST_UTIL_H
#define POOL_TEST_UTIL_H

#include <stdbool.h>
#include <string.h>

#include "pool.h"

static inline const char *pool_test_impl(int i) { return pool_at(i)->name; }

/* "none" is the no-pooling baseline: it holds no spares and keeps no state per
 * target (always MISS, never FULL, tick asks for nothing). Assertions about
 * held spares, per-target caps or tracked targets do not apply to it; the
 * suites check its baseline behaviour there instead. */
static inline bool pool_test_holds(const char *impl) { return strcmp(impl, "none") != 0; }

#endif
