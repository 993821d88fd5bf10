/* test_padding.c -- scheme parsing, size drawing, write plans, the shared padded
 * writer (padwriter.c), and the worked first flight of PROTOCOL.md section 7. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "frame.h"
#include "kv.h"
#include "padding.h"
#include "padwriter.h"

/* Deterministic rng: returns `value` clamped to n-1, records the n asked for. */
typedef struct fixed_rng {
    uint32_t value;
    int calls;
    uint32_t last_n;
} fixed_rng_t;

static uint32_t fixed(void *arg, uint32_t n)
{
    fixed_rng_t *r = arg;
    r->calls++;
    r->last_n = n;
    return r->value < n ? r->value : n - 1;
}

static padding_scheme_t *parse(const char *text)
{
    return padding_parse(text, strlen(text));
}

static void test_default_text(void **state)
{
    (void)state;
    assert_int_equal(strlen(PADDING_DEFAULT), 137);
    padding_scheme_t *s = padding_default();
    assert_non_null(s);
    assert_string_equal(s->md5, "75cff2ad89aadf5e257059ee571ebe11");
    assert_int_equal(s->raw_len, 137);
    assert_memory_equal(s->raw, PADDING_DEFAULT, 137);
    assert_int_equal(s->stop, 8);
    assert_int_equal(s->nitems[0], 1);
    assert_int_equal(s->items[0][0].min, 30);
    assert_int_equal(s->items[0][0].max, 30);
    assert_int_equal(s->nitems[1], 1);
    assert_int_equal(s->items[1][0].min, 100);
    assert_int_equal(s->items[1][0].max, 400);
    assert_int_equal(s->nitems[2], 9);
    assert_int_equal(s->items[2][1].min, PADDING_CHECK);
    assert_int_equal(s->items[2][8].max, 1000);
    assert_int_equal(s->nitems[3], 2);
    assert_int_equal(s->items[3][0].min, 9);
    for (int i = 4; i < 8; i++)
        assert_int_equal(s->nitems[i], 1);
    assert_int_equal(s->nitems[8], 0);
    padding_free(s);
}

