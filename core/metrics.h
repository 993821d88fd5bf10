/* metrics.h -- what the server exposes to operators: a snapshot of its
 * counters, rendered as Prometheus text (the --metrics-listen admin port) or as
 * JSON (SIGUSR1, to the log). The admin port is plain HTTP on loopback, served
 * by the server's main thread; it answers GET /metrics and nothing else. */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "counters.h"
#include "loop.h"
#include "pool.h"

/* Upper bounds (seconds) of the dial latency histogram's buckets; +Inf is implied. */
#define METRICS_DIAL_BUCKETS 12
extern const double metrics_dial_bounds[METRICS_DIAL_BUCKETS];

/* One user's figures, summed over the workers. */
typedef struct user_snapshot {
    const char *name;
#define USNAP_FIELD(f, ...) uint64_t f;
    USER_COUNTERS(USNAP_FIELD)
#undef USNAP_FIELD
} user_snapshot_t;

typedef struct server_snapshot {
    const char *pool_type;
    pool_stats_t pool;
#define SNAP_FIELD(f, ...) uint64_t f;
    SERVER_COUNTERS(SNAP_FIELD)
#undef SNAP_FIELD
    uint64_t dial_buckets[METRICS_DIAL_BUCKETS + 1]; /* cumulative counts per bound, last = +Inf */
    double dial_seconds_sum;
    uint64_t dial_count;
    const user_snapshot_t *users;  /* nusers of them (owned by whoever filled the snapshot) */
    int nusers;
} server_snapshot_t;

/* Index of the bucket (non-cumulative) a dial of `seconds` falls in. */
int metrics_dial_bucket(double seconds);

/* Prometheus text exposition format 0.0.4: pool counters labelled with the pool
 * type, reuse rate = Reused/Total and utilization = Active/Total (as the seed
 * defines them; 0 when Total is 0), sessions, streams, bytes, the dial latency
 * histogram, then the per-user families (user="NAME"). Returns the length written (truncated to cap-1, NUL-terminated). */
size_t metrics_render_prometheus(const server_snapshot_t *s, char *buf, size_t cap);
/* One-line JSON object with the same figures (for SIGUSR1). */
size_t metrics_render_json(const server_snapshot_t *s, char *buf, size_t cap);

/* Serves GET /metrics on hostport (must be a loopback address; anything else is
 * refused with an error) from loop l. snap fills a snapshot on each request.
 * 0, or -1 with a message in err. */
typedef void (*metrics_snap_fn)(void *arg, server_snapshot_t *out);
int admin_listen(loop_t *l, const char *hostport, metrics_snap_fn snap, void *arg,
                 char *err, size_t errcap);
void admin_close(loop_t *l);

#endif
