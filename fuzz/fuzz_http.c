/* fuzz_http.c -- HTTP/1.x message framing (core/http_msg.c), which the client
 * runs over every plain-HTTP proxy request from a local app and every response
 * from an origin.
 *
 * Input: byte 0 picks the mode (bit 0: a response, else a request head and its
 * body; bit 1: the response answers HEAD), then the message bytes. The message
 * is fed whole, byte by byte, and in pieces of sizes drawn from a seed of the
 * input (each piece in an exact-size heap block): every feeding must consume
 * the same bytes and end in the same state, and never more than it was given.
 * That is the property the proxy relies on: where a message ends cannot depend
 * on how TCP cut it. */
#include "fuzz_util.h"
#include "http_msg.h"

typedef struct run {
    size_t used;
    int phase, done, bad, has_cl, has_te, te_chunked;
    uint64_t cl;
    int framing, body_done, body_bad;
    size_t body_used;
} run_t;

/* Pieces: 0 whole, 1 byte by byte, else random sizes from rng. */
static size_t piece(int how, fuzz_rng_t *rng, size_t left)
{
    if (how == 0) return left;
    if (how == 1) return 1;
    size_t k = 1 + (size_t)fuzz_below(rng, 64);
    return k < left ? k : left;
}

/* Feeds one piece in an exact-size copy; returns what fn consumed. */
#define FEED(fn, obj, p, k, out) do {                 \
        uint8_t *c_ = malloc((k) ? (k) : 1);          \
        memcpy(c_, (p), (k));                         \
        out = fn((obj), c_, (k));                     \
        free(c_);                                     \
    } while (0)

static run_t run_response(const uint8_t *p, size_t n, int head_req, int how, uint64_t seed)
{
    fuzz_rng_t rng = { seed };
    hm_resp_t r;
    run_t o = { 0 };
    hm_resp_init(&r, head_req);
    while (o.used < n) {
        size_t k = piece(how, &rng, n - o.used), got;
        FEED(hm_resp_feed, &r, p + o.used, k, got);
        FUZZ_CHECK(got <= k);
        o.used += got;
        if (got < k) break;
    }
    o.phase = r.phase;
    if (r.phase == HM_RESP_DONE || r.phase == HM_RESP_UPGRADED || r.phase == HM_RESP_BAD) {
        size_t more;
        FEED(hm_resp_feed, &r, p, n, more);   /* finished: takes nothing more */
        FUZZ_CHECK(more == 0);
    }
    if (r.phase == HM_RESP_UNTIL_CLOSE) FUZZ_CHECK(o.used == n);
    return o;
}

static run_t run_request(const uint8_t *p, size_t n, int how, uint64_t seed)
{
    fuzz_rng_t rng = { seed };
    hm_head_t h;
    run_t o = { 0 };
    hm_head_init(&h, 0);
    while (o.used < n && !h.done && !h.bad) {
        size_t k = piece(how, &rng, n - o.used), got;
        FEED(hm_head_feed, &h, p + o.used, k, got);
        FUZZ_CHECK(got <= k);
        o.used += got;
    }
    o.done = h.done; o.bad = h.bad; o.has_cl = h.has_cl; o.has_te = h.has_te;
    o.te_chunked = h.te_chunked; o.cl = h.cl;
    hm_body_t b;
    o.framing = hm_request_body(&h, &b);
    if (o.framing == HM_BAD) return o;
    size_t at = o.used;
    while (at + o.body_used < n && !b.done && !b.bad) {
        size_t k = piece(how, &rng, n - at - o.body_used), got;
        FEED(hm_body_feed, &b, p + at + o.body_used, k, got);
        FUZZ_CHECK(got <= k);
        o.body_used += got;
        if (got < k) break;
    }
    o.body_done = b.done;
    o.body_bad = b.bad;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint64_t seed = fuzz_hash(data, size);
    run_t r[3];
    for (int how = 0; how < 3; how++)
        r[how] = mode & 1 ? run_response(p, n, (mode >> 1) & 1, how, seed) : run_request(p, n, how, seed);
    for (int how = 1; how < 3; how++) {
        FUZZ_CHECK(r[how].used == r[0].used);
        FUZZ_CHECK(r[how].phase == r[0].phase);
        FUZZ_CHECK(r[how].done == r[0].done && r[how].bad == r[0].bad);
        FUZZ_CHECK(r[how].has_cl == r[0].has_cl && r[how].cl == r[0].cl);
        FUZZ_CHECK(r[how].has_te == r[0].has_te && r[how].te_chunked == r[0].te_chunked);
        FUZZ_CHECK(r[how].framing == r[0].framing);
        FUZZ_CHECK(r[how].body_used == r[0].body_used);
        FUZZ_CHECK(r[how].body_done == r[0].body_done && r[how].body_bad == r[0].body_bad);
    }
    return 0;
}