static void test_parse_rules(void **state)
{
    (void)state;
    padding_scheme_t *s;

    assert_null(parse("0=30-30\n1=100-400"));    /* no stop */
    assert_null(parse("stop=x\n0=30-30"));        /* stop not an integer */
    assert_null(parse("stop=\n0=30-30"));
    assert_null(parse("stop=8 \n0=30-30"));        /* no trimming, as Atoi */
    assert_null(parse("stop=8\nstop=y"));          /* the last one counts */
    assert_null(parse(""));

    s = parse("stop=-1");
    assert_non_null(s);
    assert_int_equal(s->stop, UINT32_MAX);         /* uint32(Atoi) */
    padding_free(s);

    s = parse("stop=+3\n"
              "1=400-100,abc,5,0-10,-5-10,1-2-3,,c,x-1,7-7,5-+6\n"
              "01=1-2\n"
              "64=1-2\n"
              "2=10-20=30,3-4\n"
              "3=1-1\n3=2-2\n"
              "noequals\n");
    assert_non_null(s);
    assert_int_equal(s->stop, 3);
    assert_int_equal(s->nitems[1], 4);
    assert_int_equal(s->items[1][0].min, 100);     /* reversed range swapped */
    assert_int_equal(s->items[1][0].max, 400);
    assert_int_equal(s->items[1][1].min, PADDING_CHECK);
    assert_int_equal(s->items[1][2].min, 7);
    assert_int_equal(s->items[1][3].min, 5);       /* Go's ParseInt takes "+6" */
    assert_int_equal(s->items[1][3].max, 6);
    assert_int_equal(s->nitems[2], 1);             /* split at the first '=' only */
    assert_int_equal(s->items[2][0].min, 3);
    assert_int_equal(s->nitems[3], 1);             /* a repeated key: last wins */
    assert_int_equal(s->items[3][0].min, 2);
    assert_int_equal(s->nitems[0], 0);
    padding_free(s);

    /* More than PADDING_MAX_LINE items: the rest are ignored. */
    char big[2048];
    size_t o = (size_t)snprintf(big, sizeof(big), "stop=2\n1=");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s%d-%d", i ? "," : "", i + 1, i + 1);
    s = padding_parse(big, o);
    assert_non_null(s);
    assert_int_equal(s->nitems[1], PADDING_MAX_LINE);
    assert_int_equal(s->items[1][PADDING_MAX_LINE - 1].min, PADDING_MAX_LINE);
    padding_free(s);

    /* md5 is over the raw text, trailing newline included. */
    s = parse("stop=1\n");
    assert_non_null(s);
    unsigned char md[16];
    unsigned int mdlen;
    char hex[33];
    EVP_Digest("stop=1\n", 7, md, &mdlen, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    assert_string_equal(s->md5, hex);
    padding_free(s);
}

static void test_sizes(void **state)
{
    (void)state;
    padding_scheme_t *s = padding_default();
    int32_t out[PADDING_MAX_LINE];
    fixed_rng_t r = { .value = 0 };

    /* exactly min when min == max, without asking the rng */
    assert_int_equal(padding_sizes(s, 0, out, PADDING_MAX_LINE, fixed, &r), 1);
    assert_int_equal(out[0], 30);
    assert_int_equal(r.calls, 0);
    assert_int_equal(padding_auth_len(s, fixed, &r), 30);

    /* [min, max): the rng is asked for max - min */
    assert_int_equal(padding_sizes(s, 1, out, PADDING_MAX_LINE, fixed, &r), 1);
    assert_int_equal(out[0], 100);
    assert_int_equal(r.last_n, 300);
    r.value = 1000;
    padding_sizes(s, 1, out, PADDING_MAX_LINE, fixed, &r);
    assert_int_equal(out[0], 399);

    r.value = 0;
    assert_int_equal(padding_sizes(s, 2, out, PADDING_MAX_LINE, fixed, &r), 9);
    int32_t want2[] = { 400, -1, 500, -1, 500, -1, 500, -1, 500 };
    assert_memory_equal(out, want2, sizeof(want2));
    assert_int_equal(padding_sizes(s, 2, out, 3, fixed, &r), 3);
    assert_int_equal(padding_sizes(s, 8, out, PADDING_MAX_LINE, fixed, &r), 0);
    assert_int_equal(padding_sizes(s, 1000, out, PADDING_MAX_LINE, fixed, &r), 0);

    /* OpenSSL's RAND: always inside the range, and not constant. */
    int lo = 1000, hi = 0;
    for (int i = 0; i < 2000; i++) {
        padding_sizes(s, 1, out, PADDING_MAX_LINE, NULL, NULL);
        assert_in_range(out[0], 100, 399);
        lo = out[0] < lo ? out[0] : lo;
        hi = out[0] > hi ? out[0] : hi;
    }
    assert_true(lo < 150 && hi > 350);
    padding_free(s);

    s = parse("stop=3\n0=c,5-5");
    assert_int_equal(padding_auth_len(s, NULL, NULL), 0); /* "c" first: no padding */
    padding_free(s);
    s = parse("stop=3");
    assert_int_equal(padding_auth_len(s, NULL, NULL), 0);
    padding_free(s);
}

static void check_plan(const padding_plan_t *p, int nrec, const padding_rec_t *want, size_t rest)
{
    assert_int_equal(p->nrec, nrec);
    for (int i = 0; i < nrec; i++) {
        assert_int_equal(p->rec[i].take, want[i].take);
        assert_int_equal(p->rec[i].waste, want[i].waste);
    }
    assert_int_equal(p->rest, rest);
}

static void test_plan(void **state)
{
    (void)state;
    padding_scheme_t *s = padding_default();
    padding_plan_t p;
    fixed_rng_t r = { .value = 0 };

    /* pkt >= stop: no padding at all */
    padding_plan(s, 8, 5000, &p, fixed, &r);
    check_plan(&p, 0, NULL, 5000);
    padding_plan(s, 100, 7, &p, fixed, &r);
    check_plan(&p, 0, NULL, 7);

    /* line 1 (100 drawn): remaining > l, then the rest goes out unpadded */
    padding_plan(s, 1, 250, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 100, -1 } }, 150);
    /* remaining == l: the record is exactly l, no room for a Waste frame */
    padding_plan(s, 1, 100, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 100, -1 } }, 0);
    /* l - remaining - 7 == 0: still no Waste frame */
    padding_plan(s, 1, 93, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 93, -1 } }, 0);
    /* l - remaining - 7 == 1: a Waste frame of one byte */
    padding_plan(s, 1, 92, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 92, 1 } }, 0);
    padding_plan(s, 1, 97, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 97, -1 } }, 0);
    /* nothing to send: a record that is only Waste */
    padding_plan(s, 1, 0, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 0, 100 } }, 0);

    /* line 2 = 400-500,c,500-1000,c,...: "c" stops once the data is out */
    padding_plan(s, 2, 100, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 100, 293 } }, 0);
    padding_plan(s, 2, 1000, &p, fixed, &r);
    check_plan(&p, 3, (padding_rec_t[]){ { 400, -1 }, { 500, -1 }, { 100, 393 } }, 0);
    padding_plan(s, 2, 400, &p, fixed, &r);
    check_plan(&p, 1, (padding_rec_t[]){ { 400, -1 } }, 0);
    padding_plan(s, 2, 10000, &p, fixed, &r);
    check_plan(&p, 5, (padding_rec_t[]){ { 400, -1 }, { 500, -1 }, { 500, -1 }, { 500, -1 }, { 500, -1 } },
               10000 - 2400);

    /* line 3 = 9-9,500-1000 has no "c": after the data, a Waste-only record */
    padding_plan(s, 3, 5, &p, fixed, &r);
    check_plan(&p, 2, (padding_rec_t[]){ { 5, -1 }, { 0, 500 } }, 0);
    padding_plan(s, 3, 1, &p, fixed, &r);
    check_plan(&p, 2, (padding_rec_t[]){ { 1, 1 }, { 0, 500 } }, 0);
    padding_plan(s, 3, 600, &p, fixed, &r);
    check_plan(&p, 2, (padding_rec_t[]){ { 9, -1 }, { 500, -1 } }, 91);
    padding_plan(s, 3, 509, &p, fixed, &r);
    check_plan(&p, 2, (padding_rec_t[]){ { 9, -1 }, { 500, -1 } }, 0);
    padding_free(s);

    /* A line number below stop that has no line: unpadded. */
    s = parse("stop=100\n1=10-10");
    padding_plan(s, 50, 33, &p, fixed, &r);
    check_plan(&p, 0, NULL, 33);
    padding_free(s);
}

