/* fuzz_addr.c -- destination addresses (core/addr.c): the SOCKS5 form (first
 * PSH of every stream, SOCKS5 requests, UoT requests) and the UoT datagram form.
 *
 * Input: byte 0 picks the form (bit 0: SOCKS5 or UoT), the rest is the address
 * bytes (exact-size buffer). Checks, for addr_parse:
 *  - rc > 0: rc <= n; a domain is NUL-terminated with strlen == name_len > 0;
 *    addr_encode in the same form gives back exactly the rc input bytes; the
 *    encoding parses to the same address; every shorter prefix of those bytes
 *    returns 0 (need more); addr_encode with a too small cap returns -1 and
 *    writes nothing past cap; addr_format is NUL-terminated at every cap.
 *  - rc <= 0: the output address is left untouched.
 * The rest of the input is also given, NUL-terminated, to addr_from_string (how
 * HTTP proxy targets are read); on success addr_format then addr_from_string
 * must give the same address back. */
#include "fuzz_util.h"
#include "addr.h"

static int addr_eq(const addr_t *a, const addr_t *b)
{
    if (a->type != b->type || a->port != b->port)
        return 0;
    switch (a->type) {
    case ADDR_IPV4: return memcmp(a->ip, b->ip, 4) == 0;
    case ADDR_IPV6: return memcmp(a->ip, b->ip, 16) == 0;
    case ADDR_DOMAIN:
        return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
    }
    return 0;
}

static void check_wellformed(const addr_t *a)
{
    FUZZ_CHECK(a->type == ADDR_IPV4 || a->type == ADDR_IPV6 || a->type == ADDR_DOMAIN);
    if (a->type == ADDR_DOMAIN) {
        FUZZ_CHECK(a->name_len > 0);
        FUZZ_CHECK(a->name[a->name_len] == '\0');
        FUZZ_CHECK(strlen(a->name) == a->name_len);
    }
}

static void check_format(const addr_t *a)
{
    char full[300];
    int len = addr_format(a, full, sizeof(full));
    FUZZ_CHECK(len > 0 && (size_t)len < sizeof(full));
    FUZZ_CHECK(strlen(full) == (size_t)len);
    for (size_t cap = 1; cap <= 8; cap++) {
        char *b = malloc(cap);
        FUZZ_CHECK(b != NULL);
        int l2 = addr_format(a, b, cap);
        FUZZ_CHECK(l2 == len);
        FUZZ_CHECK(strlen(b) == ((size_t)len < cap ? (size_t)len : cap - 1));
        free(b);
    }
}

static void check_parse(const uint8_t *p, size_t n, int form)
{
    addr_t a, sentinel;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    a = sentinel;
    int rc = addr_parse(p, n, form, &a);
    if (rc <= 0) {
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK(memcmp(&a, &sentinel, sizeof(a)) == 0);
        return;
    }
    FUZZ_CHECK((size_t)rc <= n && rc <= 259);
    check_wellformed(&a);

    /* round trip */
    uint8_t enc[259];
    int el = addr_encode(&a, form, enc, sizeof(enc));
    FUZZ_CHECK(el == rc);
    FUZZ_CHECK(memcmp(enc, p, (size_t)rc) == 0);
    addr_t b;
    FUZZ_CHECK(addr_parse(enc, (size_t)el, form, &b) == el);
    FUZZ_CHECK(addr_eq(&a, &b));

    /* prefixes need more */
    for (size_t k = 0; k < (size_t)rc; k++) {
        addr_t c = sentinel;
        FUZZ_CHECK(addr_parse(p, k, form, &c) == 0);
        FUZZ_CHECK(memcmp(&c, &sentinel, sizeof(c)) == 0);
    }

    /* a short cap: -1, nothing written past it */
    size_t cap = (size_t)rc - 1;
    uint8_t *small = malloc(cap ? cap : 1);
    FUZZ_CHECK(small != NULL);
    FUZZ_CHECK(addr_encode(&a, form, small, cap) == -1);
    free(small);

    /* the other form round-trips the same address */
    uint8_t enc2[259];
    int el2 = addr_encode(&a, !form, enc2, sizeof(enc2));
    FUZZ_CHECK(el2 == el);
    FUZZ_CHECK(addr_parse(enc2, (size_t)el2, !form, &b) == el2 && addr_eq(&a, &b));

    check_format(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int form = data[0] & 1 ? ADDR_FORM_UOT : ADDR_FORM_SOCKS;
    uint8_t *p = (uint8_t *)fuzz_dup(data + 1, size - 1, 0);
    check_parse(p, size - 1, form);
    free(p);

    /* text form */
    char *s = fuzz_dup(data + 1, size - 1, 1);
    addr_t a, b, sentinel;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    a = sentinel;
    if (addr_from_string(s, &a) == 0) {
        check_wellformed(&a);
        char txt[300];
        int len = addr_format(&a, txt, sizeof(txt));
        FUZZ_CHECK(len > 0 && (size_t)len < sizeof(txt));
        FUZZ_CHECK(addr_from_string(txt, &b) == 0);
        FUZZ_CHECK(addr_eq(&a, &b));
        check_format(&a);
    } else {
        FUZZ_CHECK(memcmp(&a, &sentinel, sizeof(a)) == 0);
    }
    free(s);
    return 0;
}
