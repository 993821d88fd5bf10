/* test_proxy_proto.c -- PROXY protocol headers (proxy_proto.h), byte for byte
 * against proxy-protocol.txt's formats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy_proto.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    inet_pton(AF_INET, ip, &s->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &s->sin6_addr);
    return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_v1(void **st)
{
    uint8_t b[PP_HEADER_MAX];
    struct sockaddr_storage s = v4("192.0.2.1", 56324), d = v4("198.51.100.7", 443);
    int n = pp_header(1, SA(s), SA(d), b, sizeof b);
    const char *want = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    s = v6("2001:db8::1", 1); d = v6("2001:db8::2", 65535);
    n = pp_header(1, SA(s), SA(d), b, sizeof b);
    want = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    /* v4-mapped on both ends: IPv4 */
    s = v6("::ffff:10.0.0.1", 5); d = v6("::ffff:10.0.0.2", 6);
    n = pp_header(1, SA(s), SA(d), b, sizeof b);
    want = "PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n";
    assert_memory_equal(b, want, n);
    /* mixed families */
    s = v4("10.0.0.1", 5); d = v6("2001:db8::2", 6);
    n = pp_header(1, SA(s), SA(d), b, sizeof b);
    assert_int_equal(n, 15);
    assert_memory_equal(b, "PROXY UNKNOWN\r\n", 15);
    /* the longest header fits PP_HEADER_MAX (107 bytes in the spec) */
    s = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    d = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd", 65535);
    n = pp_header(1, SA(s), SA(d), b, sizeof b);
    assert_int_equal(n, 104);
    assert_int_equal(pp_header(1, SA(s), SA(d), b, 50), -1);
}

static void test_v2(void **st)
{
    uint8_t b[PP_HEADER_MAX];
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    struct sockaddr_storage s = v4("192.0.2.1", 0x1234), d = v4("198.51.100.7", 443);
    int n = pp_header(2, SA(s), SA(d), b, sizeof b);
    assert_int_equal(n, 28);
    assert_memory_equal(b, sig, 12);
    static const uint8_t rest4[] = {0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 7, 0x12, 0x34, 0x01, 0xbb};
    assert_memory_equal(b + 12, rest4, sizeof rest4);
    s = v6("2001:db8::1", 1); d = v6("2001:db8::2", 2);
    n = pp_header(2, SA(s), SA(d), b, sizeof b);
    assert_int_equal(n, 52);
    assert_int_equal(b[13], 0x21);
    assert_int_equal(b[15], 36);
    assert_int_equal(b[16], 0x20);
    assert_int_equal(b[16 + 15], 1);
    assert_int_equal(b[32 + 15], 2);
    assert_int_equal(b[48] << 8 | b[49], 1);
    assert_int_equal(b[50] << 8 | b[51], 2);
    s = v4("10.0.0.1", 5); d = v6("2001:db8::2", 6);
    n = pp_header(2, SA(s), SA(d), b, sizeof b);
    assert_int_equal(n, 16);
    assert_int_equal(b[13], 0x00);
    assert_int_equal(b[14] | b[15], 0);
    assert_int_equal(pp_header(2, SA(s), SA(d), b, 10), -1);
    assert_int_equal(pp_header(3, SA(s), SA(d), b, sizeof b), -1);
}

static void test_versions(void **st)
{
    assert_int_equal(pp_parse_version("v1"), 1);
    assert_int_equal(pp_parse_version("v2"), 2);
    assert_int_equal(pp_parse_version("2"), 2);
    assert_int_equal(pp_parse_version("v3"), -1);
    assert_int_equal(pp_parse_version(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
