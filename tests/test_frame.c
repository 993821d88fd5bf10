/* test_frame.c -- the streaming frame decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"

/* Events are logged in a normal form: PSH pieces are joined, so the log of a
 * stream must not depend on how it was split. */
typedef struct log {
    uint8_t buf[1 << 18];
    size_t len;
    int calls;
    int stop_at;          /* callback number that returns 7 (0: never) */
    uint8_t psh[65536];   /* PSH body gathered so far */
    size_t psh_len;
    int in_psh;
} log_t;

static void put(log_t *l, const void *p, size_t n)
{
    assert_true(l->len + n <= sizeof(l->buf));
    memcpy(l->buf + l->len, p, n);
    l->len += n;
}

static void put_event(log_t *l, const frame_hdr_t *h, const uint8_t *body, size_t n)
{
    uint8_t hdr[FRAME_HDR];
    frame_put_hdr(hdr, h->cmd, h->sid, h->len);
    put(l, hdr, sizeof(hdr));
    put(l, body, n);
}

static int log_cb(void *arg, const frame_hdr_t *h, const uint8_t *data, size_t n,
                  int first, int last)
{
    log_t *l = arg;

    l->calls++;
    assert_int_not_equal(h->cmd, CMD_WASTE);
    if (h->cmd == CMD_PSH) {
        assert_int_equal(first, !l->in_psh);
        if (h->len > 0)
            assert_true(n > 0);
        memcpy(l->psh + l->psh_len, data, n);
        l->psh_len += n;
        assert_true(l->psh_len <= h->len);
        l->in_psh = 1;
        assert_int_equal(last, l->psh_len == h->len);
        if (last) {
            put_event(l, h, l->psh, l->psh_len);
            l->psh_len = 0;
            l->in_psh = 0;
        }
    } else {
        assert_false(l->in_psh);
        assert_int_equal(n, h->len);
        assert_true(first && last);
        assert_non_null(data);
        put_event(l, h, data, n);
    }
    return l->calls == l->stop_at ? 7 : 0;
}

static size_t add_frame(uint8_t *p, uint8_t cmd, uint32_t sid, const void *body, uint16_t len)
{
    frame_put_hdr(p, cmd, sid, len);
    if (len) {
        if (body)
            memcpy(p + FRAME_HDR, body, len);
        else
            for (uint16_t i = 0; i < len; i++)
                p[FRAME_HDR + i] = (uint8_t)(i * 7 + cmd);
    }
    return FRAME_HDR + (size_t)len;
}

/* A stream with every kind of frame, including empty and unknown ones. */
static size_t build_stream(uint8_t *p)
{
    static const char settings[] = "v=2\nclient=anytls/0.0.13\npadding-md5=75cff2ad89aadf5e257059ee571ebe11";
    size_t n = 0;
    n += add_frame(p + n, CMD_SETTINGS, 0, settings, sizeof(settings) - 1);
    n += add_frame(p + n, CMD_SYN, 1, NULL, 0);
    n += add_frame(p + n, CMD_PSH, 1, NULL, 15);
    n += add_frame(p + n, CMD_WASTE, 0, NULL, 20);
    n += add_frame(p + n, CMD_PSH, 1, NULL, 0);
    n += add_frame(p + n, 200, 9, NULL, 5);
    n += add_frame(p + n, CMD_WASTE, 0, NULL, 0);
    n += add_frame(p + n, CMD_PSH, 0x01020304, NULL, 300);
    n += add_frame(p + n, CMD_HEART_REQ, 0, NULL, 0);
    n += add_frame(p + n, CMD_SYNACK, 3, "dial failed", 11);
    n += add_frame(p + n, CMD_FIN, 1, NULL, 0);
    return n;
}

static void reset_log(log_t *l)
{
    l->len = 0;
    l->calls = 0;
    l->stop_at = 0;
    l->psh_len = 0;
    l->in_psh = 0;
}

static log_t *new_log(void)
{
    log_t *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    return l;
}

static void decode_in_pieces(const uint8_t *s, size_t n, const size_t *cuts, int ncuts, log_t *l)
{
    frame_dec_t d;
    size_t pos = 0;

    frame_dec_init(&d);
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        assert_int_equal(frame_dec_feed(&d, s + pos, end - pos, log_cb, l), 0);
        pos = end;
    }
    assert_true(frame_dec_idle(&d));
    assert_false(l->in_psh);
    frame_dec_free(&d);
}

static void test_whole_stream(void **state)
{
    (void)state;
    uint8_t s[2048];
    size_t n = build_stream(s);
    log_t *l = new_log();

    decode_in_pieces(s, n, NULL, 0, l);
    /* 11 frames, 2 of them Waste; each delivered once when fed whole. */
    assert_int_equal(l->calls, 9);
    /* The normal form of a stream without Waste is the stream itself. */
    uint8_t expect[2048];
    size_t e = 0;
    for (size_t off = 0; off < n;) {
        frame_hdr_t h;
        frame_get_hdr(s + off, &h);
        if (h.cmd != CMD_WASTE) {
            memcpy(expect + e, s + off, FRAME_HDR + h.len);
            e += FRAME_HDR + h.len;
        }
        off += FRAME_HDR + h.len;
    }
    assert_int_equal(l->len, e);
    assert_memory_equal(l->buf, expect, e);
    free(l);
}

