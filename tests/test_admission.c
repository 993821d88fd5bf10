/* test_admission.c -- the pre-auth budget (core/admission.c): totals, the
 * per-address limit, IPv6 /64 grouping, v4-mapped addresses, and the table
 * staying right under churn (checked against a plain model). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &s->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &s->sin6_addr);
    return ss;
}

static void test_limits(void **state)
{
    (void)state;
    adm_t *a = adm_new(5, 2);        /* the per-address limit applies from 2 (half of 5) on */
    adm_slot_t s[8] = {0};
    struct sockaddr_storage x = v4("10.0.0.1"), y = v4("10.0.0.2"), z = v4("10.0.0.3");
    assert_int_equal(adm_enter(a, &x, &s[0]), ADM_OK);
    assert_int_equal(adm_enter(a, &x, &s[1]), ADM_OK);
    assert_int_equal(adm_enter(a, &x, &s[2]), ADM_ADDR_FULL);   /* a third from x */
    assert_false(s[2].held);
    assert_int_equal(adm_enter(a, &y, &s[3]), ADM_OK);
    assert_int_equal(adm_enter(a, &y, &s[4]), ADM_OK);
    assert_int_equal(adm_enter(a, &z, &s[5]), ADM_OK);
    assert_int_equal(adm_count(a), 5);
    assert_int_equal(adm_enter(a, &z, &s[6]), ADM_FULL);        /* 5 in all */
    adm_leave(a, &s[0]);
    adm_leave(a, &s[0]);                                        /* twice: once counts */
    adm_leave(a, &s[2]);                                        /* never admitted: no-op */
    assert_int_equal(adm_count(a), 4);
    assert_int_equal(adm_enter(a, &x, &s[0]), ADM_OK);          /* x has room again */
    for (int i = 0; i < 8; i++) adm_leave(a, &s[i]);
    assert_int_equal(adm_count(a), 0);
    adm_free(a);
}

/* Below half the budget one address may take more than its limit (a client's
 * burst of sessions); from half on it may not. */
static void test_per_addr_limit_under_pressure_only(void **state)
{
    (void)state;
    adm_t *a = adm_new(10, 2);
    adm_slot_t s[12] = {0};
    struct sockaddr_storage x = v4("10.0.0.1"), y = v4("10.0.0.2");
    for (int i = 0; i < 5; i++) assert_int_equal(adm_enter(a, &x, &s[i]), ADM_OK);
    assert_int_equal(adm_enter(a, &x, &s[5]), ADM_ADDR_FULL);   /* 5 of 10 taken: pressure */
    assert_int_equal(adm_enter(a, &y, &s[5]), ADM_OK);          /* y is under its limit */
    assert_int_equal(adm_enter(a, &y, &s[6]), ADM_OK);
    assert_int_equal(adm_enter(a, &y, &s[7]), ADM_ADDR_FULL);
    adm_leave(a, &s[0]); adm_leave(a, &s[1]); adm_leave(a, &s[5]);  /* 4 left: no pressure */
    assert_int_equal(adm_enter(a, &x, &s[0]), ADM_OK);
    for (int i = 0; i < 12; i++) adm_leave(a, &s[i]);
    assert_int_equal(adm_count(a), 0);
    adm_free(a);
}

static void test_v6_block_and_mapped(void **state)
{
    (void)state;
    adm_t *a = adm_new(4, 2);                       /* pressure from 2 on */
    adm_slot_t s[6] = {0};
    struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9");
    struct sockaddr_storage other = v6("2001:db8:1:3::1");
    assert_int_equal(adm_enter(a, &p1, &s[0]), ADM_OK);
    assert_int_equal(adm_enter(a, &p2, &s[1]), ADM_OK);
    assert_int_equal(adm_enter(a, &p1, &s[2]), ADM_ADDR_FULL);  /* same /64 */
    assert_int_equal(adm_enter(a, &other, &s[2]), ADM_OK);      /* another /64 */
    for (int i = 0; i < 3; i++) adm_leave(a, &s[i]);
    struct sockaddr_storage m = v6("::ffff:192.0.2.7"), plain = v4("192.0.2.7");
    assert_int_equal(adm_enter(a, &m, &s[3]), ADM_OK);
    assert_int_equal(adm_enter(a, &plain, &s[4]), ADM_OK);
    assert_int_equal(adm_enter(a, &plain, &s[5]), ADM_ADDR_FULL); /* mapped == plain v4 */
    for (int i = 0; i < 6; i++) adm_leave(a, &s[i]);
    assert_int_equal(adm_count(a), 0);
    adm_free(a);
}

/* Random enters and leaves over many addresses against a model: catches a
 * deletion that breaks a probe chain (an address then "loses" its count). */
static void test_churn_matches_model(void **state)
{
    (void)state;
    enum { ADDRS = 300, SLOTS = 2000, STEPS = 200000, MAXT = 700, PER = 3 };
    adm_t *a = adm_new(MAXT, PER);
    static adm_slot_t slot[SLOTS];
    static int slot_addr[SLOTS];
    int model[ADDRS] = {0}, total = 0;
    memset(slot, 0, sizeof slot);
    srand(7);
    for (int step = 0; step < STEPS; step++) {
        int i = rand() % SLOTS;
        if (slot[i].held) {
            adm_leave(a, &slot[i]);
            model[slot_addr[i]]--;
            total--;
        } else {
            int ad = rand() % ADDRS;
            char ip[32];
            snprintf(ip, sizeof ip, "10.%d.%d.1", ad / 256, ad % 256);
            struct sockaddr_storage ss = v4(ip);
            int want = total >= MAXT ? ADM_FULL
                     : total >= MAXT / 2 && model[ad] >= PER ? ADM_ADDR_FULL : ADM_OK;
            assert_int_equal(adm_enter(a, &ss, &slot[i]), want);
            if (want == ADM_OK) { model[ad]++; total++; slot_addr[i] = ad; }
        }
        assert_int_equal(adm_count(a), total);
    }
    for (int i = 0; i < SLOTS; i++) adm_leave(a, &slot[i]);
    assert_int_equal(adm_count(a), 0);
    adm_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_per_addr_limit_under_pressure_only),
        cmocka_unit_test(test_v6_block_and_mapped),
        cmocka_unit_test(test_churn_matches_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
