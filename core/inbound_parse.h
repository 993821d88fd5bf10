/* inbound_parse.h -- what a local application says to anytls-client's port:
 * SOCKS5 (no auth; CONNECT, UDP ASSOCIATE), SOCKS4 / SOCKS4a (CONNECT), and HTTP
 * proxy requests (CONNECT host:port, or an absolute-URI request such as
 * "GET http://host/path HTTP/1.1"). Pure functions over bytes received so far. */
#ifndef INBOUND_PARSE_H
#define INBOUND_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "addr.h"

enum inb_proto { INB_SOCKS5 = 5, INB_SOCKS4 = 4, INB_HTTP = 1, INB_UNKNOWN = 0 };
/* By the first byte: 0x05 SOCKS5, 0x04 SOCKS4, an ASCII letter HTTP. */
int inb_detect(uint8_t first);

enum inb_status { INB_NEED_MORE = 0, INB_DONE = 1, INB_ERROR = -1 };

/* SOCKS5 greeting: VER NMETHODS METHODS. On DONE *used = its length and
 * *noauth = 1 if method 0x00 is offered. */
int socks5_parse_greeting(const uint8_t *b, size_t n, size_t *used, int *noauth);

enum { SOCKS5_CONNECT = 1, SOCKS5_BIND = 2, SOCKS5_UDP_ASSOCIATE = 3 };
/* SOCKS5 request: VER CMD RSV ATYP ADDR PORT. On DONE *used, *cmd and *dst set.
 * An unknown ATYP or VER != 5 is ERROR. */
int socks5_parse_request(const uint8_t *b, size_t n, size_t *used, int *cmd, addr_t *dst);
/* Writes a reply (VER REP RSV + bound address); returns its length. */
size_t socks5_reply(uint8_t *out, uint8_t rep, const addr_t *bound);

/* SOCKS4/4a: VN=4 CD=1 DSTPORT DSTIP USERID\0 [HOST\0 when DSTIP is 0.0.0.x, x!=0].
 * Only CONNECT. User id and host are each capped at 255 bytes (longer is ERROR). */
int socks4_parse_request(const uint8_t *b, size_t n, size_t *used, addr_t *dst);
/* 8-byte reply: 0x00, 0x5a granted / 0x5b rejected. */
size_t socks4_reply(uint8_t *out, int granted);

/* HTTP proxy request head (up to and including the blank line, at most
 * INB_HTTP_MAX_HEAD bytes, else ERROR).
 * CONNECT host:port  -> *is_connect = 1, dst set, *used = head length.
 * METHOD http://host[:port]/path VERSION -> *is_connect = 0, dst set (port 80 by
 *   default), and the head is rewritten into out (origin-form request line
 *   "METHOD /path VERSION", Proxy-Connection and Proxy-Authorization headers
 *   dropped, other headers kept byte for byte); *out_len set. out must hold
 *   INB_HTTP_MAX_HEAD bytes. */
#define INB_HTTP_MAX_HEAD 8192
int http_parse_request(const uint8_t *b, size_t n, size_t *used, int *is_connect,
                       addr_t *dst, uint8_t *out, size_t *out_len);

/* SOCKS5 UDP datagram header: RSV(2) FRAG(1) ATYP ADDR PORT. Returns header length,
 * -1 if malformed or FRAG != 0. */
int socks5_udp_parse(const uint8_t *b, size_t n, addr_t *dst);
/* Writes a SOCKS5 UDP header for src; returns its length. */
size_t socks5_udp_header(uint8_t *out, const addr_t *src);

#endif
