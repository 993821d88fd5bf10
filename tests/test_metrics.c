/* test_metrics.c -- the Prometheus/JSON rendering of a server snapshot and the
 * admin port (a real loop on 127.0.0.1 in a thread). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "metrics.h"

static char buf[65536];

/* A snapshot with known figures; dial durations go through metrics_dial_bucket
 * and are then made cumulative, as the server does. */
static void known_snapshot(server_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->pool_type = "lockfree";
    s->pool.reused = 6;
    s->pool.created = 2;
    s->pool.total = 8;
    s->pool.active = 2;
    s->pool.cleaned = 3;
    s->pool.idle = 5;
    s->pool.dialing = 1;
    s->pool.spares_dialed = 9;
    s->pool.stale = 1;
    s->pool.expired = 2;
    s->pool.rejected = 4;
    s->pool.dial_failed = 7;
    s->pool.targets = 2;
    s->sessions_open = 3;
    s->sessions_total = 11;
    s->auth_failures = 1;
    s->streams_open = 4;
    s->streams_total = 40;
    s->dial_failures = 2;
    s->queued_to_targets = 4096;
    s->budget_pauses = 8;
    s->preauth_refused = 6;
    s->streams_no_destination = 5;
    s->targets_denied = 9;
    s->uot_dropped = 10;
    s->bytes_client_to_target = 12345;
    s->bytes_target_to_client = 678901234567ULL;
    static const double dials[] = {0.0001, 0.0005, 0.003, 0.003, 0.2, 1.5, 30};
    uint64_t per[METRICS_DIAL_BUCKETS + 1] = {0};
    for (size_t i = 0; i < sizeof dials / sizeof dials[0]; i++) {
        per[metrics_dial_bucket(dials[i])]++;
        s->dial_seconds_sum += dials[i];
        s->dial_count++;
    }
    uint64_t run = 0;
    for (int i = 0; i <= METRICS_DIAL_BUCKETS; i++) s->dial_buckets[i] = (run += per[i]);
}

/* The whole line `line` is in text. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

static void assert_has_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        print_error("missing line: %s\n--- in ---\n%s\n", line, text);
        fail();
    }
}

/* Value of the sample named exactly `series` (name plus labels). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
    print_error("no sample %s\n", series);
    fail();
    return NAN;
}

/* A minimal Prometheus text-format (0.0.4) check: every line is a HELP or a
 * TYPE comment or a sample `name{label="v",...} value`; each family's TYPE
 * comes before its samples and once; counters are not negative; values parse. */
static void assert_valid_exposition(const char *text)
{
    regex_t help, type, smp;
    assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]*$", REG_EXTENDED), 0);
    assert_int_equal(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                             REG_EXTENDED), 0);
    assert_int_equal(regcomp(&smp,
                             "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                             "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
                             "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})? "
                             "([^ ]+)$",
                             REG_EXTENDED), 0);
    char typed[64][80];
    char kinds[64][16];
    int ntyped = 0, nsamples = 0;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        assert_non_null(e);
        char line[512];
        size_t n = (size_t)(e - p);
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        p = e + 1;
        regmatch_t m[8];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(regexec(&help, line, 0, NULL, 0), 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(regexec(&type, line, 3, m, 0), 0);
            assert_true(ntyped < 64);
            snprintf(typed[ntyped], sizeof typed[0], "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            snprintf(kinds[ntyped], sizeof kinds[0], "%.*s", (int)(m[2].rm_eo - m[2].rm_so), line + m[2].rm_so);
            for (int i = 0; i < ntyped; i++) assert_string_not_equal(typed[i], typed[ntyped]);
            ntyped++;
            continue;
        }
        if (regexec(&smp, line, 8, m, 0) != 0) {
            print_error("bad sample line: '%s'\n", line);
            fail();
        }
        nsamples++;
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
        const char *val = line + m[6].rm_so;
        if (strcmp(val, "+Inf") && strcmp(val, "-Inf") && strcmp(val, "NaN")) {
            char *end;
            strtod(val, &end);
            assert_true(*end == '\0');
        }
        /* its family: the name itself, or the histogram it belongs to */
        int found = -1;
        for (int i = 0; i < ntyped; i++) {
            size_t tl = strlen(typed[i]);
            if (strcmp(name, typed[i]) == 0) found = i;
            else if (strcmp(kinds[i], "histogram") == 0 && strncmp(name, typed[i], tl) == 0 &&
                     (!strcmp(name + tl, "_bucket") || !strcmp(name + tl, "_sum") || !strcmp(name + tl, "_count")))
                found = i;
        }
        if (found < 0) {
            print_error("sample '%s' before (or without) its # TYPE\n", name);
            fail();
        }
        /* the family is the last one typed: samples of a family are contiguous */
        assert_int_equal(found, ntyped - 1);
        if (strcmp(kinds[found], "counter") == 0) {
            assert_true(strtod(val, NULL) >= 0);
            size_t nl = strlen(name);
            assert_true(nl > 6 && strcmp(name + nl - 6, "_total") == 0);
        }
        assert_true(strncmp(name, "anytls_", 7) == 0);
    }
    assert_true(nsamples > 0);
    regfree(&help);
    regfree(&type);
    regfree(&smp);
}

