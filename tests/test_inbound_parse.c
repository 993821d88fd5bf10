/* test_inbound_parse.c -- SOCKS5, SOCKS4/4a, HTTP proxy requests and SOCKS5 UDP
 * headers. Every message is also checked prefix by prefix, each prefix in a heap
 * block of exactly its size so that ASan catches a read past n. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "inbound_parse.h"

enum kind { K_GREETING, K_S5REQ, K_S4REQ, K_HTTP };

static uint8_t http_out[INB_HTTP_MAX_HEAD];

static int run(int kind, const uint8_t *b, size_t n, size_t *used)
{
    int x, cmd;
    addr_t a;
    size_t ol;

    switch (kind) {
    case K_GREETING: return socks5_parse_greeting(b, n, used, &x);
    case K_S5REQ: return socks5_parse_request(b, n, used, &cmd, &a);
    case K_S4REQ: return socks4_parse_request(b, n, used, &a);
    default: return http_parse_request(b, n, used, &x, &a, http_out, &ol);
    }
}

/* Every strict prefix is NEED_MORE; the whole message is DONE using all of it;
 * extra bytes after it are left alone. */
static void check_prefixes(int kind, const void *msg, size_t len)
{
    size_t used = 0;

    for (size_t i = 0; i < len; i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, msg, i);
        assert_int_equal(run(kind, p, i, &used), INB_NEED_MORE);
        free(p);
    }
    uint8_t *p = malloc(len + 5);
    memcpy(p, msg, len);
    memcpy(p + len, "extra", 5);
    assert_int_equal(run(kind, p, len, &used), INB_DONE);
    assert_int_equal(used, len);
    used = 0;
    assert_int_equal(run(kind, p, len + 5, &used), INB_DONE);
    assert_int_equal(used, len);
    free(p);
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(inb_detect(0x05), INB_SOCKS5);
    assert_int_equal(inb_detect(0x04), INB_SOCKS4);
    assert_int_equal(inb_detect('C'), INB_HTTP);
    assert_int_equal(inb_detect('g'), INB_HTTP);
    assert_int_equal(inb_detect(0x16), INB_UNKNOWN); /* a TLS ClientHello */
    assert_int_equal(inb_detect('1'), INB_UNKNOWN);
    assert_int_equal(inb_detect(0), INB_UNKNOWN);
}

static void test_socks5_greeting(void **state)
{
    (void)state;
    static const uint8_t g1[] = { 5, 2, 2, 0 }, g2[] = { 5, 1, 2 }, g0[] = { 5, 0 };
    size_t used;
    int noauth;

    check_prefixes(K_GREETING, g1, sizeof(g1));
    check_prefixes(K_GREETING, g2, sizeof(g2));
    check_prefixes(K_GREETING, g0, sizeof(g0));
    assert_int_equal(socks5_parse_greeting(g1, 4, &used, &noauth), INB_DONE);
    assert_int_equal(noauth, 1);
    assert_int_equal(socks5_parse_greeting(g2, 3, &used, &noauth), INB_DONE);
    assert_int_equal(noauth, 0);
    assert_int_equal(socks5_parse_greeting(g0, 2, &used, &noauth), INB_DONE);
    assert_int_equal(noauth, 0);
    static const uint8_t bad[] = { 4, 1, 0 };
    assert_int_equal(socks5_parse_greeting(bad, 1, &used, &noauth), INB_ERROR);
}

static void test_socks5_request(void **state)
{
    (void)state;
    static const uint8_t v4[] = { 5, 1, 0, 1, 93, 184, 216, 34, 0, 80 };
    static const uint8_t name[] = { 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 1, 0xbb };
    static const uint8_t v6[] = { 5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90 };
    size_t used;
    int cmd;
    addr_t a;

    check_prefixes(K_S5REQ, v4, sizeof(v4));
    check_prefixes(K_S5REQ, name, sizeof(name));
    check_prefixes(K_S5REQ, v6, sizeof(v6));

    assert_int_equal(socks5_parse_request(v4, sizeof(v4), &used, &cmd, &a), INB_DONE);
    assert_int_equal(cmd, SOCKS5_CONNECT);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.ip[0], 93);
    assert_int_equal(a.port, 80);
    assert_int_equal(socks5_parse_request(name, sizeof(name), &used, &cmd, &a), INB_DONE);
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.port, 443);
    assert_int_equal(socks5_parse_request(v6, sizeof(v6), &used, &cmd, &a), INB_DONE);
    assert_int_equal(cmd, SOCKS5_UDP_ASSOCIATE);
    assert_int_equal(a.type, ADDR_IPV6);
    assert_int_equal(a.port, 8080);

    static const uint8_t ver4[] = { 4, 1, 0, 1, 1, 2, 3, 4, 0, 80 };
    static const uint8_t atyp[] = { 5, 1, 0, 2, 1, 2, 3, 4, 0, 80 };
    static const uint8_t empty[] = { 5, 1, 0, 3, 0, 0, 80 };
    assert_int_equal(socks5_parse_request(ver4, 1, &used, &cmd, &a), INB_ERROR);
    assert_int_equal(socks5_parse_request(atyp, 4, &used, &cmd, &a), INB_ERROR);
    assert_int_equal(socks5_parse_request(empty, sizeof(empty), &used, &cmd, &a), INB_ERROR);
}

