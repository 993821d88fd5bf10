/* test_target_policy.c -- the SSRF guard (core/target_policy.c) and the refill
 * gate (core/refill_gate.c): what each lets through. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "refill_gate.h"
#include "target_policy.h"

static int allows(const tpol_t *p, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    }
    return tpol_allows(p, (struct sockaddr *)&ss);
}

static void test_deny_private(void **state)
{
    (void)state;
    char err[200];
    tpol_t *p = tpol_new(1, NULL, err, sizeof err);
    assert_non_null(p);
    static const char *const denied[] = {
        "127.0.0.1", "127.9.9.9", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "224.0.0.1", "239.255.255.250", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:c0a8:0101::1",
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        if (allows(p, denied[i])) { print_error("allowed: %s\n", denied[i]); fail(); }
    }
    static const char *const allowed[] = {
        "1.1.1.1", "8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700::1111",
        "::ffff:1.1.1.1", "64:ff9b::101:101",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (!allows(p, allowed[i])) { print_error("denied: %s\n", allowed[i]); fail(); }
    }
    tpol_free(p);
}

static void test_allow_list_and_off(void **state)
{
    (void)state;
    char err[200];
    tpol_t *p = tpol_new(1, "127.0.0.1/32,10.0.0.0/8,fd00::/8", err, sizeof err);
    assert_non_null(p);
    assert_true(allows(p, "127.0.0.1"));
    assert_false(allows(p, "127.0.0.2"));
    assert_true(allows(p, "10.200.0.1"));
    assert_true(allows(p, "::ffff:10.1.1.1"));
    assert_true(allows(p, "fd00::5"));
    assert_false(allows(p, "192.168.0.1"));
    tpol_free(p);
    p = tpol_new(0, NULL, err, sizeof err);          /* off: everything */
    assert_true(allows(p, "127.0.0.1"));
    tpol_free(p);
    assert_true(allows(NULL, "10.0.0.1"));
    assert_int_equal(tpol_check_list("10.0.0.0/8,::1", err, sizeof err), 0);
    assert_int_equal(tpol_check_list("10.0.0.0/33", err, sizeof err), -1);
    assert_int_equal(tpol_check_list("nonsense", err, sizeof err), -1);
    assert_int_equal(tpol_check_list("1.2.3.4,,5.6.7.8", err, sizeof err), -1);
    assert_null(tpol_new(1, "::1/129", err, sizeof err));
}

static void test_gate(void **state)
{
    (void)state;
    gate_seen_t *seen = gate_seen_new(64);
    gate_t *g = gate_new(4);
    uint64_t t = 1000;
    assert_false(gate_allows(g, seen, "a:1", t));           /* never asked for */
    gate_requested(seen, "a:1");
    assert_false(gate_allows(g, seen, "a:1", t));           /* asked once */
    gate_requested(seen, "a:1");
    assert_true(gate_allows(g, seen, "a:1", t));
    gate_requested(seen, "a:1");                            /* more: still allowed */
    assert_true(gate_allows(g, seen, "a:1", t));
    gate_result(g, "a:1", 0, t);                            /* fail: 1 s */
    assert_false(gate_allows(g, seen, "a:1", t + 999));
    assert_true(gate_allows(g, seen, "a:1", t + 1000));
    gate_result(g, "a:1", 0, t);                            /* 2 s */
    assert_false(gate_allows(g, seen, "a:1", t + 1999));
    assert_true(gate_allows(g, seen, "a:1", t + 2000));
    for (int i = 2; i < GATE_FORGET_AFTER; i++) gate_result(g, "a:1", 0, t);
    assert_false(gate_allows(g, seen, "a:1", t + 10000000)); /* forgotten */
    gate_reached(g, "a:1");                                 /* a stream got through */
    assert_true(gate_allows(g, seen, "a:1", t));
    gate_result(g, "a:1", 0, t);
    gate_result(g, "a:1", 1, t);                            /* a success clears the backoff */
    assert_true(gate_allows(g, seen, "a:1", t));
    /* the failing-target table is bounded: the oldest goes when a fifth fails */
    gate_result(g, "a:1", 0, t);
    for (int i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "t%d:1", i);
        gate_requested(seen, k);
        gate_requested(seen, k);
        gate_result(g, k, 0, t + 10 + (uint64_t)i);
    }
    assert_true(gate_allows(g, seen, "a:1", t + 100));      /* forgotten, so not backing off */
    assert_false(gate_allows(g, seen, "t4:1", t + 100));    /* backing off */
    /* other targets' counts are their own */
    assert_false(gate_allows(g, seen, "b:1", t));
    gate_free(g);
    gate_seen_free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deny_private),
        cmocka_unit_test(test_allow_list_and_off),
        cmocka_unit_test(test_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