/* The histogram's buckets: cumulative, non-decreasing, +Inf last and equal to _count. */
static void assert_histogram(const char *text, uint64_t want_count)
{
    char series[128], le[32];
    double prev = -1;
    for (int i = 0; i < METRICS_DIAL_BUCKETS; i++) {
        snprintf(le, sizeof le, "%g", metrics_dial_bounds[i]);
        snprintf(series, sizeof series, "anytls_dial_duration_seconds_bucket{le=\"%s\"}", le);
        double v = sample(text, series);
        assert_true(v >= prev);
        prev = v;
    }
    double inf = sample(text, "anytls_dial_duration_seconds_bucket{le=\"+Inf\"}");
    assert_true(inf >= prev);
    assert_true(inf == (double)want_count);
    assert_true(sample(text, "anytls_dial_duration_seconds_count") == inf);
    /* +Inf is the last bucket line */
    static const char inf_line[] = "anytls_dial_duration_seconds_bucket{le=\"+Inf\"}";
    const char *last = strstr(text, inf_line);
    assert_null(strstr(last + sizeof inf_line - 1, "_bucket{"));
}

static void test_dial_buckets(void **state)
{
    (void)state;
    for (int i = 1; i < METRICS_DIAL_BUCKETS; i++) assert_true(metrics_dial_bounds[i] > metrics_dial_bounds[i - 1]);
    assert_true(metrics_dial_bounds[0] == 0.0005);
    assert_true(metrics_dial_bounds[METRICS_DIAL_BUCKETS - 1] == 10);
    assert_int_equal(metrics_dial_bucket(0), 0);
    assert_int_equal(metrics_dial_bucket(-1), 0);
    assert_int_equal(metrics_dial_bucket(0.0005), 0);  /* le is inclusive */
    assert_int_equal(metrics_dial_bucket(0.00051), 1);
    assert_int_equal(metrics_dial_bucket(0.001), 1);
    assert_int_equal(metrics_dial_bucket(10), METRICS_DIAL_BUCKETS - 1);
    assert_int_equal(metrics_dial_bucket(10.01), METRICS_DIAL_BUCKETS);
    assert_int_equal(metrics_dial_bucket(INFINITY), METRICS_DIAL_BUCKETS);
    assert_int_equal(metrics_dial_bucket(NAN), METRICS_DIAL_BUCKETS);
}

