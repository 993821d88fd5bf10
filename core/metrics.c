/* metrics.c -- a server snapshot rendered as Prometheus text (format 0.0.4)
 * or as one line of JSON. The admin HTTP port that serves it is in admin.c.
 *
 * Ratios are the seed's: reuse = Reused / (Reused + New) and
 * utilization = Active / Total, both 0 while their denominator is 0.
 *
 * The dial histogram: s->dial_buckets[i] is the CUMULATIVE count of dials that
 * took <= metrics_dial_bounds[i] seconds, and s->dial_buckets[METRICS_DIAL_BUCKETS]
 * counts all of them (+Inf). A snapshot read from several threads without a
 * lock can be slightly inconsistent, so the rendering makes the buckets
 * non-decreasing and prints max(+Inf bucket, dial_count) as both the +Inf
 * bucket and _count: the output is always a valid histogram. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_dial_bounds[METRICS_DIAL_BUCKETS] = {
    0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

int metrics_dial_bucket(double seconds)
{
    for (int i = 0; i < METRICS_DIAL_BUCKETS; i++)
        if (seconds <= metrics_dial_bounds[i]) return i;
    return METRICS_DIAL_BUCKETS; /* +Inf (and NaN) */
}

/* ---- an appender that truncates like snprintf but keeps a valid length ---- */

typedef struct out {
    char *buf;
    size_t cap, len;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    if (o->cap == 0) return;
    size_t room = o->cap - o->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    o->len = (size_t)n >= room ? o->cap - 1 : o->len + (size_t)n;
}

/* Shortest "%g" form that reads back as the same double (Go's 'g', -1). */
static const char *fmt_double(double v, char *b, size_t cap)
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == floor(v) && fabs(v) < 1e15) { /* "10", not "1e+01" */
        snprintf(b, cap, "%.0f", v);
        return b;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, cap, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    return b;
}

/* A Prometheus label value: \, " and newline escaped. */
static const char *label_escape(const char *s, char *b, size_t cap)
{
    size_t k = 0;
    for (; s && *s && k + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') { b[k++] = '\\'; b[k++] = *s; }
        else if (*s == '\n') { b[k++] = '\\'; b[k++] = 'n'; }
        else b[k++] = *s;
    }
    b[k] = '\0';
    return b;
}