static void test_socks5_reply(void **state)
{
    (void)state;
    uint8_t out[300];
    static const uint8_t zero[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(socks5_reply(out, 0, NULL), 10);
    assert_memory_equal(out, zero, 10);

    addr_t b;
    addr_from_string("[::1]:1080", &b);
    assert_int_equal(socks5_reply(out, 1, &b), 22);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[3], 4);
    assert_int_equal(out[19], 1);
    assert_int_equal(out[20], 0x04);
    assert_int_equal(out[21], 0x38);
}

static void test_socks4(void **state)
{
    (void)state;
    static const uint8_t s4[] = { 4, 1, 0, 80, 10, 0, 0, 1, 'b', 'o', 'b', 0 };
    static const uint8_t s4noid[] = { 4, 1, 0, 80, 10, 0, 0, 1, 0 };
    static const uint8_t s4a[] = { 4, 1, 1, 0xbb, 0, 0, 0, 7, 'u', 0, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0 };
    size_t used;
    addr_t a;

    check_prefixes(K_S4REQ, s4, sizeof(s4));
    check_prefixes(K_S4REQ, s4noid, sizeof(s4noid));
    check_prefixes(K_S4REQ, s4a, sizeof(s4a));

    assert_int_equal(socks4_parse_request(s4, sizeof(s4), &used, &a), INB_DONE);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.ip[0], 10);
    assert_int_equal(a.ip[3], 1);
    assert_int_equal(a.port, 80);
    assert_int_equal(socks4_parse_request(s4a, sizeof(s4a), &used, &a), INB_DONE);
    assert_int_equal(a.type, ADDR_DOMAIN);
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.name_len, 11);
    assert_int_equal(a.port, 443);

    /* 0.0.0.0 is a plain SOCKS4 address, not 4a */
    static const uint8_t zero_ip[] = { 4, 1, 0, 80, 0, 0, 0, 0, 0 };
    assert_int_equal(socks4_parse_request(zero_ip, sizeof(zero_ip), &used, &a), INB_DONE);
    assert_int_equal(a.type, ADDR_IPV4);

    static const uint8_t bind[] = { 4, 2, 0, 80, 10, 0, 0, 1, 0 };
    static const uint8_t vn[] = { 5, 1, 0, 80, 10, 0, 0, 1, 0 };
    static const uint8_t nohost[] = { 4, 1, 0, 80, 0, 0, 0, 1, 0, 0 };
    assert_int_equal(socks4_parse_request(bind, 2, &used, &a), INB_ERROR);
    assert_int_equal(socks4_parse_request(vn, 1, &used, &a), INB_ERROR);
    assert_int_equal(socks4_parse_request(nohost, sizeof(nohost), &used, &a), INB_ERROR);

    /* user id and host: 255 bytes is fine, 256 is an error */
    uint8_t big[8 + 257 + 257];
    memcpy(big, s4a, 8);
    memset(big + 8, 'u', 255);
    big[8 + 255] = 0;
    memset(big + 8 + 256, 'h', 255);
    big[8 + 256 + 255] = 0;
    check_prefixes(K_S4REQ, big, 8 + 256 + 256);
    assert_int_equal(socks4_parse_request(big, 8 + 512, &used, &a), INB_DONE);
    assert_int_equal(a.name_len, 255);
    big[8 + 256 + 255] = 'h';
    big[8 + 256 + 256] = 0;
    assert_int_equal(socks4_parse_request(big, sizeof(big), &used, &a), INB_ERROR);
    memset(big + 8, 'u', 257);
    assert_int_equal(socks4_parse_request(big, 8 + 256, &used, &a), INB_ERROR);
    assert_int_equal(socks4_parse_request(big, 8 + 255, &used, &a), INB_NEED_MORE);

    uint8_t out[8];
    static const uint8_t ok[8] = { 0, 0x5a }, no[8] = { 0, 0x5b };
    assert_int_equal(socks4_reply(out, 1), 8);
    assert_memory_equal(out, ok, 8);
    socks4_reply(out, 0);
    assert_memory_equal(out, no, 8);
}