static void test_prometheus_known(void **state)
{
    (void)state;
    server_snapshot_t s;
    known_snapshot(&s);
    size_t n = metrics_render_prometheus(&s, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_true(n < sizeof buf - 1);
    assert_valid_exposition(buf);

    assert_has_line(buf, "# TYPE anytls_pool_connections_total counter");
    assert_true(strstr(buf, "# HELP anytls_pool_connections_total ") != NULL);
    assert_has_line(buf, "anytls_pool_connections_total{pool=\"lockfree\",kind=\"reused\"} 6");
    assert_has_line(buf, "anytls_pool_connections_total{pool=\"lockfree\",kind=\"new\"} 2");
    assert_has_line(buf, "# TYPE anytls_pool_reuse_ratio gauge");
    assert_has_line(buf, "anytls_pool_reuse_ratio{pool=\"lockfree\"} 0.75");        /* 6 / (6 + 2) */
    assert_has_line(buf, "# TYPE anytls_pool_utilization_ratio gauge");
    assert_has_line(buf, "anytls_pool_utilization_ratio{pool=\"lockfree\"} 0.25");  /* 2 / 8 */
    assert_has_line(buf, "# TYPE anytls_pool_idle_connections gauge");
    assert_has_line(buf, "anytls_pool_idle_connections{pool=\"lockfree\"} 5");
    assert_has_line(buf, "anytls_pool_active_connections{pool=\"lockfree\"} 2");
    assert_has_line(buf, "anytls_pool_cleaned_total{pool=\"lockfree\"} 3");
    assert_has_line(buf, "anytls_pool_rejected_total{pool=\"lockfree\"} 4");
    assert_has_line(buf, "anytls_pool_spare_dial_failures_total{pool=\"lockfree\"} 7");
    assert_has_line(buf, "anytls_pool_targets{pool=\"lockfree\"} 2");
    assert_has_line(buf, "# TYPE anytls_sessions_open gauge");
    assert_has_line(buf, "anytls_sessions_open 3");
    assert_has_line(buf, "# TYPE anytls_sessions_total counter");
    assert_has_line(buf, "anytls_sessions_total 11");
    assert_has_line(buf, "anytls_auth_failures_total 1");
    assert_has_line(buf, "anytls_preauth_refused_total 6");
    assert_has_line(buf, "anytls_queued_to_targets_bytes 4096");
    assert_has_line(buf, "anytls_buffer_budget_pauses_total 8");
    assert_has_line(buf, "anytls_streams_open 4");
    assert_has_line(buf, "anytls_streams_total 40");
    assert_has_line(buf, "anytls_dial_failures_total 2");
    assert_has_line(buf, "anytls_streams_no_destination_total 5");
    assert_has_line(buf, "anytls_targets_denied_total 9");
    assert_has_line(buf, "anytls_uot_dropped_total 10");
    assert_has_line(buf, "# TYPE anytls_bytes_total counter");
    assert_has_line(buf, "anytls_bytes_total{direction=\"client_to_target\"} 12345");
    assert_has_line(buf, "anytls_bytes_total{direction=\"target_to_client\"} 678901234567");

    /* the histogram, bucket by bucket: 0.0001 and 0.0005 in the first bound,
     * two at 3 ms (<= 0.005), 0.2 (<= 0.25), 1.5 (<= 2.5), 30 only in +Inf */
    assert_has_line(buf, "# TYPE anytls_dial_duration_seconds histogram");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.0005\"} 2");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.001\"} 2");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.005\"} 4");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.1\"} 4");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.25\"} 5");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"1\"} 5");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"2.5\"} 6");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"10\"} 6");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"+Inf\"} 7");
    assert_has_line(buf, "anytls_dial_duration_seconds_count 7");
    assert_true(fabs(sample(buf, "anytls_dial_duration_seconds_sum") - s.dial_seconds_sum) < 1e-12);
    assert_histogram(buf, 7);
}

/* Per-user families: one HELP/TYPE each, a series per user, the user label first. */
static void test_prometheus_users(void **state)
{
    (void)state;
    server_snapshot_t s;
    known_snapshot(&s);
    static user_snapshot_t u[2];
    memset(u, 0, sizeof u);
    u[0].name = "alice";
    u[0].sessions_open = 1;
    u[0].sessions_total = 3;
    u[0].streams_total = 7;
    u[0].bytes_client_to_target = 100;
    u[0].bytes_target_to_client = 200;
    u[1].name = "bob\"x";   /* escaped, whatever the loader lets through */
    s.users = u;
    s.nusers = 2;
    metrics_render_prometheus(&s, buf, sizeof buf);
    assert_valid_exposition(buf);
    assert_has_line(buf, "# TYPE anytls_user_sessions_open gauge");
    assert_has_line(buf, "anytls_user_sessions_open{user=\"alice\"} 1");
    assert_has_line(buf, "anytls_user_sessions_total{user=\"alice\"} 3");
    assert_has_line(buf, "anytls_user_streams_total{user=\"alice\"} 7");
    assert_has_line(buf, "# TYPE anytls_user_bytes_total counter");
    assert_has_line(buf, "anytls_user_bytes_total{user=\"alice\",direction=\"client_to_target\"} 100");
    assert_has_line(buf, "anytls_user_bytes_total{user=\"alice\",direction=\"target_to_client\"} 200");
    assert_has_line(buf, "anytls_user_sessions_open{user=\"bob\\\"x\"} 0");
    const char *p = buf;
    int helps = 0;
    while ((p = strstr(p, "# HELP anytls_user_bytes_total "))) { helps++; p++; }
    assert_int_equal(helps, 1);
}

