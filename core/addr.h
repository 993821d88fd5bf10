/* addr.h -- destination addresses as AnyTLS and SOCKS5 carry them.
 * SOCKS5 form: 0x01 IPv4(4) port | 0x03 len name port | 0x04 IPv6(16) port.
 * UoT datagram form (sing's AddrParser): 0x00 IPv4 | 0x01 IPv6 | 0x02 len name,
 * then port. Ports big-endian. */
#ifndef ADDR_H
#define ADDR_H

#include <stdint.h>
#include <stddef.h>

enum addr_type { ADDR_IPV4 = 1, ADDR_DOMAIN = 3, ADDR_IPV6 = 4 };

typedef struct addr {
    uint8_t type;        /* enum addr_type */
    uint8_t ip[16];      /* 4 or 16 bytes used */
    uint8_t name_len;
    char name[256];      /* NUL-terminated when type == ADDR_DOMAIN */
    uint16_t port;
} addr_t;

enum addr_form { ADDR_FORM_SOCKS = 0, ADDR_FORM_UOT = 1 };

/* Parses an address at buf. Returns bytes used (> 0), 0 if more bytes are needed,
 * -1 if malformed (unknown type byte, empty domain name, or a domain holding a NUL). */
int addr_parse(const uint8_t *buf, size_t n, int form, addr_t *a);
/* Writes the encoding; returns its length (<= 259) or -1 if cap is too small. */
int addr_encode(const addr_t *a, int form, uint8_t *buf, size_t cap);
/* "host:port" with IPv6 in brackets; returns length (snprintf semantics). */
int addr_format(const addr_t *a, char *buf, size_t cap);
/* Parses "host:port", "[v6]:port", IPv4/IPv6 literals become IP types; 0 or -1. */
int addr_from_string(const char *s, addr_t *a);
/* A domain that is an IP literal ("10.0.0.1", "::1") becomes that IP type, so it
 * needs no lookup; 1 if it did, 0 if a is left as it was. */
int addr_ip_literal(addr_t *a);

#endif
