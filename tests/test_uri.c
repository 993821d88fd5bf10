/* test_uri.c -- the client's -s argument. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "uri.h"

static server_uri_t u;
static char err[256];

static int parse(const char *s)
{
    return uri_parse(s, &u, err, sizeof(err));
}

static void test_host_port(void **state)
{
    (void)state;
    assert_int_equal(parse("example.com:8443"), 0);
    assert_string_equal(u.host, "example.com");
    assert_string_equal(u.port, "8443");
    assert_false(u.has_password);
    assert_string_equal(u.password, "");
    assert_string_equal(u.sni, "");

    assert_int_equal(parse("127.0.0.1:1"), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "1");

    assert_int_equal(parse("[::1]:8443"), 0);
    assert_string_equal(u.host, "::1");           /* brackets dropped, ready for getaddrinfo */
    assert_string_equal(u.port, "8443");

    assert_int_equal(parse("h:065535"), 0);
    assert_string_equal(u.port, "65535");
}

static void test_anytls_uri(void **state)
{
    (void)state;
    assert_int_equal(parse("anytls://pass@host.example:443?sni=x"), 0);
    assert_string_equal(u.host, "host.example");
    assert_string_equal(u.port, "443");
    assert_true(u.has_password);
    assert_string_equal(u.password, "pass");
    assert_string_equal(u.sni, "x");

    assert_int_equal(parse("anytls://p%40ss%3Aw%2Fd%20%25@[2001:db8::1]:8443/?insecure=1&sni=a.b%2Ec&x=y#label"), 0);
    assert_string_equal(u.password, "p@ss:w/d %");
    assert_string_equal(u.host, "2001:db8::1");
    assert_string_equal(u.port, "8443");
    assert_string_equal(u.sni, "a.b.c");

    /* '@' inside the password: the last '@' ends the user part */
    assert_int_equal(parse("ANYTLS://a@b@h:1"), 0);
    assert_string_equal(u.password, "a@b");
    assert_string_equal(u.host, "h");

    assert_int_equal(parse("anytls://h:2"), 0);
    assert_false(u.has_password);
    assert_string_equal(u.sni, "");

    assert_int_equal(parse("anytls://@h:2/"), 0);
    assert_true(u.has_password);
    assert_string_equal(u.password, "");

    /* a repeated key: the first one counts, as Go's url.Values.Get */
    assert_int_equal(parse("anytls://pw@h:3?sni=s1&sni=s2"), 0);
    assert_string_equal(u.sni, "s1");
}

static void expect_error(const char *s, const char *words)
{
    err[0] = '\0';
    assert_int_equal(parse(s), -1);
    if (!strstr(err, words))
        fail_msg("'%s': message '%s' lacks '%s'", s, err, words);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("example.com", "missing port");
    expect_error("example.com:", "missing port");
    expect_error("anytls://pw@example.com", "missing port");
    expect_error("anytls://pw@example.com/?sni=x", "missing port");
    expect_error("[::1]", "missing port");
    expect_error("h:0", "out of range");
    expect_error("h:65536", "out of range");
    expect_error("h:99999999999999999999", "out of range");
    expect_error("h:8o", "invalid port");
    expect_error(":443", "empty host");
    expect_error("anytls://pw@:443", "empty host");
    expect_error("[]:443", "empty host");
    expect_error("", "missing host");
    expect_error("anytls://", "missing host");
    expect_error("vmess://pw@h:1", "unknown scheme 'vmess'");
    expect_error("://h:1", "unknown scheme");
    expect_error("::1:443", "brackets");
    expect_error("[::1:443", "']'");
    expect_error("[::1]x443", "after ']'");
    expect_error("anytls://p%4@h:1", "password");
    expect_error("anytls://p%zz@h:1", "password");
    expect_error("anytls://p%00@h:1", "password");
    expect_error("anytls://pw@h:1?sni=%", "sni");
    expect_error("ho st:1", "invalid character");

    char longhost[300];
    memset(longhost, 'a', 256);
    strcpy(longhost + 256, ":1");
    expect_error(longhost, "too long");

    /* a short error buffer is fine, and so is none */
    char small[8];
    assert_int_equal(uri_parse("h", &u, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(uri_parse("h", &u, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_anytls_uri),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