/* A JSON string body: ", \ and control bytes escaped. */
static const char *json_escape(const char *s, char *b, size_t cap)
{
    size_t k = 0;
    for (; s && *s && k + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { b[k++] = '\\'; b[k++] = (char)ch; }
        else if (ch < 0x20) k += (size_t)snprintf(b + k, cap - k, "\\u%04x", ch);
        else b[k++] = (char)ch;
    }
    b[k] = '\0';
    return b;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static double reuse_ratio(const pool_stats_t *p) { return ratio(p->reused, p->reused + p->created); }
static double util_ratio(const pool_stats_t *p) { return ratio(p->active, p->total); }

/* Cumulative, non-decreasing buckets; cum[METRICS_DIAL_BUCKETS] is +Inf = _count. */
static void dial_cumulative(const server_snapshot_t *s, uint64_t cum[METRICS_DIAL_BUCKETS + 1])
{
    uint64_t prev = 0;
    for (int i = 0; i <= METRICS_DIAL_BUCKETS; i++) {
        uint64_t v = s->dial_buckets[i];
        prev = cum[i] = v > prev ? v : prev;
    }
    if (s->dial_count > cum[METRICS_DIAL_BUCKETS]) cum[METRICS_DIAL_BUCKETS] = s->dial_count;
}

static void family(out_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The per-user counters (counters.h USER_COUNTERS): a family's HELP/TYPE once,
 * then one series per user (and per label set). */
static void render_users(out_t *o, const server_snapshot_t *s)
{
    if (!s->users || s->nusers <= 0) return;
    const char *last = "";
    char name[2 * 64 + 8];
#define PROM_USER(f, type, fam, labels, help)                                                    \
    if (strcmp(last, fam) != 0) family(o, fam, #type, help);                                     \
    last = fam;                                                                                  \
    for (int i = 0; i < s->nusers; i++)                                                          \
        put(o, "%s{user=\"%s\"%s%s} %" PRIu64 "\n", fam,                                          \
            label_escape(s->users[i].name, name, sizeof name), *labels ? "," : "", labels, s->users[i].f);
    USER_COUNTERS(PROM_USER)
#undef PROM_USER
}

size_t metrics_render_prometheus(const server_snapshot_t *s, char *buf, size_t cap)
{
    out_t o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    char pool[128], d[40];
    label_escape(s->pool_type ? s->pool_type : "unknown", pool, sizeof pool);
    const pool_stats_t *p = &s->pool;

    family(&o, "anytls_pool_connections_total", "counter",
           "Outbound connections the pool handed to streams: kind=reused (a warm spare) or kind=new (dialed on demand).");
    put(&o, "anytls_pool_connections_total{pool=\"%s\",kind=\"reused\"} %" PRIu64 "\n", pool, p->reused);
    put(&o, "anytls_pool_connections_total{pool=\"%s\",kind=\"new\"} %" PRIu64 "\n", pool, p->created);

    static const struct { const char *name, *type, *help; size_t off; } pf[] = {
        {"anytls_pool_cleaned_total", "counter", "Spares the pool closed (idle expiry, stale on check, target forgotten).",
         offsetof(pool_stats_t, cleaned)},
        {"anytls_pool_active_connections", "gauge", "Pooled outbound connections now carrying a stream.",
         offsetof(pool_stats_t, active)},
        {"anytls_pool_idle_connections", "gauge", "Warm spares the pool holds now.",
         offsetof(pool_stats_t, idle)},
        {"anytls_pool_dialing_connections", "gauge", "Spare refill connects in flight.",
         offsetof(pool_stats_t, dialing)},
        {"anytls_pool_spares_dialed_total", "counter", "Spare refill connects started.",
         offsetof(pool_stats_t, spares_dialed)},
        {"anytls_pool_spare_dial_failures_total", "counter", "Spare refill connects that failed.",
         offsetof(pool_stats_t, dial_failed)},
        {"anytls_pool_stale_total", "counter", "Spares found closed by the target when checked (also counted as cleaned).",
         offsetof(pool_stats_t, stale)},
        {"anytls_pool_expired_total", "counter", "Spares closed for idle time (also counted as cleaned).",
         offsetof(pool_stats_t, expired)},
        {"anytls_pool_rejected_total", "counter", "Acquires refused because the target was at max-outbound-connections.",
         offsetof(pool_stats_t, rejected)},
        {"anytls_pool_targets", "gauge", "Targets (host:port) the pool tracks now.",
         offsetof(pool_stats_t, targets)},
    };
    for (size_t i = 0; i < sizeof pf / sizeof pf[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)p + pf[i].off, sizeof v);
        family(&o, pf[i].name, pf[i].type, pf[i].help);
        put(&o, "%s{pool=\"%s\"} %" PRIu64 "\n", pf[i].name, pool, v);
    }
    family(&o, "anytls_pool_reuse_ratio", "gauge", "Reused / (Reused + New) since start; 0 before the first acquire.");
    put(&o, "anytls_pool_reuse_ratio{pool=\"%s\"} %s\n", pool, fmt_double(reuse_ratio(p), d, sizeof d));
    family(&o, "anytls_pool_utilization_ratio", "gauge", "Active / Total (the [Pool Stats] figures); 0 while Total is 0.");
    put(&o, "anytls_pool_utilization_ratio{pool=\"%s\"} %s\n", pool, fmt_double(util_ratio(p), d, sizeof d));

    /* The server's counters (counters.h): a family's HELP/TYPE once, then its series. */
    const char *last = "";
#define PROM_SERIES(f, type, fam, labels, jg, jk, help)                                  \
    if (strcmp(last, fam) != 0) family(&o, fam, #type, help);                            \
    last = fam;                                                                          \
    put(&o, "%s%s%s%s %" PRIu64 "\n", fam, *labels ? "{" : "", labels, *labels ? "}" : "", s->f);
    SERVER_COUNTERS(PROM_SERIES)
#undef PROM_SERIES

    render_users(&o, s);

    uint64_t cum[METRICS_DIAL_BUCKETS + 1];
    dial_cumulative(s, cum);
    family(&o, "anytls_dial_duration_seconds", "histogram", "Time to connect to a target for a stream (pool misses and unpooled dials).");
    for (int i = 0; i < METRICS_DIAL_BUCKETS; i++)
        put(&o, "anytls_dial_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
            fmt_double(metrics_dial_bounds[i], d, sizeof d), cum[i]);
    put(&o, "anytls_dial_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum[METRICS_DIAL_BUCKETS]);
    put(&o, "anytls_dial_duration_seconds_sum %s\n", fmt_double(s->dial_seconds_sum, d, sizeof d));
    put(&o, "anytls_dial_duration_seconds_count %" PRIu64 "\n", cum[METRICS_DIAL_BUCKETS]);
    return o.len;
}

size_t metrics_render_json(const server_snapshot_t *s, char *buf, size_t cap)
{
    out_t o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    const pool_stats_t *p = &s->pool;
    char pool[256], d1[40], d2[40];
    json_escape(s->pool_type ? s->pool_type : "unknown", pool, sizeof pool);
    put(&o, "{\"pool_type\":\"%s\",\"pool\":{\"total\":%" PRIu64 ",\"active\":%" PRIu64 ",\"reused\":%" PRIu64
            ",\"new\":%" PRIu64 ",\"cleaned\":%" PRIu64 ",\"idle\":%" PRIu64 ",\"dialing\":%" PRIu64
            ",\"spares_dialed\":%" PRIu64 ",\"spare_dial_failures\":%" PRIu64 ",\"stale\":%" PRIu64
            ",\"expired\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"targets\":%" PRIu64
            ",\"reuse_ratio\":%s,\"utilization_ratio\":%s}",
        pool, p->total, p->active, p->reused, p->created, p->cleaned, p->idle, p->dialing,
        p->spares_dialed, p->dial_failed, p->stale, p->expired, p->rejected, p->targets,
        fmt_double(reuse_ratio(p), d1, sizeof d1), fmt_double(util_ratio(p), d2, sizeof d2));
    /* The server's counters (counters.h), an object per json_group. */
    const char *group = NULL;
#define JSON_VALUE(f, type, fam, labels, jg, jk, help)                                   \
    if (!group || strcmp(group, jg) != 0) put(&o, "%s,\"%s\":{", group ? "}" : "", jg); \
    else put(&o, ",");                                                                   \
    group = jg;                                                                          \
    put(&o, "\"%s\":%" PRIu64, jk, s->f);
    SERVER_COUNTERS(JSON_VALUE)
#undef JSON_VALUE
    if (group) put(&o, "}");
    uint64_t cum[METRICS_DIAL_BUCKETS + 1];
    dial_cumulative(s, cum);
    put(&o, ",\"dial_seconds\":{\"le\":{");
    for (int i = 0; i < METRICS_DIAL_BUCKETS; i++)
        put(&o, "\"%s\":%" PRIu64 ",", fmt_double(metrics_dial_bounds[i], d1, sizeof d1), cum[i]);
    double sum = isfinite(s->dial_seconds_sum) ? s->dial_seconds_sum : 0.0; /* JSON has no NaN */
    put(&o, "\"+Inf\":%" PRIu64 "},\"sum\":%s,\"count\":%" PRIu64 "}}",
        cum[METRICS_DIAL_BUCKETS], fmt_double(sum, d1, sizeof d1), cum[METRICS_DIAL_BUCKETS]);
    return o.len;
}