static void test_split_every_offset(void **state)
{
    (void)state;
    uint8_t s[2048];
    size_t n = build_stream(s);
    log_t *ref = new_log(), *l = new_log();

    decode_in_pieces(s, n, NULL, 0, ref);
    for (size_t cut = 0; cut <= n; cut++) {
        reset_log(l);
        decode_in_pieces(s, n, &cut, 1, l);
        assert_int_equal(l->len, ref->len);
        assert_memory_equal(l->buf, ref->buf, ref->len);
    }
    /* Two cuts, every pair of offsets a few bytes apart and far apart. */
    for (size_t a = 0; a <= n; a += 3) {
        for (size_t b = a; b <= n; b += 11) {
            size_t cuts[2] = { a, b };
            reset_log(l);
            decode_in_pieces(s, n, cuts, 2, l);
            assert_int_equal(l->len, ref->len);
            assert_memory_equal(l->buf, ref->buf, ref->len);
        }
    }
    free(ref);
    free(l);
}

static void test_one_byte_feeds(void **state)
{
    (void)state;
    uint8_t s[2048];
    size_t n = build_stream(s);
    log_t *ref = new_log(), *l = new_log();
    frame_dec_t d;

    decode_in_pieces(s, n, NULL, 0, ref);
    frame_dec_init(&d);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(frame_dec_feed(&d, s + i, 1, log_cb, l), 0);
        /* PSH bodies are never copied into the decoder. */
        if (d.hlen == FRAME_HDR && d.cur.cmd == CMD_PSH)
            assert_null(d.ctl);
    }
    assert_true(frame_dec_idle(&d));
    assert_int_equal(l->len, ref->len);
    assert_memory_equal(l->buf, ref->buf, ref->len);
    frame_dec_free(&d);
    free(ref);
    free(l);
}

static void test_random_chunks(void **state)
{
    (void)state;
    uint8_t s[2048];
    size_t n = build_stream(s);
    log_t *ref = new_log(), *l = new_log();
    uint32_t seed = 12345;

    decode_in_pieces(s, n, NULL, 0, ref);
    for (int round = 0; round < 200; round++) {
        size_t cuts[64];
        int nc = 0;
        size_t pos = 0;
        while (nc < 64) {
            seed = seed * 1103515245u + 12345u;
            pos += (seed >> 16) % 40;
            if (pos >= n)
                break;
            cuts[nc++] = pos;
        }
        reset_log(l);
        decode_in_pieces(s, n, cuts, nc, l);
        assert_int_equal(l->len, ref->len);
        assert_memory_equal(l->buf, ref->buf, ref->len);
    }
    free(ref);
    free(l);
}

static void test_idle_and_truncated(void **state)
{
    (void)state;
    uint8_t s[64];
    size_t n = add_frame(s, CMD_SYNACK, 5, "err", 3);
    log_t *l = new_log();
    frame_dec_t d;

    frame_dec_init(&d);
    assert_true(frame_dec_idle(&d));
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(frame_dec_feed(&d, s + i, 1, log_cb, l), 0);
        assert_false(frame_dec_idle(&d));
        assert_int_equal(l->calls, 0); /* truncated: just waits */
    }
    assert_int_equal(frame_dec_feed(&d, s + n - 1, 1, log_cb, l), 0);
    assert_true(frame_dec_idle(&d));
    assert_int_equal(l->calls, 1);
    assert_int_equal(frame_dec_feed(&d, s, 0, log_cb, l), 0);
    /* free in the middle of a gathered control body releases it */
    assert_int_equal(frame_dec_feed(&d, s, n - 1, log_cb, l), 0);
    frame_dec_free(&d);
    free(l);
}

static void test_big_control_frame(void **state)
{
    (void)state;
    uint8_t *s = malloc(FRAME_HDR + FRAME_MAX_DATA + FRAME_HDR);
    size_t n = add_frame(s, CMD_UPDATE_PADDING, 0, NULL, FRAME_MAX_DATA);
    n += add_frame(s + n, CMD_HEART_RESP, 0, NULL, 0);
    log_t *l = new_log();
    frame_dec_t d;

    frame_dec_init(&d);
    for (size_t pos = 0; pos < n; pos += 1000) {
        size_t k = n - pos < 1000 ? n - pos : 1000;
        assert_int_equal(frame_dec_feed(&d, s + pos, k, log_cb, l), 0);
    }
    assert_int_equal(l->calls, 2);
    assert_int_equal(l->len, n);
    assert_memory_equal(l->buf, s, n);
    frame_dec_free(&d);
    free(s);
    free(l);
}

static void test_callback_stops(void **state)
{
    (void)state;
    uint8_t s[2048];
    size_t n = build_stream(s);
    log_t *l = new_log();
    frame_dec_t d;

    l->stop_at = 2; /* the SYN */
    frame_dec_init(&d);
    assert_int_equal(frame_dec_feed(&d, s, n, log_cb, l), 7);
    assert_int_equal(l->calls, 2);
    frame_dec_free(&d);

    /* Stop inside a PSH piece too. */
    reset_log(l);
    l->stop_at = 3;
    frame_dec_init(&d);
    assert_int_equal(frame_dec_feed(&d, s, n, log_cb, l), 7);
    assert_int_equal(l->calls, 3);
    frame_dec_free(&d);
    free(l);
}

static void test_header_roundtrip(void **state)
{
    (void)state;
    uint8_t p[FRAME_HDR];
    frame_hdr_t h;

    frame_put_hdr(p, CMD_SERVER_SETTINGS, 0xdeadbeef, 0xfffe);
    static const uint8_t want[] = { 10, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xfe };
    assert_memory_equal(p, want, FRAME_HDR);
    frame_get_hdr(p, &h);
    assert_int_equal(h.cmd, 10);
    assert_int_equal(h.sid, 0xdeadbeef);
    assert_int_equal(h.len, 0xfffe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_roundtrip),
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_split_every_offset),
        cmocka_unit_test(test_one_byte_feeds),
        cmocka_unit_test(test_random_chunks),
        cmocka_unit_test(test_idle_and_truncated),
        cmocka_unit_test(test_big_control_frame),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