/* PROTOCOL.md section 7, record B: Settings + SYN + PSH(example.com:443) and the
 * head of its Waste frame (the 188 Waste bytes that follow are zeros). */
static const uint8_t want_b[] =
    "\x04\x00\x00\x00\x00\x00\x45"
    "v=2\nclient=anytls/0.0.13\npadding-md5=75cff2ad89aadf5e257059ee571ebe11"
    "\x01\x00\x00\x00\x01\x00\x00"
    "\x02\x00\x00\x00\x01\x00\x0f"
    "\x03\x0b" "example.com" "\x01\xbb"
    "\x00\x00\x00\x00\x00\x00\xbc";   /* Waste, sid 0, 188 bytes */
static const uint8_t dest_example[] = { 0x03, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb };

/* PROTOCOL.md section 7: password "password", target example.com:443. */
static void test_first_flight(void **state)
{
    (void)state;
    padding_scheme_t *s = padding_default();
    fixed_rng_t r = { .value = 200 };   /* line 1 = 100-400 -> 300 */
    uint8_t rec[2048];
    size_t n = 0;

    /* Record A: the auth block. */
    static const uint8_t want_a_head[34] = {
        0x5e, 0x88, 0x48, 0x98, 0xda, 0x28, 0x04, 0x71, 0x51, 0xd0, 0xe5, 0x6f,
        0x8d, 0xc6, 0x29, 0x27, 0x73, 0x60, 0x3d, 0x0d, 0x6a, 0xab, 0xbd, 0xd6,
        0x2a, 0x11, 0xef, 0x72, 0x1d, 0x15, 0x42, 0xd8, 0x00, 0x1e,
    };
    unsigned int hlen = 0;
    assert_true(EVP_Digest("password", 8, rec, &hlen, EVP_sha256(), NULL));
    assert_int_equal(hlen, 32);
    int pad = padding_auth_len(s, &fixed, &r);
    rec[32] = (uint8_t)(pad >> 8);
    rec[33] = (uint8_t)pad;
    memset(rec + 34, 0, (size_t)pad);
    assert_int_equal(34 + pad, 64);
    assert_memory_equal(rec, want_a_head, 34);
    for (int i = 34; i < 64; i++)
        assert_int_equal(rec[i], 0);

    /* Record B: Settings + SYN + first PSH, padded per line 1. */
    char settings[128];
    int sl = snprintf(settings, sizeof(settings), "v=2\nclient=anytls/0.0.13\npadding-md5=%s", s->md5);
    assert_int_equal(sl, 0x45);
    char md5[40];
    assert_int_equal(kv_get(settings, (size_t)sl, "padding-md5", md5, sizeof(md5)), 32);
    assert_string_equal(md5, "75cff2ad89aadf5e257059ee571ebe11");

    uint8_t payload[256];
    size_t pl = 0;
    frame_put_hdr(payload + pl, CMD_SETTINGS, 0, (uint16_t)sl);
    memcpy(payload + pl + FRAME_HDR, settings, (size_t)sl);
    pl += FRAME_HDR + (size_t)sl;
    frame_put_hdr(payload + pl, CMD_SYN, 1, 0);
    pl += FRAME_HDR;
    frame_put_hdr(payload + pl, CMD_PSH, 1, sizeof(dest_example));
    memcpy(payload + pl + FRAME_HDR, dest_example, sizeof(dest_example));
    pl += FRAME_HDR + sizeof(dest_example);
    assert_int_equal(pl, 105);

    padding_plan_t plan;
    padding_plan(s, 1, pl, &plan, fixed, &r);
    assert_int_equal(plan.nrec, 1);
    assert_int_equal(plan.rest, 0);
    assert_int_equal(plan.rec[0].take, 105);
    assert_int_equal(plan.rec[0].waste, 300 - 105 - 7);

    /* Assemble the record the way the session writer does. */
    memcpy(rec, payload, plan.rec[0].take);
    n = plan.rec[0].take;
    frame_put_hdr(rec + n, CMD_WASTE, 0, (uint16_t)plan.rec[0].waste);
    n += FRAME_HDR;
    memset(rec + n, 0, (size_t)plan.rec[0].waste);
    n += (size_t)plan.rec[0].waste;
    assert_int_equal(n, 300);

    assert_int_equal(sizeof(want_b) - 1, 112);
    assert_memory_equal(rec, want_b, 112);
    for (size_t i = 112; i < 300; i++)
        assert_int_equal(rec[i], 0);
    padding_free(s);
}

