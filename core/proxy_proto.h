/* proxy_proto.h -- the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * version 1 text or version 2 binary) that tells a server we connect to on a
 * client's behalf who the client is: its address and the address it reached.
 *
 * What it promises: a header a conforming receiver parses, for TCP over IPv4
 * or IPv6 (IPv4-mapped IPv6 addresses on both ends are written as IPv4). Any
 * other pair (different families, or not IP) is written as v1 "UNKNOWN" / v2
 * family UNSPEC, which tells the receiver to use the connection's own
 * addresses. Pure function: no I/O. */
#ifndef PROXY_PROTO_H
#define PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PP_HEADER_MAX 108   /* v1 is at most 107 bytes; v2 here at most 16 + 36 */

/* Writes the version (1 or 2) header for a connection from src to dst; its
 * length, or -1 if version is neither or cap is smaller than needed. */
int pp_header(int version, const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out, size_t cap);
/* "v1" / "v2" -> 1 / 2; -1 otherwise. */
int pp_parse_version(const char *s);

#endif