static int http(const char *msg, size_t *used, int *conn, addr_t *a, char *out)
{
    size_t ol = 0;
    int rc = http_parse_request((const uint8_t *)msg, strlen(msg), used, conn, a, http_out, &ol);
    if (rc == INB_DONE && !*conn) {
        memcpy(out, http_out, ol);
        out[ol] = '\0';
    }
    return rc;
}

static void test_http_connect(void **state)
{
    (void)state;
    static const char m[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                            "Proxy-Authorization: Basic eDp5\r\n\r\n";
    size_t used;
    int conn = -1;
    addr_t a;
    char out[INB_HTTP_MAX_HEAD + 1];

    check_prefixes(K_HTTP, m, strlen(m));
    assert_int_equal(http("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                          "Proxy-Authorization: Basic eDp5\r\n\r\n\x16\x03\x01", &used, &conn, &a, out),
                     INB_DONE);
    assert_int_equal(conn, 1);
    assert_int_equal(used, strlen(m));
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.port, 443);

    assert_int_equal(http("CONNECT [2001:db8::1]:8443 HTTP/1.0\n\n", &used, &conn, &a, out), INB_DONE);
    assert_int_equal(a.type, ADDR_IPV6);
    assert_int_equal(a.port, 8443);
    assert_int_equal(http("CONNECT 1.2.3.4:22 HTTP/1.1\r\n\r\n", &used, &conn, &a, out), INB_DONE);
    assert_int_equal(a.type, ADDR_IPV4);

    assert_int_equal(http("CONNECT example.com HTTP/1.1\r\n\r\n", &used, &conn, &a, out), INB_ERROR);
    assert_int_equal(http("CONNECT example.com:99999 HTTP/1.1\r\n\r\n", &used, &conn, &a, out), INB_ERROR);
    assert_int_equal(http("CONNECT  example.com:443 HTTP/1.1\r\n\r\n", &used, &conn, &a, out), INB_ERROR);
    assert_int_equal(http("CONNECT example.com:443\r\n\r\n", &used, &conn, &a, out), INB_ERROR);
    assert_int_equal(http("CONNECT example.com:443 FTP/1.0\r\n\r\n", &used, &conn, &a, out), INB_ERROR);
}

static void test_http_absolute(void **state)
{
    (void)state;
    static const char m[] = "GET http://example.com/path?q=1 HTTP/1.1\r\n"
                            "Host: example.com\r\n"
                            "proxy-connection: keep-alive\r\n"
                            "User-Agent: t/1\r\n"
                            "PROXY-AUTHORIZATION: Basic eDp5\r\n"
                            "Proxy-Connection-X: kept\r\n"
                            "Accept: */*\r\n\r\n";
    static const char want[] = "GET /path?q=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "User-Agent: t/1\r\n"
                               "Proxy-Connection-X: kept\r\n"
                               "Accept: */*\r\n\r\n";
    size_t used;
    int conn = -1;
    addr_t a;
    char out[INB_HTTP_MAX_HEAD + 1];

    check_prefixes(K_HTTP, m, strlen(m));
    assert_int_equal(http(m, &used, &conn, &a, out), INB_DONE);
    assert_int_equal(conn, 0);
    assert_int_equal(used, strlen(m));
    assert_string_equal(out, want);
    assert_int_equal(a.type, ADDR_DOMAIN);
    assert_string_equal(a.name, "example.com");
    assert_int_equal(a.port, 80);

    /* a body after the head is not part of it */
    assert_int_equal(http("POST HTTP://h:8080 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", &used, &conn, &a, out),
                     INB_DONE);
    assert_int_equal(used, strlen("POST HTTP://h:8080 HTTP/1.1\r\nContent-Length: 2\r\n\r\n"));
    assert_string_equal(out, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n");
    assert_int_equal(a.port, 8080);

    assert_int_equal(http("GET http://h?x=1 HTTP/1.0\r\n\r\n", &used, &conn, &a, out), INB_DONE);
    assert_string_equal(out, "GET /?x=1 HTTP/1.0\r\n\r\n");
    assert_int_equal(http("GET http://user:pw@[::1]:81/a#frag HTTP/1.1\r\n\r\n", &used, &conn, &a, out),
                     INB_DONE);
    assert_string_equal(out, "GET /a HTTP/1.1\r\n\r\n");
    assert_int_equal(a.type, ADDR_IPV6);
    assert_int_equal(a.port, 81);
    assert_int_equal(http("GET http://1.2.3.4/ HTTP/1.1\r\n\r\n", &used, &conn, &a, out), INB_DONE);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.port, 80);

    /* bare LF line ends; a folded line belongs to the header before it */
    static const char lf[] = "GET http://h/ HTTP/1.1\nHost: h\nProxy-Authorization: a\n b\nX: 1\n\tfold\n\n";
    check_prefixes(K_HTTP, lf, strlen(lf));
    assert_int_equal(http(lf, &used, &conn, &a, out), INB_DONE);
    assert_string_equal(out, "GET / HTTP/1.1\nHost: h\nX: 1\n\tfold\n\n");

    const char *bad[] = {
        "GET /path HTTP/1.1\r\nHost: h\r\n\r\n",          /* origin form: not a proxy request */
        "GET https://h/ HTTP/1.1\r\n\r\n",
        "GET http:// HTTP/1.1\r\n\r\n",
        "GET http://h:/ HTTP/1.1\r\n\r\n",
        "GET http://h/ HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET http://h/ HTTP/1.1\r\n folded-first\r\n\r\n",
        "GET http://h/ HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET\r\n\r\n",
        "G(T http://h/ HTTP/1.1\r\n\r\n",
        "GET http://h/ HTTP/1.1 extra\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(http(bad[i], &used, &conn, &a, out), INB_ERROR);
}

static void test_http_limit(void **state)
{
    (void)state;
    char *m = malloc(INB_HTTP_MAX_HEAD + 100);
    size_t used;
    int conn;
    addr_t a;
    size_t ol;
    const char *line = "GET http://h/ HTTP/1.1\r\n";
    size_t n = strlen(line);

    memcpy(m, line, n);
    /* a head of exactly INB_HTTP_MAX_HEAD bytes is fine */
    memset(m + n, 'x', INB_HTTP_MAX_HEAD - n - 4);
    memcpy(m + n, "X: ", 3);
    memcpy(m + INB_HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
    assert_int_equal(http_parse_request((uint8_t *)m, INB_HTTP_MAX_HEAD, &used, &conn, &a,
                                        http_out, &ol), INB_DONE);
    assert_int_equal(used, INB_HTTP_MAX_HEAD);
    assert_int_equal(ol, INB_HTTP_MAX_HEAD - 8); /* "http://h" became "/" */
    /* one more byte and it is too long, whether or not the end has arrived */
    memset(m + n + 3, 'x', INB_HTTP_MAX_HEAD + 96 - n - 3);
    memcpy(m + INB_HTTP_MAX_HEAD - 3, "\r\n\r\n", 4);
    assert_int_equal(http_parse_request((uint8_t *)m, INB_HTTP_MAX_HEAD - 1, &used, &conn, &a,
                                        http_out, &ol), INB_NEED_MORE);
    assert_int_equal(http_parse_request((uint8_t *)m, INB_HTTP_MAX_HEAD, &used, &conn, &a,
                                        http_out, &ol), INB_ERROR);
    assert_int_equal(http_parse_request((uint8_t *)m, INB_HTTP_MAX_HEAD + 1, &used, &conn, &a,
                                        http_out, &ol), INB_ERROR);
    free(m);
}

static void test_socks5_udp(void **state)
{
    (void)state;
    static const uint8_t d[] = { 0, 0, 0, 1, 8, 8, 8, 8, 0, 53, 'p', 'a', 'y' };
    addr_t a;
    uint8_t out[300];

    assert_int_equal(socks5_udp_parse(d, sizeof(d), &a), 10);
    assert_int_equal(a.type, ADDR_IPV4);
    assert_int_equal(a.ip[0], 8);
    assert_int_equal(a.port, 53);
    assert_int_equal(socks5_udp_header(out, &a), 10);
    assert_memory_equal(out, d, 10);
    for (size_t i = 0; i < 10; i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, d, i);
        assert_int_equal(socks5_udp_parse(p, i, &a), -1); /* a datagram is whole */
        free(p);
    }
    static const uint8_t frag[] = { 0, 0, 1, 1, 8, 8, 8, 8, 0, 53 };
    static const uint8_t atyp[] = { 0, 0, 0, 9, 8, 8, 8, 8, 0, 53 };
    assert_int_equal(socks5_udp_parse(frag, sizeof(frag), &a), -1);
    assert_int_equal(socks5_udp_parse(atyp, sizeof(atyp), &a), -1);

    static const uint8_t dn[] = { 0, 0, 0, 3, 1, 'h', 0x12, 0x34 };
    assert_int_equal(socks5_udp_parse(dn, sizeof(dn), &a), 8);
    assert_string_equal(a.name, "h");
    assert_int_equal(socks5_udp_header(out, &a), 8);
    assert_memory_equal(out, dn, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_socks5_greeting),
        cmocka_unit_test(test_socks5_request),
        cmocka_unit_test(test_socks5_reply),
        cmocka_unit_test(test_socks4),
        cmocka_unit_test(test_http_connect),
        cmocka_unit_test(test_http_absolute),
        cmocka_unit_test(test_http_limit),
        cmocka_unit_test(test_socks5_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
