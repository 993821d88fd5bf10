/* test_http_msg.c -- HTTP/1.x message framing (core/http_msg.c): where a
 * response or a request body ends. Every message is also fed byte by byte and
 * in every two-piece split, and must end at the same place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_msg.h"

/* Feeds msg to a fresh response tracker in pieces of `step` bytes (0: two
 * pieces split at `split`); returns bytes consumed, phase in *phase. */
static size_t resp_run(const char *msg, int head_req, size_t step, size_t split, int *phase)
{
    hm_resp_t r;
    size_t n = strlen(msg), used = 0;
    hm_resp_init(&r, head_req);
    size_t cut = step ? 0 : split;
    while (used < n) {
        size_t len = step ? (n - used < step ? n - used : step) : (used < cut ? cut - used : n - used);
        uint8_t *p = malloc(len);   /* exactly len bytes: ASan sees a read past them */
        memcpy(p, msg + used, len);
        size_t k = hm_resp_feed(&r, p, len);
        free(p);
        used += k;
        if (k < len) break;
    }
    *phase = r.phase;
    return used;
}

/* The response is `len` bytes of msg and ends in `phase`, however it is split. */
static void check_resp(const char *msg, int head_req, size_t len, int phase)
{
    int ph;
    assert_int_equal(resp_run(msg, head_req, 1, 0, &ph), len);
    assert_int_equal(ph, phase);
    for (size_t s = 0; s <= strlen(msg); s++) {
        assert_int_equal(resp_run(msg, head_req, 0, s, &ph), len);
        assert_int_equal(ph, phase);
    }
}

static void test_resp_length(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 next";
    check_resp(m, 0, strlen(m) - strlen("HTTP/1.1 200 next"), HM_RESP_DONE);
    check_resp("HTTP/1.1 200 OK\nContent-Length:0\n\nX", 0, 34, HM_RESP_DONE);   /* bare LF */
    check_resp("HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabcd", 0, 44, HM_RESP_DONE);
}

static void test_resp_chunked(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 1\r\n\r\n"
                    "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    check_resp(m, 0, strlen(m) - 4, HM_RESP_DONE);
    check_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 52, HM_RESP_DONE);
    /* broken chunk syntax is not guessed at */
    int ph;
    resp_run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 1, 0, &ph);
    assert_int_equal(ph, HM_RESP_BAD);
    resp_run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", 0, 1, 0, &ph);
    assert_int_equal(ph, HM_RESP_BAD);
}

static void test_resp_no_body(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    check_resp(m, 1, strlen(m), HM_RESP_DONE);   /* to a HEAD request */
    check_resp("HTTP/1.1 204 No Content\r\n\r\nX", 0, 27, HM_RESP_DONE);
    check_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, 48, HM_RESP_DONE);
}

static void test_resp_interim_and_upgrade(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX";
    check_resp(m, 0, strlen(m) - 1, HM_RESP_DONE);
    const char *u = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    check_resp(u, 0, strlen(u) - 7, HM_RESP_UPGRADED);
}

static void test_resp_until_close(void **state)
{
    (void)state;
    const char *m = "HTTP/1.0 200 OK\r\n\r\nall of this until the close";
    check_resp(m, 0, strlen(m), HM_RESP_UNTIL_CLOSE);
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz";
    check_resp(t, 0, strlen(t), HM_RESP_UNTIL_CLOSE);
}

static void test_resp_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n 6\r\n\r\n",   /* folded */
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int ph;
        resp_run(bad[i], 0, 1, 0, &ph);
        assert_int_equal(ph, HM_RESP_BAD);
    }
    /* long lines are fine where framing does not look */
    char big[2000];
    memset(big, 'a', sizeof big);
    char m[2200];
    int n = snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\nSet-Cookie: %.*s\r\nContent-Length: 1\r\n\r\nzQ",
                     (int)sizeof big, big);
    check_resp(m, 0, (size_t)n - 1, HM_RESP_DONE);
}

/* A request head then its body: where the body ends. */
static void check_req(const char *head, const char *body, int framing, size_t body_len)
{
    hm_head_t h;
    hm_body_t b;
    hm_head_init(&h, 0);
    size_t k = hm_head_feed(&h, (const uint8_t *)head, strlen(head));
    assert_int_equal(hm_request_body(&h, &b), framing);
    if (framing == HM_BAD) return;   /* the scan stops at the bad line */
    assert_int_equal(k, strlen(head));
    size_t used = 0, n = strlen(body);
    for (size_t i = 0; i < n && !b.done; i++)   /* byte by byte */
        used += hm_body_feed(&b, (const uint8_t *)body + i, 1);
    if (framing == HM_FRAMED) assert_true(b.done);
    assert_int_equal(used, body_len);
}

static void test_request_bodies(void **state)
{
    (void)state;
    check_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET /next", HM_FRAMED, 0);
    check_req("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", "abcGET", HM_FRAMED, 3);
    check_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
              "3\r\nabc\r\n0\r\n\r\nGET", HM_FRAMED, 13);
    check_req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "anything", HM_UNFRAMED, 8);
    check_req("POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", "", HM_BAD, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resp_length),
        cmocka_unit_test(test_resp_chunked),
        cmocka_unit_test(test_resp_no_body),
        cmocka_unit_test(test_resp_interim_and_upgrade),
        cmocka_unit_test(test_resp_until_close),
        cmocka_unit_test(test_resp_bad),
        cmocka_unit_test(test_request_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
