/* proxy_proto.c -- PROXY protocol v1 and v2 headers (proxy_proto.h). */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* An address as the header carries it: family (AF_INET, AF_INET6, or 0 for
 * anything else), 4 or 16 bytes, port. A v4-mapped IPv6 address is IPv4. */
typedef struct ppaddr {
    int family;
    uint8_t ip[16];
    uint16_t port;
} ppaddr_t;

static void get(const struct sockaddr *sa, ppaddr_t *a)
{
    memset(a, 0, sizeof *a);
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        memcpy(a->ip, &s4->sin_addr, 4);
        a->port = ntohs(s4->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a->port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            a->family = AF_INET;
            memcpy(a->ip, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            a->family = AF_INET6;
            memcpy(a->ip, &s6->sin6_addr, 16);
        }
    }
}

int pp_header(int version, const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out, size_t cap)
{
    ppaddr_t s, d;
    get(src, &s);
    get(dst, &d);
    int fam = s.family && s.family == d.family ? s.family : 0;
    if (version == 1) {
        char sb[INET6_ADDRSTRLEN], db[INET6_ADDRSTRLEN], line[PP_HEADER_MAX + 1];
        int n;
        if (!fam) {
            n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
        } else {
            inet_ntop(fam, s.ip, sb, sizeof sb);
            inet_ntop(fam, d.ip, db, sizeof db);
            n = snprintf(line, sizeof line, "PROXY %s %s %s %u %u\r\n", fam == AF_INET ? "TCP4" : "TCP6",
                         sb, db, s.port, d.port);
        }
        if (n < 0 || (size_t)n > cap) return -1;
        memcpy(out, line, (size_t)n);
        return n;
    }
    if (version != 2) return -1;
    size_t alen = fam == AF_INET ? 12 : fam == AF_INET6 ? 36 : 0;
    if (cap < 16 + alen) return -1;
    memcpy(out, v2_sig, sizeof v2_sig);
    out[12] = 0x21;   /* version 2, PROXY */
    out[13] = fam == AF_INET ? 0x11 : fam == AF_INET6 ? 0x21 : 0x00;   /* TCP over IPv4 / IPv6, UNSPEC */
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    size_t il = fam == AF_INET ? 4 : 16;
    if (alen) {
        uint8_t *p = out + 16;
        memcpy(p, s.ip, il);
        memcpy(p + il, d.ip, il);
        p += 2 * il;
        *p++ = (uint8_t)(s.port >> 8); *p++ = (uint8_t)s.port;
        *p++ = (uint8_t)(d.port >> 8); *p++ = (uint8_t)d.port;
    }
    return (int)(16 + alen);
}

int pp_parse_version(const char *s)
{
    if (strcmp(s, "v1") == 0 || strcmp(s, "1") == 0) return 1;
    if (strcmp(s, "v2") == 0 || strcmp(s, "2") == 0) return 2;
    return -1;
}
