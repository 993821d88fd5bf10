/* uot.h -- UDP over TCP v2 (sing): a stream to sp.v2.udp-over-tcp.arpa:0 carries
 * datagrams. Request: isConnect(1) + SOCKS5 address. Then each datagram:
 * isConnect=1: len(2) payload; isConnect=0: UoT-form address + port, len(2), payload. */
#ifndef UOT_H
#define UOT_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"

#define UOT_MAGIC_HOST "sp.v2.udp-over-tcp.arpa"
#define UOT_V1_MAGIC_HOST "sp.udp-over-tcp.arpa"

/* 1 if a is a UoT magic destination: a name in udp-over-tcp.arpa (the v2 name
 * sp.v2.udp-over-tcp.arpa, the v1 name sp.udp-over-tcp.arpa, ...). */
int uot_is_magic(const addr_t *a);

/* Request header. Returns bytes used, 0 if more needed, -1 if malformed. */
int uot_parse_request(const uint8_t *b, size_t n, int *is_connect, addr_t *dst);
int uot_encode_request(int is_connect, const addr_t *dst, uint8_t *out, size_t cap);

/* One datagram at b. Returns bytes used (> 0) with *payload and *plen set (and *dst
 * when !is_connect), 0 if incomplete, -1 if malformed. */
int uot_parse_datagram(const uint8_t *b, size_t n, int is_connect, addr_t *dst,
                       const uint8_t **payload, size_t *plen);
/* Writes the datagram header (address when !is_connect, then length); returns its
 * length or -1. The payload follows it, written by the caller. */
int uot_datagram_header(int is_connect, const addr_t *dst, size_t plen, uint8_t *out, size_t cap);

#endif
