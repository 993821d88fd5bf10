/* test_uot.c -- UDP-over-TCP v2 request and datagram framing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "uot.h"

static void test_magic(void **state)
{
    (void)state;
    addr_t a;

    assert_int_equal(addr_from_string(UOT_MAGIC_HOST ":0", &a), 0);
    assert_true(uot_is_magic(&a));
    assert_int_equal(addr_from_string(UOT_V1_MAGIC_HOST ":0", &a), 0);
    assert_true(uot_is_magic(&a));            /* the v1 name: the reference reads a request too */
    assert_int_equal(addr_from_string("SP.UDP-over-TCP.arpa:0", &a), 0);
    assert_true(uot_is_magic(&a));            /* DNS names are case-insensitive */
    assert_int_equal(addr_from_string("sp.v2.udp-over-tcp.arpa.evil:0", &a), 0);
    assert_false(uot_is_magic(&a));
    assert_int_equal(addr_from_string("evil-udp-over-tcp.arpa:0", &a), 0);
    assert_false(uot_is_magic(&a));
    assert_int_equal(addr_from_string("1.2.3.4:0", &a), 0);
    assert_false(uot_is_magic(&a));
}

static void test_request(void **state)
{
    (void)state;
    /* isConnect = 0, then a SOCKS5 address: 8.8.8.8:53 */
    static const uint8_t req[] = { 0x00, 0x01, 8, 8, 8, 8, 0x00, 0x35 };
    static const uint8_t req_name[] = { 0x01, 0x03, 0x01, 'h', 0x01, 0xbb };
    int conn = -1;
    addr_t a;
    uint8_t out[300];

    for (size_t i = 0; i < sizeof(req); i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, req, i);
        assert_int_equal(uot_parse_request(p, i, &conn, &a), 0);
        free(p);
    }
    assert_int_equal(uot_parse_request(req, sizeof(req), &conn, &a), 8);
    assert_int_equal(conn, 0);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.port, 53);
    assert_int_equal(uot_encode_request(conn, &a, out, sizeof(out)), 8);
    assert_memory_equal(out, req, 8);
    assert_int_equal(uot_encode_request(conn, &a, out, 7), -1);

    assert_int_equal(uot_parse_request(req_name, sizeof(req_name), &conn, &a), 6);
    assert_int_equal(conn, 1);
    assert_string_equal(a.name, "h");
    assert_int_equal(uot_encode_request(conn, &a, out, sizeof(out)), 6);
    assert_memory_equal(out, req_name, 6);

    /* the request uses SOCKS5 type bytes; 0x02 (UoT domain) is not one */
    static const uint8_t bad[] = { 0x00, 0x02, 0x01, 'h', 0, 53 };
    assert_int_equal(uot_parse_request(bad, sizeof(bad), &conn, &a), -1);
    /* any non-zero byte is "true", as Go reads a bool */
    static const uint8_t two[] = { 0x02, 0x01, 8, 8, 8, 8, 0, 53 };
    assert_int_equal(uot_parse_request(two, sizeof(two), &conn, &a), 8);
    assert_int_equal(conn, 1);
}

static void test_datagram_addressed(void **state)
{
    (void)state;
    /* UoT form: 0x00 IPv4, 0x01 IPv6, 0x02 domain */
    static const uint8_t v4[] = { 0x00, 1, 1, 1, 1, 0x00, 0x35, 0x00, 0x03, 'a', 'b', 'c' };
    static const uint8_t v6[] = { 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90, 0x00, 0x00 };
    static const uint8_t dn[] = { 0x02, 0x04, 'h', 'o', 's', 't', 0x00, 0x35, 0x00, 0x01, 'z' };
    const uint8_t *pl;
    size_t plen;
    addr_t a;
    uint8_t out[300];

    for (size_t i = 0; i < sizeof(v4); i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, v4, i);
        assert_int_equal(uot_parse_datagram(p, i, 0, &a, &pl, &plen), 0);
        free(p);
    }
    assert_int_equal(uot_parse_datagram(v4, sizeof(v4), 0, &a, &pl, &plen), 12);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.port, 53);
    assert_int_equal(plen, 3);
    assert_memory_equal(pl, "abc", 3);
    assert_int_equal(uot_datagram_header(0, &a, 3, out, sizeof(out)), 9);
    assert_memory_equal(out, v4, 9);

    assert_int_equal(uot_parse_datagram(v6, sizeof(v6), 0, &a, &pl, &plen), 21);
    assert_int_equal(a.type, ADDR_IPV6);
    assert_int_equal(a.port, 8080);
    assert_int_equal(plen, 0);
    assert_int_equal(uot_datagram_header(0, &a, 0, out, sizeof(out)), 21);
    assert_memory_equal(out, v6, 21);

    assert_int_equal(uot_parse_datagram(dn, sizeof(dn), 0, &a, &pl, &plen), 11);
    assert_string_equal(a.name, "host");
    assert_int_equal(plen, 1);
    assert_int_equal(uot_datagram_header(0, &a, 1, out, sizeof(out)), 10);
    assert_memory_equal(out, dn, 10);

    /* two datagrams back to back: the first one's length is honoured */
    uint8_t two[sizeof(v4) * 2];
    memcpy(two, v4, sizeof(v4));
    memcpy(two + sizeof(v4), v4, sizeof(v4));
    assert_int_equal(uot_parse_datagram(two, sizeof(two), 0, &a, &pl, &plen), 12);

    static const uint8_t socks_type[] = { 0x03, 0x01, 'h', 0, 53, 0, 0 };
    assert_int_equal(uot_parse_datagram(socks_type, sizeof(socks_type), 0, &a, &pl, &plen), -1);
    assert_int_equal(a.type, ADDR_IPV4); /* untouched by a failed parse */
    assert_int_equal(uot_parse_datagram(v4, sizeof(v4), 0, &a, &pl, &plen), 12);
    assert_int_equal(uot_datagram_header(0, &a, 70000, out, sizeof(out)), -1);
    assert_int_equal(uot_datagram_header(0, &a, 1, out, 8), -1);
}

static void test_datagram_connected(void **state)
{
    (void)state;
    static const uint8_t d[] = { 0x00, 0x04, 'p', 'i', 'n', 'g' };
    const uint8_t *pl;
    size_t plen;
    addr_t a;
    uint8_t out[4];

    for (size_t i = 0; i < sizeof(d); i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, d, i);
        assert_int_equal(uot_parse_datagram(p, i, 1, &a, &pl, &plen), 0);
        free(p);
    }
    assert_int_equal(uot_parse_datagram(d, sizeof(d), 1, &a, &pl, &plen), 6);
    assert_int_equal(plen, 4);
    assert_memory_equal(pl, "ping", 4);
    assert_int_equal(uot_datagram_header(1, NULL, 4, out, sizeof(out)), 2);
    assert_memory_equal(out, d, 2);
    assert_int_equal(uot_datagram_header(1, NULL, 65535, out, sizeof(out)), 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(uot_datagram_header(1, NULL, 4, out, 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_magic),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_datagram_addressed),
        cmocka_unit_test(test_datagram_connected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
