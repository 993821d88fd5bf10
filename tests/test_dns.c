/* test_dns.c -- the event-loop resolver (core/dns.h) against a fake DNS server
 * on 127.0.0.1 that runs on the same loop:
 *   a.test          A 127.0.0.1 (TTL 3600)
 *   v6.test         AAAA ::1 only
 *   both.test       A 127.0.0.2 and AAAA ::1
 *   *blackhole.test never answered
 *   anything else   NXDOMAIN
 * It counts the questions it gets, so de-duplication and caching are checked
 * by what reaches the wire. Also the answer cache (core/dns_cache.h) alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "dns_cache.h"
#include "loop.h"
#include "util.h"

/* ---- the fake server ---- */

#define FAKE_MAXQ 512

typedef struct fake {
    ioh_t io;
    uint16_t port;
    int nq;
    char qname[FAKE_MAXQ][64];
    uint16_t qtype[FAKE_MAXQ];
} fake_t;

static loop_t *L;
static fake_t F;

static int fake_count(const char *name, uint16_t type)
{
    int n = 0;
    for (int i = 0; i < F.nq && i < FAKE_MAXQ; i++)
        if (!strcmp(F.qname[i], name) && (!type || F.qtype[i] == type)) n++;
    return n;
}

static size_t put_rr(uint8_t *p, uint16_t type, uint32_t ttl, const void *rdata, uint16_t rdlen)
{
    p[0] = 0xc0; p[1] = 12;                     /* the question's name */
    p[2] = type >> 8; p[3] = type & 0xff;
    p[4] = 0; p[5] = 1;                         /* IN */
    p[6] = ttl >> 24; p[7] = ttl >> 16; p[8] = ttl >> 8; p[9] = ttl;
    p[10] = rdlen >> 8; p[11] = rdlen & 0xff;
    memcpy(p + 12, rdata, rdlen);
    return 12 + rdlen;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void fake_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    uint8_t q[1500], out[1600];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(h->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (n < 17) return;
    char name[64] = "";
    size_t off = 12, nl = 0;
    while (off < (size_t)n && q[off]) {
        size_t ll = q[off];
        if (off + 1 + ll > (size_t)n || nl + ll + 2 > sizeof name) return;
        if (nl) name[nl++] = '.';
        for (size_t i = 0; i < ll; i++) name[nl++] = (char)q[off + 1 + i];
        name[nl] = 0;
        off += 1 + ll;
    }
    off++;
    if (off + 4 > (size_t)n) return;
    uint16_t type = (uint16_t)(q[off] << 8 | q[off + 1]);
    off += 4;   /* the question ends here */
    if (F.nq < FAKE_MAXQ) { snprintf(F.qname[F.nq], 64, "%s", name); F.qtype[F.nq] = type; }
    F.nq++;
    if (ends_with(name, "blackhole.test")) return;

    memcpy(out, q, off);
    out[2] = 0x81; out[3] = 0x80;             /* response, RD, RA, NOERROR */
    out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
    size_t len = off;
    int an = 0;
    struct in_addr a4;
    struct in6_addr a6;
    inet_pton(AF_INET6, "::1", &a6);
    if (!strcmp(name, "a.test") && type == 1) {
        inet_pton(AF_INET, "127.0.0.1", &a4);
        len += put_rr(out + len, 1, 3600, &a4, 4); an++;
    } else if (!strcmp(name, "both.test") && type == 1) {
        inet_pton(AF_INET, "127.0.0.2", &a4);
        len += put_rr(out + len, 1, 3600, &a4, 4); an++;
    } else if ((!strcmp(name, "v6.test") || !strcmp(name, "both.test")) && type == 28) {
        len += put_rr(out + len, 28, 3600, &a6, 16); an++;
    } else if (strcmp(name, "a.test") && strcmp(name, "both.test") && strcmp(name, "v6.test")) {
        out[3] = 0x83;                        /* NXDOMAIN */
    }
    out[7] = (uint8_t)an;
    sendto(h->fd, out, len, 0, (struct sockaddr *)&from, fl);
}

static void fake_start(void)
{
    memset(&F, 0, sizeof F);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    F.port = ntohs(sa.sin_port);
    assert_int_equal(loop_add(L, &F.io, fd, EPOLLIN, fake_cb, &F), 0);
}

static void fake_stop(void)
{
    int fd = F.io.fd;
    loop_del(L, &F.io);
    close(fd);
}

/* ---- running the loop ---- */

typedef struct waiter { ltimer_t t; int *count; int want; uint64_t deadline; } waiter_t;

static void wait_cb(loop_t *l, ltimer_t *t)
{
    waiter_t *w = t->ud;
    if ((w->count && *w->count >= w->want) || now_ms() >= w->deadline) { loop_stop(l); return; }
    timer_set(l, t, 2);
}

/* Runs the loop until *count >= want (count NULL: for ms). */
static void run_until(int *count, int want, int ms)
{
    waiter_t w = { .count = count, .want = want, .deadline = now_ms() + (uint64_t)ms };
    timer_init(&w.t, wait_cb, &w);
    timer_set(L, &w.t, 0);
    loop_run(L);
    timer_cancel(L, &w.t);
}

/* ---- answers ---- */

typedef struct res {
    int called, err;
    char msg[128];
    struct sockaddr_storage ss;
    socklen_t len;
    uint64_t at;
} res_t;

static int ncalled;

static void on_answer(loop_t *l, void *arg, int err, const char *msg,
                      const struct sockaddr_storage *ss, socklen_t len)
{
    res_t *r = arg;
    r->called++;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    if (!err) { r->ss = *ss; r->len = len; }
    r->at = now_ms();
    ncalled++;
}

static const char *ip_of(const res_t *r, char *buf, size_t cap)
{
    const void *a = r->ss.ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)&r->ss)->sin_addr
                                               : (const void *)&((const struct sockaddr_in6 *)&r->ss)->sin6_addr;
    return inet_ntop(r->ss.ss_family, a, buf, (socklen_t)cap);
}