static void test_prometheus_zero(void **state)
{
    (void)state;
    server_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.pool_type = "none";
    size_t n = metrics_render_prometheus(&s, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_valid_exposition(buf);
    assert_has_line(buf, "anytls_pool_reuse_ratio{pool=\"none\"} 0");
    assert_has_line(buf, "anytls_pool_utilization_ratio{pool=\"none\"} 0");
    assert_has_line(buf, "anytls_pool_connections_total{pool=\"none\",kind=\"reused\"} 0");
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"+Inf\"} 0");
    assert_has_line(buf, "anytls_dial_duration_seconds_sum 0");
    assert_has_line(buf, "anytls_dial_duration_seconds_count 0");
    assert_null(strstr(buf, "NaN"));
    assert_null(strstr(buf, "nan"));
    assert_histogram(buf, 0);

    /* no pool type at all, and one that needs escaping */
    s.pool_type = NULL;
    metrics_render_prometheus(&s, buf, sizeof buf);
    assert_has_line(buf, "anytls_pool_idle_connections{pool=\"unknown\"} 0");
    s.pool_type = "a\"b\\c\nd";
    metrics_render_prometheus(&s, buf, sizeof buf);
    assert_valid_exposition(buf);
    assert_has_line(buf, "anytls_pool_idle_connections{pool=\"a\\\"b\\\\c\\nd\"} 0");
}

/* A snapshot read without a lock may be off by a little: the output stays a
 * valid histogram (non-decreasing, +Inf == _count >= every bucket). */
static void test_prometheus_inconsistent(void **state)
{
    (void)state;
    server_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.pool_type = "lock";
    s.dial_buckets[0] = 5;
    s.dial_buckets[1] = 3;  /* went backwards */
    for (int i = 2; i <= METRICS_DIAL_BUCKETS; i++) s.dial_buckets[i] = 6;
    s.dial_count = 9;       /* more than +Inf */
    metrics_render_prometheus(&s, buf, sizeof buf);
    assert_valid_exposition(buf);
    assert_has_line(buf, "anytls_dial_duration_seconds_bucket{le=\"0.001\"} 5");
    assert_histogram(buf, 9);
    s.dial_count = 2;       /* fewer than +Inf: the buckets win */
    metrics_render_prometheus(&s, buf, sizeof buf);
    assert_histogram(buf, 6);
}

static void test_truncation(void **state)
{
    (void)state;
    server_snapshot_t s;
    known_snapshot(&s);
    size_t full = metrics_render_prometheus(&s, buf, sizeof buf);
    char small[100];
    memset(small, 'x', sizeof small);
    size_t n = metrics_render_prometheus(&s, small, sizeof small);
    assert_int_equal(n, sizeof small - 1);
    assert_int_equal(small[n], '\0');
    assert_memory_equal(small, buf, n);
    assert_int_equal(metrics_render_prometheus(&s, small, 0), 0);
    assert_int_equal(metrics_render_prometheus(&s, small, 1), 0);
    assert_int_equal(small[0], '\0');
    n = metrics_render_json(&s, small, sizeof small);
    assert_int_equal(n, sizeof small - 1);
    assert_int_equal(small[n], '\0');
    char *exact = malloc(full + 1);
    assert_int_equal(metrics_render_prometheus(&s, exact, full + 1), full);
    assert_string_equal(exact, buf);
    free(exact);
}

