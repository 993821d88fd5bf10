/* fuzz_padding.c -- the padding scheme (core/padding.c): a client parses the
 * text of an UpdatePaddingScheme frame from the server, then draws record sizes
 * and cuts its writes by it.
 *
 * The input is the scheme text (not NUL-terminated). On a parse, checks:
 *  - raw is the input, NUL-terminated; md5 is 32 lowercase hex digits;
 *  - every stored item is "c" (-1,-1) or a range 0 < min <= max;
 *  - padding_sizes for every line (and a few past the end) returns sizes that
 *    are "c" or within the line's ranges ([min, max) when min < max), with a
 *    deterministic random source seeded from the input, and also with the
 *    OpenSSL source (for one input in 16);
 *  - padding_plan for packets 0..stop+1 and a range of write lengths: the
 *    records take exactly the payload (sum of take + rest == len), no record is
 *    empty unless it is pure Waste, Waste sizes fit the drawn size, and
 *    pkt >= stop gives no records. */
#include "fuzz_util.h"
#include "padding.h"

typedef struct rng_arg { fuzz_rng_t r; int calls; } rng_arg_t;

static uint32_t rng(void *arg, uint32_t n)
{
    rng_arg_t *a = arg;
    FUZZ_CHECK(n > 0);
    a->calls++;
    /* mostly uniform, sometimes the edges */
    uint64_t v = fuzz_next(&a->r);
    switch (v & 7) {
    case 0: return 0;
    case 1: return n - 1;
    default: return (uint32_t)((v >> 3) % n);
    }
}

static void check_sizes(const padding_scheme_t *s, uint32_t pkt, const int32_t *sz, int n)
{
    FUZZ_CHECK(n >= 0 && n <= PADDING_MAX_LINE);
    if (pkt >= PADDING_MAX_PKTS) {
        FUZZ_CHECK(n == 0);
        return;
    }
    FUZZ_CHECK(n == s->nitems[pkt]);
    for (int i = 0; i < n; i++) {
        const padding_range_t *it = &s->items[pkt][i];
        if (it->min == PADDING_CHECK) {
            FUZZ_CHECK(sz[i] == PADDING_CHECK);
        } else if (it->min == it->max) {
            FUZZ_CHECK(sz[i] == it->min);
        } else {
            FUZZ_CHECK(sz[i] >= it->min && sz[i] < it->max);
        }
    }
}

static void check_plan(const padding_scheme_t *s, uint32_t pkt, size_t len, rng_arg_t *ra)
{
    padding_plan_t plan;
    memset(&plan, 0xa5, sizeof(plan));
    padding_plan(s, pkt, len, &plan, rng, ra);
    FUZZ_CHECK(plan.nrec >= 0 && plan.nrec <= PADDING_MAX_LINE);
    if (pkt >= s->stop) {
        FUZZ_CHECK(plan.nrec == 0 && plan.rest == len);
        return;
    }
    size_t sum = 0;
    for (int i = 0; i < plan.nrec; i++) {
        const padding_rec_t *r = &plan.rec[i];
        FUZZ_CHECK(r->waste >= -1);
        FUZZ_CHECK(r->take > 0 || r->waste >= 0); /* an empty record is pure Waste */
        /* once the payload is used up, every record is pure Waste */
        if (sum == len)
            FUZZ_CHECK(r->take == 0);
        sum += r->take;
        FUZZ_CHECK(sum <= len);
        /* a record with Waste is the last payload piece or pure Waste: take +
         * frame header + waste never goes past INT32_MAX (the drawn size) */
        if (r->waste >= 0 && r->take > 0)
            FUZZ_CHECK((uint64_t)r->take + 7 + (uint64_t)r->waste <= INT32_MAX);
    }
    FUZZ_CHECK(sum + plan.rest == len);
    /* records stop taking payload only when it is used up or the line ends */
    if (plan.rest > 0)
        for (int i = 0; i < plan.nrec; i++)
            FUZZ_CHECK(plan.rec[i].waste < 0);
}

static int is_hex32(const char *m)
{
    for (int i = 0; i < 32; i++)
        if (!((m[i] >= '0' && m[i] <= '9') || (m[i] >= 'a' && m[i] <= 'f')))
            return 0;
    return m[32] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535) /* an UpdatePaddingScheme body is one frame */
        return 0;
    char *text = fuzz_dup(data, size, 0);
    padding_scheme_t *s = padding_parse(text, size);
    rng_arg_t ra = { { fuzz_hash(data, size) }, 0 };

    if (!s) {
        free(text);
        return 0;
    }
    FUZZ_CHECK(s->raw != NULL && s->raw_len == size);
    FUZZ_CHECK(size == 0 || memcmp(s->raw, data, size) == 0);
    FUZZ_CHECK(s->raw[size] == '\0');
    FUZZ_CHECK(is_hex32(s->md5));
    for (int p = 0; p < PADDING_MAX_PKTS; p++) {
        FUZZ_CHECK(s->nitems[p] <= PADDING_MAX_LINE);
        for (int i = 0; i < s->nitems[p]; i++) {
            const padding_range_t *it = &s->items[p][i];
            if (it->min == PADDING_CHECK)
                FUZZ_CHECK(it->max == PADDING_CHECK);
            else
                FUZZ_CHECK(it->min > 0 && it->min <= it->max);
        }
    }

    int32_t sz[PADDING_MAX_LINE];
    for (uint32_t p = 0; p < PADDING_MAX_PKTS + 2; p++) {
        int n = padding_sizes(s, p, sz, PADDING_MAX_LINE, rng, &ra);
        check_sizes(s, p, sz, n);
    }
    /* a short out[] is respected */
    int n = padding_sizes(s, 2, sz, 3, rng, &ra);
    FUZZ_CHECK(n <= 3);
    /* the OpenSSL source, for one input in 16 (RAND_bytes is slow) */
    if ((ra.r.s & 15) == 0) {
        uint32_t p = (uint32_t)(fuzz_next(&ra.r) % PADDING_MAX_PKTS);
        n = padding_sizes(s, p, sz, PADDING_MAX_LINE, NULL, NULL);
        check_sizes(s, p, sz, n);
    }
    int auth = padding_auth_len(s, rng, &ra);
    FUZZ_CHECK(auth >= 0);

    uint32_t last = s->stop < PADDING_MAX_PKTS ? s->stop + 1 : PADDING_MAX_PKTS + 1;
    static const size_t lens[] = { 0, 1, 7, 8, 1000, 65535 + 7, 1u << 20 };
    for (uint32_t p = 0; p <= last; p++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            check_plan(s, p, lens[i], &ra);
        check_plan(s, p, (size_t)fuzz_below(&ra.r, 4096), &ra);
    }
    /* a packet number far past stop */
    check_plan(s, UINT32_MAX, 10, &ra);

    padding_free(s);
    free(text);
    return 0;
}
