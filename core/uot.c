/* uot.c -- UDP-over-TCP v2 framing (sing's uot package). */
#include "uot.h"

#include <string.h>
#include <strings.h>

int uot_is_magic(const addr_t *a)
{
    /* Any name in the reserved udp-over-tcp.arpa domain, as the reference
     * (it reads a UoT request for sp.v2.udp-over-tcp.arpa, the v1 name
     * sp.udp-over-tcp.arpa and any other name there alike). */
    static const char dom[] = "udp-over-tcp.arpa";
    size_t n = sizeof dom - 1;
    if (a->type != ADDR_DOMAIN || a->name_len < n) return 0;
    const char *tail = a->name + a->name_len - n;
    if (strncasecmp(tail, dom, n) != 0) return 0;
    return a->name_len == n || tail[-1] == '.';
}

int uot_parse_request(const uint8_t *b, size_t n, int *is_connect, addr_t *dst)
{
    int rc;

    if (n < 1)
        return 0;
    rc = addr_parse(b + 1, n - 1, ADDR_FORM_SOCKS, dst);
    if (rc <= 0)
        return rc;
    *is_connect = b[0] != 0; /* Go's binary.Read of a bool */
    return 1 + rc;
}

int uot_encode_request(int is_connect, const addr_t *dst, uint8_t *out, size_t cap)
{
    int rc;

    if (cap < 1)
        return -1;
    out[0] = is_connect ? 1 : 0;
    rc = addr_encode(dst, ADDR_FORM_SOCKS, out + 1, cap - 1);
    return rc < 0 ? -1 : 1 + rc;
}

int uot_parse_datagram(const uint8_t *b, size_t n, int is_connect, addr_t *dst,
                       const uint8_t **payload, size_t *plen)
{
    size_t off = 0, len;

    if (!is_connect) {
        int rc = addr_parse(b, n, ADDR_FORM_UOT, dst);
        if (rc <= 0)
            return rc;
        off = (size_t)rc;
    }
    if (n - off < 2)
        return 0;
    len = (size_t)((b[off] << 8) | b[off + 1]);
    off += 2;
    if (n - off < len)
        return 0;
    *payload = b + off;
    *plen = len;
    return (int)(off + len);
}

int uot_datagram_header(int is_connect, const addr_t *dst, size_t plen, uint8_t *out, size_t cap)
{
    size_t off = 0;

    if (plen > 0xffff)
        return -1;
    if (!is_connect) {
        int rc = addr_encode(dst, ADDR_FORM_UOT, out, cap);
        if (rc < 0)
            return -1;
        off = (size_t)rc;
    }
    if (cap - off < 2)
        return -1;
    out[off] = (uint8_t)(plen >> 8);
    out[off + 1] = (uint8_t)plen;
    return (int)(off + 2);
}