static uint16_t port_of(const res_t *r)
{
    return ntohs(r->ss.ss_family == AF_INET ? ((const struct sockaddr_in *)&r->ss)->sin_port
                                            : ((const struct sockaddr_in6 *)&r->ss)->sin6_port);
}

/* ---- fixture ---- */

static dns_t *D;
static char servers[64];

static dns_t *make(const dns_config_t *cfg)
{
    char err[256];
    dns_config_t c = *cfg;
    c.servers = servers;
    dns_t *d = dns_new(L, &c, err, sizeof err);
    if (!d) fail_msg("dns_new: %s", err);
    return d;
}

static void base_config(dns_config_t *c)
{
    dns_config_defaults(c);
    c->timeout_ms = 200;   /* a blackhole name ends in 200 + 400 ms */
    c->tries = 2;
}

static int setup(void **state)
{
    L = loop_new();
    fake_start();
    snprintf(servers, sizeof servers, "127.0.0.1:%u", F.port);
    dns_config_t c;
    base_config(&c);
    D = make(&c);
    ncalled = 0;
    return 0;
}

static int teardown(void **state)
{
    dns_free(D);
    D = NULL;
    fake_stop();
    loop_free(L);
    return 0;
}

/* ---- tests ---- */

static void test_resolve(void **state)
{
    res_t a = {0}, b = {0}, c = {0}, nx = {0};
    char ip[64];
    assert_non_null(dns_resolve(D, "a.test", 443, NULL, on_answer, &a));
    assert_non_null(dns_resolve(D, "V6.Test", 80, NULL, on_answer, &b));   /* case does not matter */
    assert_non_null(dns_resolve(D, "both.test", 8080, NULL, on_answer, &c));
    assert_non_null(dns_resolve(D, "nx.test", 1, NULL, on_answer, &nx));
    assert_int_equal(ncalled, 0);          /* never from inside dns_resolve */
    run_until(&ncalled, 4, 3000);
    assert_int_equal(ncalled, 4);

    assert_int_equal(a.err, 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_string_equal(ip_of(&a, ip, sizeof ip), "127.0.0.1");
    assert_int_equal(port_of(&a), 443);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));

    assert_int_equal(b.err, 0);            /* only IPv6: IPv6 */
    assert_string_equal(ip_of(&b, ip, sizeof ip), "::1");
    assert_int_equal(port_of(&b), 80);

    assert_int_equal(c.err, 0);            /* both: IPv4 preferred */
    assert_string_equal(ip_of(&c, ip, sizeof ip), "127.0.0.2");

    assert_int_equal(nx.err, ARES_ENOTFOUND);
    assert_true(strlen(nx.msg) > 0);
    assert_int_equal(dns_queries(D), 0);

    errno = 0;
    assert_null(dns_resolve(D, "", 1, NULL, on_answer, &a));
    assert_int_equal(errno, EINVAL);
}