static void test_json(void **state)
{
    (void)state;
    server_snapshot_t s;
    known_snapshot(&s);
    size_t n = metrics_render_json(&s, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    /* every object opens once: a group split in counters.h would repeat its key */
    for (const char *p = buf; (p = strstr(p, "\":{")); p++) {
        const char *q = p;
        while (q > buf && q[-1] != '"') q--;
        char key[64];
        snprintf(key, sizeof key, "\"%.*s\":{", (int)(p - q), q);
        const char *first = strstr(buf, key);
        assert_non_null(first);
        if (strstr(first + 1, key)) { print_error("JSON object %s twice: %s\n", key, buf); fail(); }
    }
    assert_int_equal(buf[0], '{');
    assert_int_equal(buf[n - 1], '}');
    assert_null(strchr(buf, '\n'));
    static const char *const want[] = {
        "\"pool_type\":\"lockfree\"", "\"total\":8,", "\"active\":2,", "\"reused\":6,", "\"new\":2,",
        "\"cleaned\":3,", "\"idle\":5,", "\"reuse_ratio\":0.75,", "\"utilization_ratio\":0.25}",
        "\"sessions\":{\"open\":3,\"total\":11,\"auth_failures\":1,\"preauth_refused\":6,\"user_cap_refused\":0}",
        "\"streams\":{\"open\":4,\"total\":40,\"dial_failures\":2,\"no_destination\":5,\"targets_denied\":9}",
        "\"uot\":{\"dropped\":10}",
        "\"buffers\":{\"to_targets\":4096,\"budget_pauses\":8}",
        "\"bytes\":{\"client_to_target\":12345,\"target_to_client\":678901234567}",
        "\"le\":{\"0.0005\":2,", "\"+Inf\":7}", "\"count\":7}}",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(buf, want[i])) {
            print_error("missing %s in %s\n", want[i], buf);
            fail();
        }
    }
    /* braces balance outside strings */
    int depth = 0, in_str = 0;
    for (const char *p = buf; *p; p++) {
        if (in_str) { if (*p == '\\') p++; else if (*p == '"') in_str = 0; continue; }
        if (*p == '"') in_str = 1;
        else if (*p == '{') depth++;
        else if (*p == '}') { depth--; assert_true(depth >= 0); }
    }
    assert_int_equal(depth, 0);
    assert_false(in_str);

    memset(&s, 0, sizeof s);
    s.pool_type = "x\"y";
    s.dial_seconds_sum = NAN;
    metrics_render_json(&s, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"pool_type\":\"x\\\"y\""));
    assert_non_null(strstr(buf, "\"reuse_ratio\":0,"));
    assert_non_null(strstr(buf, "\"sum\":0,"));
    assert_null(strstr(buf, "NaN"));
}

/* ---- the admin port ---- */

static loop_t *L;
static pthread_t T;
static server_snapshot_t snap_for_admin;

static void fill_snap(void *arg, server_snapshot_t *out)
{
    assert_ptr_equal(arg, &snap_for_admin);
    *out = snap_for_admin;
}

static void *run_loop(void *arg)
{
    loop_run(arg);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int port;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends req, reads until EOF into out; returns the length read. */
static size_t http(const char *req, size_t reqlen, char *out, size_t cap)
{
    int fd = dial();
    assert_int_equal(send(fd, req, reqlen, MSG_NOSIGNAL), (ssize_t)reqlen);
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        assert_true(r >= 0);
        if (r == 0) break;
        n += (size_t)r;
        assert_true(n < cap - 1);
    }
    out[n] = '\0';
    close(fd);
    return n;
}

static int admin_setup(void **state)
{
    (void)state;
    known_snapshot(&snap_for_admin);
    L = loop_new();
    assert_non_null(L);
    char err[256], hp[64];
    port = free_port();
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    if (admin_listen(L, hp, fill_snap, &snap_for_admin, err, sizeof err) != 0) {
        print_error("admin_listen: %s\n", err);
        return -1;
    }
    /* started after admin_listen: the loop thread sees its state */
    return pthread_create(&T, NULL, run_loop, L);
}