/* ---- padwriter.c: the writer anytls-client and bench/loadgen share ---- */

/* Gathers what padw_write hands its output: the pieces, their flags, bytes. */
typedef struct sink {
    int n;
    size_t len[PADDING_MAX_LINE + 1];
    int record[PADDING_MAX_LINE + 1];
    uint8_t *buf;
    size_t used, cap;
    int fail_at;                        /* piece index whose output fails (-1: none) */
} sink_t;

static int sink_out(void *arg, const uint8_t *p, size_t n, int record)
{
    sink_t *k = arg;
    if (k->n == k->fail_at) return -1;
    assert_true(k->n < PADDING_MAX_LINE + 1);
    assert_true(k->used + n <= k->cap);
    memcpy(k->buf + k->used, p, n);
    k->used += n;
    k->len[k->n] = n;
    k->record[k->n] = record;
    k->n++;
    return 0;
}

static sink_t *sink_new(size_t cap)
{
    sink_t *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    k->buf = malloc(cap);
    assert_non_null(k->buf);
    k->cap = cap;
    k->fail_at = -1;
    return k;
}

static void sink_free(sink_t *k)
{
    free(k->buf);
    free(k);
}

static void assert_waste(const uint8_t *p, uint16_t len)
{
    static const uint8_t hdr0[5] = { 0 };
    assert_int_equal(p[0], CMD_WASTE);
    assert_memory_equal(p + 1, hdr0, 4);            /* sid 0 */
    assert_int_equal((p[5] << 8) | p[6], len);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[FRAME_HDR + i], 0);
}