/* /etc/hosts is read as getaddrinfo would (localhost is there). */
static void test_hosts_file(void **state)
{
    res_t a = {0};
    char ip[64];
    assert_non_null(dns_resolve(D, "localhost", 7, NULL, on_answer, &a));
    run_until(&ncalled, 1, 3000);
    assert_int_equal(a.called, 1);
    assert_int_equal(a.err, 0);
    assert_string_equal(ip_of(&a, ip, sizeof ip), "127.0.0.1");
    assert_int_equal(fake_count("localhost", 0), 0);
}

static void test_dedup(void **state)
{
    res_t a = {0}, b = {0}, c = {0};
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &a));
    assert_non_null(dns_resolve(D, "a.test", 2, NULL, on_answer, &b));
    assert_non_null(dns_resolve(D, "A.TEST", 3, NULL, on_answer, &c));
    assert_int_equal(dns_queries(D), 1);
    run_until(&ncalled, 3, 3000);
    assert_int_equal(ncalled, 3);
    assert_int_equal(fake_count("a.test", 1), 1);   /* one A question for three requests */
    assert_int_equal(port_of(&a), 1);                /* each gets its own port */
    assert_int_equal(port_of(&b), 2);
    assert_int_equal(port_of(&c), 3);
}

static void test_cancel(void **state)
{
    res_t a = {0}, b = {0}, c = {0};
    dns_req_t *ra = dns_resolve(D, "a.test", 1, NULL, on_answer, &a);
    dns_req_t *rb = dns_resolve(D, "a.test", 1, NULL, on_answer, &b);
    dns_cancel(ra);                        /* one waiter goes; the other stays */
    run_until(&ncalled, 1, 3000);
    run_until(NULL, 0, 50);
    assert_int_equal(a.called, 0);
    assert_int_equal(b.called, 1);
    (void)rb;

    /* every waiter cancelled: the query still runs (and counts) to its end */
    dns_req_t *rc = dns_resolve(D, "both.test", 1, NULL, on_answer, &c);
    dns_cancel(rc);
    assert_int_equal(dns_queries(D), 1);
    run_until(NULL, 0, 300);
    assert_int_equal(c.called, 0);
    assert_int_equal(dns_queries(D), 0);

    /* a cached answer waiting for delivery can be cancelled too */
    res_t d = {0};
    dns_cancel(dns_resolve(D, "a.test", 1, NULL, on_answer, &d));
    run_until(NULL, 0, 50);
    assert_int_equal(d.called, 0);
}

static void test_cache(void **state)
{
    res_t a = {0}, b = {0};
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &a));
    run_until(&ncalled, 1, 3000);
    int before = F.nq;
    assert_non_null(dns_resolve(D, "a.test", 2, NULL, on_answer, &b));
    assert_int_equal(b.called, 0);         /* a cached answer comes on the next iteration */
    run_until(&ncalled, 2, 3000);
    assert_int_equal(b.called, 1);
    assert_int_equal(b.err, 0);
    assert_int_equal(port_of(&b), 2);
    assert_int_equal(F.nq, before);        /* nothing asked */
    assert_int_equal(dns_queries(D), 0);
}

