/* fuzz_uot.c -- UDP-over-TCP v2 framing (core/uot.c), which the server reads
 * from a client's UDP stream and the client from the server's.
 *
 * Input: byte 0 picks the mode (bit 0: a request header, then datagrams in the
 * mode it announces; else datagrams only, bit 1 = isConnect), the rest is the
 * stream (exact-size buffer). The stream is consumed the way a relay does:
 * parse one unit, move past it, until 0 (need more) or -1 (malformed). Checks:
 *  - request: rc <= n; the address is well formed; uot_encode_request gives
 *    back the bytes (isConnect normalized to 0/1); shorter prefixes need more;
 *  - datagram: rc <= n; the payload lies inside [b, b + rc) and ends at rc;
 *    uot_datagram_header re-encodes the header bytes exactly; every shorter
 *    prefix gives 0; a too small cap gives -1.
 * uot_is_magic is called on every parsed address. */
#include "fuzz_util.h"
#include "uot.h"

static void check_addr(const addr_t *a)
{
    FUZZ_CHECK(a->type == ADDR_IPV4 || a->type == ADDR_IPV6 || a->type == ADDR_DOMAIN);
    if (a->type == ADDR_DOMAIN)
        FUZZ_CHECK(a->name_len > 0 && a->name[a->name_len] == '\0' &&
                   strlen(a->name) == a->name_len);
    int m = uot_is_magic(a);
    FUZZ_CHECK(m == 0 || m == 1);
}

/* Returns bytes used by the request, or 0 to stop. */
static size_t request(const uint8_t *b, size_t n, int *is_connect)
{
    addr_t dst;
    int ic = -1;
    int rc = uot_parse_request(b, n, &ic, &dst);
    FUZZ_CHECK(rc >= -1);
    if (rc <= 0)
        return 0;
    FUZZ_CHECK((size_t)rc <= n && rc >= 2);
    FUZZ_CHECK(ic == (b[0] != 0));
    check_addr(&dst);
    uint8_t enc[1 + 259];
    int el = uot_encode_request(ic, &dst, enc, sizeof(enc));
    FUZZ_CHECK(el == rc && enc[0] == (uint8_t)ic);
    FUZZ_CHECK(memcmp(enc + 1, b + 1, (size_t)rc - 1) == 0);
    FUZZ_CHECK(uot_encode_request(ic, &dst, enc, (size_t)rc - 1) == -1);
    FUZZ_CHECK(uot_encode_request(ic, &dst, enc, 0) == -1);
    for (size_t k = 0; k < (size_t)rc; k++) {
        int ic2;
        addr_t d2;
        FUZZ_CHECK(uot_parse_request(b, k, &ic2, &d2) == 0);
    }
    *is_connect = ic;
    return (size_t)rc;
}

/* Returns bytes used by one datagram, or 0 to stop. */
static size_t datagram(const uint8_t *b, size_t n, int is_connect)
{
    addr_t dst;
    const uint8_t *payload = NULL;
    size_t plen = (size_t)-1;
    int rc = uot_parse_datagram(b, n, is_connect, &dst, &payload, &plen);
    FUZZ_CHECK(rc >= -1);
    if (rc <= 0)
        return 0;
    FUZZ_CHECK((size_t)rc <= n && rc >= 2);
    FUZZ_CHECK(plen <= 0xffff && payload >= b + 2 && payload + plen == b + rc);
    size_t hl = (size_t)rc - plen;
    if (!is_connect)
        check_addr(&dst);
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < plen; i++)
        sink ^= payload[i]; /* ASan: the payload is readable */
    (void)sink;

    uint8_t hdr[259 + 2];
    int el = uot_datagram_header(is_connect, &dst, plen, hdr, sizeof(hdr));
    FUZZ_CHECK(el >= 0 && (size_t)el == hl);
    FUZZ_CHECK(memcmp(hdr, b, hl) == 0);
    uint8_t *small = malloc(hl - 1 ? hl - 1 : 1);
    FUZZ_CHECK(small != NULL);
    FUZZ_CHECK(uot_datagram_header(is_connect, &dst, plen, small, hl - 1) == -1);
    free(small);
    FUZZ_CHECK(uot_datagram_header(is_connect, &dst, 0x10000, hdr, sizeof(hdr)) == -1);
    if (!is_connect) /* no room for the address */
        FUZZ_CHECK(uot_datagram_header(is_connect, &dst, plen, hdr, hl - 3) == -1);
    /* prefixes: all of the header, a few of the payload */
    for (size_t k = 0; k < (size_t)rc; k++) {
        if (k > hl + 4 && k + 4 < (size_t)rc)
            k = (size_t)rc - 4;
        addr_t d2;
        const uint8_t *p2;
        size_t l2;
        FUZZ_CHECK(uot_parse_datagram(b, k, is_connect, &d2, &p2, &l2) == 0);
    }
    return (size_t)rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    size_t n = size - 1, off = 0;
    uint8_t *b = (uint8_t *)fuzz_dup(data + 1, n, 0);
    int is_connect = (mode >> 1) & 1;

    if (mode & 1) {
        size_t k = request(b, n, &is_connect);
        if (k == 0)
            goto out;
        off = k;
    }
    /* each unit gets its own exact-size tail of the buffer: b + off .. b + n */
    for (int i = 0; i < 1024 && off < n; i++) {
        size_t k = datagram(b + off, n - off, is_connect);
        if (k == 0)
            break;
        off += k;
    }
out:
    free(b);
    return 0;
}