/* Writes n bytes of `in` as packet pkt of s (low end of every range drawn)
 * into a fresh sink, and checks the pieces' lengths; each is a record, or
 * each plain (record = 0). Returns the sink (the caller frees it). */
static sink_t *write_expect(const padding_scheme_t *s, uint32_t pkt, const uint8_t *in, size_t n,
                            const size_t *lens, int nlens, int record)
{
    fixed_rng_t r = { .value = 0 };
    sink_t *k = sink_new(80000);
    assert_int_equal(padw_write(s, pkt, in, n, sink_out, k, fixed, &r), 0);
    assert_int_equal(k->n, nlens);
    for (int i = 0; i < nlens; i++) {
        assert_int_equal(k->len[i], lens[i]);
        assert_int_equal(k->record[i], record);
    }
    return k;
}

/* Records and Waste frame sizes, and where each payload byte goes. */
static void test_padw_records(void **state)
{
    (void)state;
    padding_scheme_t *s = padding_default();
    uint8_t in[1000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 13 + 1);

    /* Packet 2 (400-500, c, 500-1000, c, ...), 1000 bytes: 400 | 500 | the
     * last 100 + Waste(393) to make up 500; the "c" after it ends the write. */
    sink_t *k = write_expect(s, 2, in, 1000, (size_t[]){ 400, 500, 500 }, 3, 1);
    assert_memory_equal(k->buf, in, 1000);
    assert_waste(k->buf + 1000, 500 - 100 - 7);
    sink_free(k);

    /* Packet 3 (9-9, 500-1000), 5 bytes: the first record has no room for a
     * Waste header (9 - 5 < 7); the second is a Waste frame alone, 500 bytes. */
    k = write_expect(s, 3, in, 5, (size_t[]){ 5, FRAME_HDR + 500 }, 2, 1);
    assert_memory_equal(k->buf, in, 5);
    assert_waste(k->buf + 5, 500);
    sink_free(k);

    /* At stop and past it: one plain piece (no record boundary asked). */
    k = write_expect(s, s->stop, in, 77, (size_t[]){ 77 }, 1, 0);
    assert_memory_equal(k->buf, in, 77);
    sink_free(k);
    padding_free(s);

    /* Payload beyond the line's sizes goes out unpadded, as one more record. */
    s = parse("stop=3\n1=10-10");
    k = write_expect(s, 1, in, 25, (size_t[]){ 10, 15 }, 2, 1);
    assert_memory_equal(k->buf, in, 25);
    sink_free(k);

    /* A failing output stops the write. */
    fixed_rng_t r = { .value = 0 };
    k = sink_new(64);
    k->fail_at = 0;
    assert_int_equal(padw_write(s, 1, in, 25, sink_out, k, fixed, &r), -1);
    assert_int_equal(k->n, 0);
    sink_free(k);
    padding_free(s);

    /* More padding than one frame holds: the Waste frame is capped at 65535
     * (a record too big for the stack buffer). */
    s = parse("stop=2\n1=70000-70000");
    k = write_expect(s, 1, in, 10, (size_t[]){ 10 + FRAME_HDR + FRAME_MAX_DATA }, 1, 1);
    assert_memory_equal(k->buf, in, 10);
    assert_waste(k->buf + 10, FRAME_MAX_DATA);
    sink_free(k);
    padding_free(s);
}