/* TTL 3600 is held only max_ttl_ms; a failure neg_ttl_ms. */
static void test_cache_expiry(void **state)
{
    dns_free(D);
    dns_config_t c;
    base_config(&c);
    c.max_ttl_ms = 1000;   /* c-ares TTLs are whole seconds */
    c.neg_ttl_ms = 300;
    D = make(&c);
    res_t r[6] = {{0}};
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[0]));
    assert_non_null(dns_resolve(D, "nx.test", 1, NULL, on_answer, &r[1]));
    run_until(&ncalled, 2, 3000);
    assert_int_equal(r[1].err, ARES_ENOTFOUND);
    int a1 = fake_count("a.test", 1), nx1 = fake_count("nx.test", 1);
    assert_int_equal(a1, 1);
    assert_int_equal(nx1, 1);

    /* within both: nothing asked, the failure remembered */
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[2]));
    assert_non_null(dns_resolve(D, "nx.test", 1, NULL, on_answer, &r[3]));
    run_until(&ncalled, 4, 3000);
    assert_int_equal(r[3].err, ARES_ENOTFOUND);
    assert_int_equal(fake_count("a.test", 1), 1);
    assert_int_equal(fake_count("nx.test", 1), 1);

    run_until(NULL, 0, 1100);              /* both expired */
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[4]));
    assert_non_null(dns_resolve(D, "nx.test", 1, NULL, on_answer, &r[5]));
    run_until(&ncalled, 6, 3000);
    assert_int_equal(r[4].err, 0);
    assert_int_equal(fake_count("a.test", 1), 2);
    assert_int_equal(fake_count("nx.test", 1), 2);
}

static void test_timeout_bounded(void **state)
{
    res_t a = {0};
    uint64_t t0 = now_ms();
    assert_non_null(dns_resolve(D, "x.blackhole.test", 1, NULL, on_answer, &a));
    run_until(&ncalled, 1, 5000);
    assert_int_equal(a.called, 1);
    assert_int_equal(a.err, ARES_ETIMEOUT);
    /* 200 ms, then 400 ms (c-ares doubles the second round) */
    uint64_t took = a.at - t0;
    assert_true(took >= 550);
    assert_true(took < 1500);
    assert_int_equal(fake_count("x.blackhole.test", 1), 2);
    assert_int_equal(dns_queries(D), 0);

    /* the timeout is remembered as a failure */
    res_t b = {0};
    assert_non_null(dns_resolve(D, "x.blackhole.test", 1, NULL, on_answer, &b));
    run_until(&ncalled, 2, 1000);
    assert_int_equal(b.err, ARES_ETIMEOUT);
    assert_int_equal(fake_count("x.blackhole.test", 1), 2);
}

static void test_worker_cap(void **state)
{
    dns_free(D);
    dns_config_t c;
    base_config(&c);
    c.max_queries = 4;
    D = make(&c);
    res_t r[8] = {{0}};
    char name[64];
    /* a.test cached first: a cached name is never refused */
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[7]));
    run_until(&ncalled, 1, 3000);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "n%d.blackhole.test", i);
        dns_cancel(dns_resolve(D, name, 1, NULL, on_answer, &r[i]));   /* cancelled: still counts */
    }
    assert_int_equal(dns_queries(D), 4);
    errno = 0;
    assert_null(dns_resolve(D, "n9.blackhole.test", 1, NULL, on_answer, &r[4]));
    assert_int_equal(errno, EAGAIN);
    /* a name being resolved joins its query */
    assert_non_null(dns_resolve(D, "n0.blackhole.test", 1, NULL, on_answer, &r[5]));
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[6]));
    run_until(&ncalled, 2, 300);
    assert_int_equal(r[6].called, 1);
    assert_int_equal(r[6].err, 0);
    /* the blackhole queries end by their timeout and free the budget */
    run_until(&ncalled, 3, 2000);
    assert_int_equal(r[5].err, ARES_ETIMEOUT);
    run_until(NULL, 0, 50);
    assert_int_equal(dns_queries(D), 0);
    res_t late = {0};
    assert_non_null(dns_resolve(D, "n9.blackhole.test", 1, NULL, on_answer, &late));
    for (int i = 0; i < 5; i++) assert_int_equal(r[i].called, 0);
}

