/* client_inbound.h -- the proxy handshake on anytls-client's -l port (ci_*):
 * SOCKS5 (CONNECT, UDP ASSOCIATE), SOCKS4/4a and HTTP proxy requests, told
 * apart by the first byte. When the destination is known the connection gets
 * a stream (cc_attach) or a UDP association (cu_assoc). */
#ifndef CLIENT_INBOUND_H
#define CLIENT_INBOUND_H

#include "client_types.h"

/* Reads and handles handshake bytes; returns when it needs more. cc may be
 * closed (bad request, timeout) or attached when it returns. */
void ci_handshake(cconn_t *cc);

#endif
