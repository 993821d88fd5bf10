/* test_addr.c -- SOCKS5-form and UoT-form addresses, formatting, parsing text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

static const uint8_t V4_SOCKS[] = { 0x01, 1, 2, 3, 4, 0x01, 0xbb };
static const uint8_t V4_UOT[] = { 0x00, 1, 2, 3, 4, 0x01, 0xbb };
static const uint8_t V6_SOCKS[] = { 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x35 };
static const uint8_t V6_UOT[] = { 0x01, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x35 };
static const uint8_t NAME_SOCKS[] = { 0x03, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb };
static const uint8_t NAME_UOT[] = { 0x02, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb };

static void roundtrip(const uint8_t *enc, size_t len, int form, int type)
{
    addr_t a;
    uint8_t out[300];

    /* every strict prefix asks for more */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(addr_parse(enc, i, form, &a), 0);
    assert_int_equal(addr_parse(enc, len, form, &a), (int)len);
    assert_int_equal(a.type, type);
    /* trailing bytes are not consumed */
    uint8_t more[300];
    memcpy(more, enc, len);
    memset(more + len, 0xee, 10);
    assert_int_equal(addr_parse(more, len + 10, form, &a), (int)len);

    assert_int_equal(addr_encode(&a, form, out, sizeof(out)), (int)len);
    assert_memory_equal(out, enc, len);
    assert_int_equal(addr_encode(&a, form, out, len - 1), -1);
    assert_int_equal(addr_encode(&a, form, out, len), (int)len);
}

static void test_forms(void **state)
{
    (void)state;
    addr_t a;

    roundtrip(V4_SOCKS, sizeof(V4_SOCKS), ADDR_FORM_SOCKS, ADDR_IPV4);
    roundtrip(V6_SOCKS, sizeof(V6_SOCKS), ADDR_FORM_SOCKS, ADDR_IPV6);
    roundtrip(NAME_SOCKS, sizeof(NAME_SOCKS), ADDR_FORM_SOCKS, ADDR_DOMAIN);
    roundtrip(V4_UOT, sizeof(V4_UOT), ADDR_FORM_UOT, ADDR_IPV4);
    roundtrip(V6_UOT, sizeof(V6_UOT), ADDR_FORM_UOT, ADDR_IPV6);
    roundtrip(NAME_UOT, sizeof(NAME_UOT), ADDR_FORM_UOT, ADDR_DOMAIN);

    assert_int_equal(addr_parse(NAME_SOCKS, sizeof(NAME_SOCKS), ADDR_FORM_SOCKS, &a), 15);
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.name_len, 11);
    assert_int_equal(a.port, 443);
    assert_int_equal(addr_parse(V6_UOT, sizeof(V6_UOT), ADDR_FORM_UOT, &a), 19);
    assert_int_equal(a.port, 53);
    assert_int_equal(a.ip[0], 0x20);
    assert_int_equal(a.ip[15], 1);

    /* the type bytes of one form are not valid in the other */
    assert_int_equal(addr_parse(V4_UOT, sizeof(V4_UOT), ADDR_FORM_SOCKS, &a), -1);
    assert_int_equal(addr_parse(NAME_UOT, sizeof(NAME_UOT), ADDR_FORM_SOCKS, &a), -1);
    assert_int_equal(addr_parse(NAME_SOCKS, sizeof(NAME_SOCKS), ADDR_FORM_UOT, &a), -1);
    /* V6_UOT's type 0x01 reads as an IPv4 SOCKS address */
    assert_int_equal(addr_parse(V6_UOT, sizeof(V6_UOT), ADDR_FORM_SOCKS, &a), 7);

    /* longest name */
    uint8_t big[260] = { 0x03, 255 };
    memset(big + 2, 'a', 255);
    big[257] = 0;
    big[258] = 80;
    roundtrip(big, 259, ADDR_FORM_SOCKS, ADDR_DOMAIN);
}

static void test_malformed(void **state)
{
    (void)state;
    addr_t a;
    static const uint8_t unknown[] = { 0x05, 1, 2, 3, 4, 0, 80 };
    static const uint8_t empty[] = { 0x03, 0x00, 0, 80 };
    static const uint8_t nul[] = { 0x03, 0x03, 'a', 0, 'b', 0, 80 };

    assert_int_equal(addr_parse(unknown, 1, ADDR_FORM_SOCKS, &a), -1);
    assert_int_equal(addr_parse(unknown, sizeof(unknown), ADDR_FORM_UOT, &a), -1);
    assert_int_equal(addr_parse(empty, 2, ADDR_FORM_SOCKS, &a), -1);
    assert_int_equal(addr_parse(nul, sizeof(nul), ADDR_FORM_SOCKS, &a), -1);
    assert_int_equal(addr_parse(nul, 3, ADDR_FORM_SOCKS, &a), 0);

    uint8_t out[300];
    addr_t bad = { .type = ADDR_DOMAIN, .name_len = 0 };
    assert_int_equal(addr_encode(&bad, ADDR_FORM_SOCKS, out, sizeof(out)), -1);
    bad.type = 9;
    assert_int_equal(addr_encode(&bad, ADDR_FORM_SOCKS, out, sizeof(out)), -1);
}

static void test_format(void **state)
{
    (void)state;
    addr_t a;
    char buf[300];

    addr_parse(V4_SOCKS, sizeof(V4_SOCKS), ADDR_FORM_SOCKS, &a);
    assert_int_equal(addr_format(&a, buf, sizeof(buf)), 11);
    assert_string_equal(buf, "1.2.3.4:443");
    addr_parse(V6_SOCKS, sizeof(V6_SOCKS), ADDR_FORM_SOCKS, &a);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "[2001:db8::1]:53");
    addr_parse(NAME_SOCKS, sizeof(NAME_SOCKS), ADDR_FORM_SOCKS, &a);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "example.com:443");
    /* snprintf semantics */
    assert_int_equal(addr_format(&a, buf, 5), 15);
    assert_string_equal(buf, "exam");
}

static void test_from_string(void **state)
{
    (void)state;
    addr_t a;
    char buf[300];

    assert_int_equal(addr_from_string("example.com:443", &a), 0);
    assert_int_equal(a.type, ADDR_DOMAIN);
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.name_len, 11);
    assert_int_equal(a.port, 443);

    assert_int_equal(addr_from_string("10.0.0.1:0", &a), 0);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.ip[0], 10);
    assert_int_equal(a.port, 0);

    assert_int_equal(addr_from_string("[::1]:65535", &a), 0);
    assert_int_equal(a.type, ADDR_IPV6);
    assert_int_equal(a.ip[15], 1);
    assert_int_equal(a.port, 65535);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:65535");

    assert_int_equal(addr_from_string("[2001:db8::1]:53", &a), 0);
    uint8_t enc[32];
    assert_int_equal(addr_encode(&a, ADDR_FORM_SOCKS, enc, sizeof(enc)), 19);
    assert_memory_equal(enc, V6_SOCKS, 19);

    const char *bad[] = {
        "example.com", "example.com:", ":80", "[::1]", "[::1]80", "[]:80", "[example.com]:80",
        "::1:80", "host:65536", "host:-1", "host:8x", "host:123456", "[::1:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(addr_from_string(bad[i], &a), -1);

    char longname[300];
    memset(longname, 'a', 256);
    strcpy(longname + 256, ":80");
    assert_int_equal(addr_from_string(longname, &a), -1);
    strcpy(longname + 255, ":80");
    assert_int_equal(addr_from_string(longname, &a), 0);
    assert_int_equal(a.name_len, 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_from_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