static void test_owner_cap(void **state)
{
    dns_owner_t o = { .label = "session 127.0.0.1:1", .max = 2 }, other = { .label = "x" };
    res_t r[6] = {{0}};
    dns_req_t *q0 = dns_resolve(D, "o0.blackhole.test", 1, &o, on_answer, &r[0]);
    dns_req_t *q1 = dns_resolve(D, "o1.blackhole.test", 1, &o, on_answer, &r[1]);
    assert_non_null(q0);
    assert_non_null(q1);
    assert_int_equal(o.queries, 2);
    errno = 0;
    assert_null(dns_resolve(D, "o2.blackhole.test", 1, &o, on_answer, &r[2]));
    assert_int_equal(errno, EBUSY);
    /* cancelling is no way around it: the queries still run */
    dns_cancel(q0);
    dns_cancel(q1);
    errno = 0;
    assert_null(dns_resolve(D, "o2.blackhole.test", 1, &o, on_answer, &r[2]));
    assert_int_equal(errno, EBUSY);
    /* joining a running query costs nothing */
    dns_req_t *j = dns_resolve(D, "o0.blackhole.test", 1, &o, on_answer, &r[3]);
    assert_non_null(j);
    dns_cancel(j);
    /* another owner is not affected */
    assert_non_null(dns_resolve(D, "a.test", 1, &other, on_answer, &r[4]));
    run_until(&ncalled, 1, 3000);
    assert_int_equal(r[4].err, 0);
    assert_int_equal(other.queries, 0);
    /* the queries end: the budget comes back */
    run_until(NULL, 0, 900);
    assert_int_equal(o.queries, 0);
    dns_req_t *q2 = dns_resolve(D, "o2.blackhole.test", 1, &o, on_answer, &r[2]);
    assert_non_null(q2);
    assert_int_equal(o.queries, 1);
    /* an owner that goes away: its queries stop counting against it */
    dns_cancel(q2);
    dns_owner_release(D, &o);
    assert_int_equal(o.queries, 0);
    run_until(NULL, 0, 900);               /* the query ends without touching o */
    assert_int_equal(o.queries, 0);
    for (int i = 0; i < 4; i++) assert_int_equal(r[i].called, 0);
}

static void test_free_pending(void **state)
{
    res_t r[4] = {{0}};
    dns_owner_t o = {0};
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[0]));
    run_until(&ncalled, 1, 3000);
    assert_non_null(dns_resolve(D, "f.blackhole.test", 1, &o, on_answer, &r[2]));    /* running */
    assert_non_null(dns_resolve(D, "f.blackhole.test", 1, NULL, on_answer, &r[3]));
    run_until(NULL, 0, 20);                /* sent: a socket on the loop */
    assert_true(fake_count("f.blackhole.test", 0) >= 1);
    assert_non_null(dns_resolve(D, "a.test", 1, NULL, on_answer, &r[1]));            /* cached, undelivered */
    dns_free(D);
    D = NULL;
    run_until(NULL, 0, 700);
    assert_int_equal(r[1].called + r[2].called + r[3].called, 0);
    assert_int_equal(o.queries, 1);        /* not touched */
}

/* Many names at once, half cancelled at random points: every request
 * answered or cancelled exactly once, the budget back to zero (ASan). */