/* The shared Settings frame and writer give record B of the first flight
 * (PROTOCOL.md section 7), with our client name where the reference gives its own. */
static void test_padw_first_flight(void **state)
{
    (void)state;
    padding_scheme_t *s = padding_default();
    fixed_rng_t r = { .value = 200 };   /* line 1 = 100-400 -> 300 */
    static const char text_want[] = "v=2\nclient=" PADW_CLIENT "\npadding-md5=75cff2ad89aadf5e257059ee571ebe11";
    const size_t tl = sizeof(text_want) - 1;
    char text[256];
    assert_int_equal(padw_settings_text(text, sizeof(text), s->md5), tl);
    assert_string_equal(text, text_want);
    assert_non_null(strstr(text, "client=anytls-c/"));

    /* the reference's record B with its Settings text swapped for ours */
    uint8_t want[512];
    size_t wl = 0;
    frame_put_hdr(want, CMD_SETTINGS, 0, (uint16_t)tl);
    memcpy(want + FRAME_HDR, text_want, tl);
    wl = FRAME_HDR + tl;
    const size_t synpsh = 2 * FRAME_HDR + sizeof(dest_example);             /* SYN + PSH dest */
    memcpy(want + wl, want_b + FRAME_HDR + 0x45, synpsh);
    wl += synpsh;

    uint8_t payload[PADW_SETTINGS_MAX + 64];
    size_t pl = padw_put_settings(payload, s);
    assert_int_equal(pl, FRAME_HDR + tl);
    frame_put_hdr(payload + pl, CMD_SYN, 1, 0);
    pl += FRAME_HDR;
    frame_put_hdr(payload + pl, CMD_PSH, 1, sizeof(dest_example));
    memcpy(payload + pl + FRAME_HDR, dest_example, sizeof(dest_example));
    pl += FRAME_HDR + sizeof(dest_example);
    assert_int_equal(pl, wl);

    sink_t *k = sink_new(4096);
    assert_int_equal(padw_write(s, 1, payload, pl, sink_out, k, fixed, &r), 0);
    assert_int_equal(k->n, 1);
    assert_int_equal(k->len[0], 300);
    assert_int_equal(k->record[0], 1);
    assert_memory_equal(k->buf, want, wl);
    /* the rest of the 300 bytes is one Waste frame of zeroes */
    assert_int_equal(k->buf[wl], CMD_WASTE);
    for (size_t i = wl + FRAME_HDR; i < 300; i++)
        assert_int_equal(k->buf[i], 0);
    sink_free(k);
    padding_free(s);
}

/* The key=value text of Settings frames (kv.c). */
static void test_kv(void **state)
{
    (void)state;
    static const char t[] = "v=2\nclient=anytls/0.0.13\npadding-md5=abc=def\nv=3\nnoeq\nempty=";
    size_t n = sizeof(t) - 1;
    char out[8];

    assert_int_equal(kv_get(t, n, "v", out, sizeof(out)), 1);
    assert_string_equal(out, "3");                     /* the last line wins */
    assert_int_equal(kv_get(t, n, "padding-md5", out, sizeof(out)), 7);
    assert_string_equal(out, "abc=def");               /* split at the first '=' */
    assert_int_equal(kv_get(t, n, "client", out, sizeof(out)), 7);
    assert_string_equal(out, "anytls/");               /* truncated to cap - 1 */
    assert_int_equal(kv_get(t, n, "empty", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(kv_get(t, n, "noeq", out, sizeof(out)), -1);
    assert_int_equal(kv_get(t, n, "x", out, sizeof(out)), -1);
    assert_int_equal(kv_get(t, n, "", out, sizeof(out)), -1);
    assert_int_equal(kv_get(t, 3, "v", out, sizeof(out)), 1); /* only len bytes */
    assert_string_equal(out, "2");
    assert_int_equal(kv_get("", 0, "v", out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_text),
        cmocka_unit_test(test_parse_rules),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_first_flight),
        cmocka_unit_test(test_padw_records),
        cmocka_unit_test(test_padw_first_flight),
        cmocka_unit_test(test_kv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