static void stop_on_loop(loop_t *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static int admin_teardown(void **state)
{
    (void)state;
    loop_post(L, stop_on_loop, NULL); /* stopped from its own thread: no race on the flag */
    pthread_join(T, NULL);
    admin_close(L); /* the loop thread is gone: this thread owns the loop now */
    loop_free(L);
    return 0;
}

static char resp[131072];

static void test_admin_metrics(void **state)
{
    (void)state;
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
    size_t n = http(req, sizeof req - 1, resp, sizeof resp);
    assert_true(n > 0);
    assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
    assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4"));
    char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    metrics_render_prometheus(&snap_for_admin, buf, sizeof buf);
    assert_string_equal(body, buf);
    char cl[64];
    snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", strlen(buf));
    assert_non_null(strstr(resp, cl));
    assert_valid_exposition(body);

    /* a query string is fine; so is an HTTP/1.0 request with bare LFs */
    static const char req2[] = "GET /metrics?x=1 HTTP/1.0\n\n";
    http(req2, sizeof req2 - 1, resp, sizeof resp);
    assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
    /* the head arriving in pieces */
    int fd = dial();
    static const char *const parts[] = {"GET /met", "rics HTTP/1.1\r\n", "Host: x\r\n", "\r\n"};
    for (int i = 0; i < 4; i++) {
        assert_true(send(fd, parts[i], strlen(parts[i]), MSG_NOSIGNAL) > 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ssize_t r = recv(fd, resp, 17, MSG_WAITALL);
    assert_int_equal(r, 17);
    assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
    close(fd);
}

static void test_admin_not_found(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "GET /other HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET /metricsx HTTP/1.1\r\n\r\n",
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "get /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        http(reqs[i], strlen(reqs[i]), resp, sizeof resp);
        if (strncmp(resp, "HTTP/1.1 404 Not Found\r\n", 24) != 0) {
            print_error("request %zu answered: %.40s\n", i, resp);
            fail();
        }
    }
    /* a head larger than 4 KiB: 400, connection closed */
    static char big[6000];
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', sizeof big - 26);
    int fd = dial();
    ssize_t w = send(fd, big, sizeof big, MSG_NOSIGNAL);
    (void)w; /* the server may close before taking all of it */
    size_t n = 0;
    ssize_t r;
    while (n < sizeof resp - 1 && (r = recv(fd, resp + n, sizeof resp - 1 - n, 0)) > 0) n += (size_t)r;
    resp[n] = '\0';
    close(fd);
    assert_memory_equal(resp, "HTTP/1.1 400 Bad Request\r\n", 26);
}

/* 16 connections at once; the 17th is answered 503; an idle connection is
 * closed after the 5 s timeout, after which the port serves again. */
static void test_admin_limits(void **state)
{
    (void)state;
    int fds[16];
    for (int i = 0; i < 16; i++) fds[i] = dial();
    int extra = dial();
    ssize_t r = recv(extra, resp, 12, MSG_WAITALL);
    assert_int_equal(r, 12);
    assert_memory_equal(resp, "HTTP/1.1 503", 12);
    close(extra);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = recv(fds[0], resp, sizeof resp, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r, 0); /* closed by the server */
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited > 3.5 && waited < 8);
    for (int i = 0; i < 16; i++) close(fds[i]);

    static const char req[] = "GET /metrics HTTP/1.1\r\n\r\n";
    int ok = 0;
    for (int tries = 0; tries < 50 && !ok; tries++) {
        http(req, sizeof req - 1, resp, sizeof resp);
        ok = strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0;
        if (!ok) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(ok);
}

/* Runs after the fixture's listener is closed. */
static void test_admin_loopback_only(void **state)
{
    (void)state;
    loop_t *l = loop_new();
    char err[256];
    static const char *const bad[] = {"0.0.0.0:9100", "192.168.1.10:9100", "[::]:9100", "example.com:9100",
                                      "[::ffff:10.0.0.1]:9100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(admin_listen(l, bad[i], fill_snap, NULL, err, sizeof err), -1);
        if (!strstr(err, "loopback")) {
            print_error("%s: %s\n", bad[i], err);
            fail();
        }
    }
    static const char *const good[] = {"127.0.0.1:0", "127.1.2.3:0", "localhost:0"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (admin_listen(l, good[i], fill_snap, NULL, err, sizeof err) != 0) {
            print_error("%s: %s\n", good[i], err);
            fail();
        }
        admin_close(l);
    }
    /* one listener per process */
    assert_int_equal(admin_listen(l, "127.0.0.1:0", fill_snap, NULL, err, sizeof err), 0);
    assert_int_equal(admin_listen(l, "127.0.0.1:0", fill_snap, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "already"));
    admin_close(l);
    /* IPv6 loopback, where the host has IPv6: accepted (bind may still fail) */
    static const char *const v6[] = {"[::1]:0", "[::ffff:127.0.0.1]:0"};
    for (size_t i = 0; i < 2; i++) {
        if (admin_listen(l, v6[i], fill_snap, NULL, err, sizeof err) == 0) admin_close(l);
        else assert_null(strstr(err, "loopback only"));
    }
    admin_close(l); /* idempotent */
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest render[] = {
        cmocka_unit_test(test_dial_buckets),
        cmocka_unit_test(test_prometheus_known),
        cmocka_unit_test(test_prometheus_users),
        cmocka_unit_test(test_prometheus_zero),
        cmocka_unit_test(test_prometheus_inconsistent),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_json),
    };
    const struct CMUnitTest admin[] = {
        cmocka_unit_test(test_admin_metrics),
        cmocka_unit_test(test_admin_not_found),
        cmocka_unit_test(test_admin_limits),
    };
    const struct CMUnitTest after[] = {
        cmocka_unit_test(test_admin_loopback_only),
    };
    int fails = cmocka_run_group_tests_name("metrics_render", render, NULL, NULL);
    fails += cmocka_run_group_tests_name("admin_port", admin, admin_setup, admin_teardown);
    fails += cmocka_run_group_tests_name("admin_address", after, NULL, NULL);
    return fails ? 1 : 0;
}