static void test_churn(void **state)
{
    enum { N = 200 };
    static res_t r[N];
    dns_req_t *h[N];
    char name[64];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        const char *kind = i % 3 == 0 ? "blackhole.test" : i % 3 == 1 ? "test" : "nx";
        snprintf(name, sizeof name, "c%d.%s", i % 40, kind);
        h[i] = dns_resolve(D, name, 1, NULL, on_answer, &r[i]);
        assert_non_null(h[i]);
        if (i % 2) { dns_cancel(h[i]); h[i] = NULL; }
    }
    run_until(&ncalled, N / 2, 3000);
    assert_int_equal(ncalled, N / 2);
    for (int i = 0; i < N; i++) assert_int_equal(r[i].called, i % 2 ? 0 : 1);
    run_until(NULL, 0, 50);
    assert_int_equal(dns_queries(D), 0);
}

static void test_check_servers(void **state)
{
    char err[256];
    const char *good[] = { "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[::1]:53",
                           "1.1.1.1,8.8.8.8:53,[2001:db8::1]:5353" };
    const char *bad[] = { "", "localhost", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3.4:", "[::1",
                          "[::1]x", "1.2.3.4,,5.6.7.8", "1.2.3.4,", "300.1.1.1", "1.2.3.4:5x",
                          "evil\n1.2.3.4" };
    dns_config_t c;
    dns_config_defaults(&c);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (dns_check_servers(good[i], err, sizeof err) != 0) fail_msg("%s: %s", good[i], err);
        c.servers = good[i];                 /* and c-ares takes it */
        dns_t *d = dns_new(L, &c, err, sizeof err);
        if (!d) fail_msg("dns_new(%s): %s", good[i], err);
        dns_free(d);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (dns_check_servers(bad[i], err, sizeof err) != -1) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(dns_check_servers("evil\n1.2.3.4", err, sizeof err), -1);
    assert_null(strchr(err, '\n'));        /* escaped for the log */

    /* the bracketed form reaches the right port */
    char alt[64];
    res_t r = {0};
    snprintf(alt, sizeof alt, "[127.0.0.1]:%u", F.port);
    c.servers = alt;
    dns_t *d = dns_new(L, &c, err, sizeof err);
    assert_non_null(d);
    assert_non_null(dns_resolve(d, "a.test", 1, NULL, on_answer, &r));
    run_until(&ncalled, 1, 3000);
    assert_int_equal(r.err, 0);
    dns_free(d);

    c.servers = "not-an-ip";
    assert_null(dns_new(L, &c, err, sizeof err));
    assert_non_null(strstr(err, "not-an-ip"));
}

static void test_cache_lru(void **state)
{
    dns_cache_t *c = dns_cache_new(2);
    dns_answer_t a = { .status = 0, .len = 4 }, out;
    dns_cache_put(c, "one", &a, 1000);
    a.len = 5;
    dns_cache_put(c, "two", &a, 1000);
    assert_int_equal(dns_cache_get(c, "one", 10, &out), 1);   /* one is now the most recent */
    a.len = 6;
    dns_cache_put(c, "three", &a, 1000);                      /* drops two */
    assert_int_equal(dns_cache_count(c), 2);
    assert_int_equal(dns_cache_get(c, "two", 10, &out), 0);
    assert_int_equal(dns_cache_get(c, "three", 10, &out), 1);
    assert_int_equal(out.len, 6);
    a.status = ARES_ENOTFOUND;
    dns_cache_put(c, "three", &a, 500);                        /* replaced */
    assert_int_equal(dns_cache_count(c), 2);
    assert_int_equal(dns_cache_get(c, "three", 499, &out), 1);
    assert_int_equal(out.status, ARES_ENOTFOUND);
    assert_int_equal(dns_cache_get(c, "three", 500, &out), 0); /* expired: dropped */
    assert_int_equal(dns_cache_count(c), 1);
    dns_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_churn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_servers, setup, teardown),
        cmocka_unit_test(test_cache_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
