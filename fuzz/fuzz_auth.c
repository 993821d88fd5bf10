/* fuzz_auth.c -- the server's first application bytes: the auth block
 * (sha256(password) 32, padding length u16, padding) then frames.
 *
 * The server's auth step is core/auth.c (auth_feed), used here exactly as
 * sess_read() uses it, followed by the real frame decoder (core/frame.c). What it
 * tests is the auth step and the frame decoder behind a 34+N-byte prefix, cut into
 * TLS-read-sized pieces.
 *
 * The input is the stream (password "password"). Property: the outcome
 * (waiting for more auth bytes / wrong password / running) and the normal-form
 * frame event log (frame_log.h) are identical for every way of cutting the
 * stream into reads (one read; reads of random sizes up to a TLS record's
 * 16384 bytes; small reads that split the 34-byte block; a cut at every offset
 * of the block and the 6 bytes after it for inputs up to 100 bytes), and equal
 * to a one-shot
 * reading of the spec (PROTOCOL.md section 2). */
#include "frame_log.h"
#include "auth.h"

/* sha256("password") */
static const uint8_t PASS_HASH[32] = {
    0x5e, 0x88, 0x48, 0x98, 0xda, 0x28, 0x04, 0x71, 0x51, 0xd0, 0xe5, 0x6f, 0x8d, 0xc6, 0x29, 0x27,
    0x73, 0x60, 0x3d, 0x0d, 0x6a, 0xab, 0xbd, 0xd6, 0x2a, 0x11, 0xef, 0x72, 0x1d, 0x15, 0x42, 0xd8,
};

enum { SS_AUTH = 1, SS_RUN = 2, SS_DEAD = 3 };

typedef struct asess {
    auth_state_t a;
    int state;
} asess_t;

/* The server's own auth step (core/auth.c), as sess_read() uses it. */
static int auth_consume_copy(asess_t *s, const uint8_t *p, int n)
{
    size_t used = 0;
    int r = auth_feed(&s->a, PASS_HASH, p, (size_t)n, &used);
    if (r == AUTH_MORE) return n;
    if (r == AUTH_BAD) return -1;
    s->state = SS_RUN;
    return (int)used;
}

static fuzz_buf_t want, got;

/* sess_read() over reads cut at cuts[]; each read in its own exact-size buffer. */
static void run(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts, int stop_cmd)
{
    asess_t s = { .state = SS_AUTH };
    frame_dec_t d;
    flog_t l = { .stop_cmd = stop_cmd, .log = got };
    size_t prev = 0;

    l.log.len = 0;
    frame_dec_init(&d);
    for (size_t i = 0; i <= ncuts && s.state != SS_DEAD; i++) {
        size_t next = i < ncuts ? cuts[i] : n;
        FUZZ_CHECK(next >= prev && next <= n);
        int rn = (int)(next - prev);
        if (rn == 0)
            continue; /* tconn_read returns 0: nothing read */
        uint8_t *buf = (uint8_t *)fuzz_dup(p + prev, (size_t)rn, 0);
        prev = next;
        int off = 0;
        if (s.state == SS_AUTH) {
            off = auth_consume_copy(&s, buf, rn);
            if (off < 0) {
                s.state = SS_DEAD;
                free(buf);
                break;
            }
            FUZZ_CHECK(off <= rn);
            if (s.state != SS_RUN) {
                FUZZ_CHECK(off == rn);
                free(buf);
                continue;
            }
        }
        if (off < rn) {
            int rc = frame_dec_feed(&d, buf + off, (size_t)(rn - off), frame_log_cb, &l);
            if (rc != 0) {
                FUZZ_CHECK(rc == 7 && l.stopped);
                s.state = SS_DEAD; /* the session is dropped */
                free(buf);
                break;
            }
        }
        free(buf);
    }
    fuzz_put8(&l.log, 'A');
    fuzz_put8(&l.log, l.stopped ? SS_RUN : (uint8_t)s.state);
    fuzz_put8(&l.log, l.stopped ? 'S' : 'Z');
    fuzz_put8(&l.log, (uint8_t)frame_dec_idle(&d));
    frame_dec_free(&d);
    got = l.log;
}

/* The spec, one shot. */
static void expect(const uint8_t *p, size_t n, int stop_cmd)
{
    want.len = 0;
    int state;
    if (n < 34) {
        state = SS_AUTH;
    } else if (memcmp(p, PASS_HASH, 32) != 0) {
        state = SS_DEAD;
    } else {
        size_t pad = (size_t)p[32] << 8 | p[33];
        state = n < 34 + pad ? SS_AUTH : SS_RUN;
        if (state == SS_RUN) {
            fuzz_buf_t f = { 0 };
            frame_log_reference(p + 34 + pad, n - 34 - pad, stop_cmd, &f);
            /* the reference ends with 'S'/'Z' and idle: put the state first */
            fuzz_put(&want, f.p, f.len - 2);
            fuzz_put8(&want, 'A');
            fuzz_put8(&want, SS_RUN);
            fuzz_put(&want, f.p + f.len - 2, 2);
            fuzz_buf_free(&f);
            return;
        }
    }
    fuzz_put8(&want, 'A');
    fuzz_put8(&want, (uint8_t)state);
    fuzz_put8(&want, 'Z');
    fuzz_put8(&want, 1);
}

static void check(const uint8_t *p, size_t n, const size_t *cuts, size_t nc, int stop_cmd)
{
    run(p, n, cuts, nc, stop_cmd);
    FUZZ_CHECK(got.len == want.len);
    FUZZ_CHECK(memcmp(got.p, want.p, want.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fuzz_hash(data, size);
    fuzz_rng_t r = { h };
    int stop_cmd = (h % 3 == 0) ? -1 : (int)((h >> 8) % 16);
    size_t *cuts = malloc((size + 2) * sizeof(*cuts));
    FUZZ_CHECK(cuts != NULL);

    expect(data, size, stop_cmd);

    /* one read */
    check(data, size, cuts, 0, stop_cmd);

    /* a cut at every offset of the block and a few bytes past it (short inputs) */
    if (size <= 100) {
        for (size_t k = 0; k <= size && k <= 40; k++) {
            cuts[0] = k;
            check(data, size, cuts, 1, stop_cmd);
        }
    }

    /* random reads: small ones (the block arrives in pieces), and TLS-record
     * sized ones */
    static const size_t maxcs[] = { 1, 12, 100, 16384 };
    size_t maxc = maxcs[fuzz_below(&r, 4)], nc = 0, pos = 0;
    while (pos < size && nc <= size) {
        uint64_t c = maxc == 1 ? 1 : fuzz_below(&r, maxc + 1);
        pos = pos + c > size ? size : pos + c;
        cuts[nc++] = pos;
    }
    check(data, size, cuts, nc, stop_cmd);

    free(cuts);
    return 0;
}
