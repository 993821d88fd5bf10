/* fuzz_frame.c -- the streaming frame decoder (core/frame.c), the first parser a
 * server or client runs over a peer's bytes.
 *
 * The input is the byte stream after the auth block. Properties checked:
 *  - the callback contract of frame.h (Waste never reported; PSH pieces in
 *    order with correct first/last flags and no empty piece except for an empty
 *    PSH; control frames whole; no callback after one returned non-zero; the
 *    non-zero value is what frame_dec_feed returns);
 *  - differential: the normalized event log (PSH pieces joined) and the final
 *    frame_dec_idle() are identical whether the stream is fed in one piece,
 *    split in two at every offset and byte by byte (inputs <= 64 bytes; two
 *    random offsets for longer ones) or cut into random chunks (including empty
 *    feeds; the chunking is drawn from the input's hash), and equal to what a
 *    trivial whole-buffer reference decoder says.
 * A callback "stops" (returns 7) at the first frame whose cmd is picked from
 * the input's hash (a PSH at its last piece), so the early-return paths are
 * covered too. */
#include "frame_log.h"

/* Feeds p[0..n) cut at the given offsets (cuts[] ascending, within [0, n]).
 * Each piece is copied to the end of work (an exact-size allocation of n bytes),
 * so a read past the piece lands in ASan's redzone instead of in the next bytes
 * of the stream, which one-shot feeding would have there. */
static void run(const uint8_t *p, size_t n, uint8_t *work, const size_t *cuts, size_t ncuts,
                int stop_cmd, fuzz_buf_t *out)
{
    frame_dec_t d;
    flog_t l = { .stop_cmd = stop_cmd, .log = *out };
    size_t prev = 0;

    l.log.len = 0;
    frame_dec_init(&d);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t next = i < ncuts ? cuts[i] : n;
        FUZZ_CHECK(next >= prev && next <= n);
        size_t k = next - prev;
        uint8_t *piece = work + (n - k);
        if (k)
            memcpy(piece, p + prev, k);
        int rc = frame_dec_feed(&d, piece, k, frame_log_cb, &l);
        prev = next;
        if (rc != 0) {
            FUZZ_CHECK(rc == 7 && l.stopped);
            break;
        }
        FUZZ_CHECK(!l.stopped);
    }
    fuzz_put8(&l.log, l.stopped ? 'S' : 'Z');
    fuzz_put8(&l.log, (uint8_t)frame_dec_idle(&d));
    frame_dec_free(&d);
    FUZZ_CHECK(frame_dec_idle(&d));
    *out = l.log;
}

static fuzz_buf_t want, got; /* reused across inputs */

static void check_cuts(const uint8_t *p, size_t n, uint8_t *work, const size_t *cuts,
                       size_t ncuts, int stop_cmd)
{
    run(p, n, work, cuts, ncuts, stop_cmd, &got);
    FUZZ_CHECK(got.len == want.len);
    FUZZ_CHECK(want.len == 0 || memcmp(got.p, want.p, want.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fuzz_hash(data, size);
    fuzz_rng_t r = { h };
    int stop_cmd = (h % 3 == 0) ? -1 : (int)((h >> 8) % 16);
    size_t *cuts = malloc((size + 2) * sizeof(*cuts));
    uint8_t *work = (uint8_t *)fuzz_dup(data, size, 0);

    FUZZ_CHECK(cuts != NULL);
    want.len = 0;
    frame_log_reference(data, size, stop_cmd, &want);

    /* one shot */
    check_cuts(data, size, work, cuts, 0, stop_cmd);

    if (size <= 64) {
        /* small inputs: byte by byte, and two pieces at every offset */
        for (size_t i = 0; i < size; i++)
            cuts[i] = i + 1;
        check_cuts(data, size, work, cuts, size, stop_cmd);
        for (size_t k = 0; k <= size; k++) {
            cuts[0] = k;
            check_cuts(data, size, work, cuts, 1, stop_cmd);
        }
    } else {
        /* longer ones: two pieces at two random offsets */
        for (int i = 0; i < 2; i++) {
            cuts[0] = (size_t)fuzz_below(&r, size + 1);
            check_cuts(data, size, work, cuts, 1, stop_cmd);
        }
    }

    /* random chunking, empty feeds included; the largest chunk is drawn too, so
     * over many inputs byte-by-byte, small, medium and large pieces all occur */
    static const size_t maxcs[] = { 1, 9, 80, 1100 };
    size_t maxc = maxcs[fuzz_below(&r, 4)], nc = 0, pos = 0;
    while (pos < size && nc <= size) {
        uint64_t c = maxc == 1 ? 1 : fuzz_below(&r, maxc + 1);
        pos = pos + c > size ? size : pos + c;
        cuts[nc++] = pos;
    }
    check_cuts(data, size, work, cuts, nc, stop_cmd);

    free(work);
    free(cuts);
    return 0;
}
