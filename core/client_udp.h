/* client_udp.h -- SOCKS5 UDP ASSOCIATE on anytls-client (cu_*): a UDP socket
 * next to the local listener; datagrams from the app ride one UDP-over-TCP v2
 * stream (non-connect mode, PROTOCOL.md §6), replies come back to the app. The
 * TCP connection that asked stays open for the association's lifetime. Only
 * that connection's client (its IP; the port it declared, else the port of its
 * first datagram) may use the relay: other sources are dropped and logged. */
#ifndef CLIENT_UDP_H
#define CLIENT_UDP_H

#include "client_types.h"

/* Opens the relay socket and sends the SOCKS5 reply with its address; 0, or
 * -1 (nothing sent, the caller answers with a failure). */
int cu_assoc(cconn_t *cc);
/* Closes the relay socket (no-op without one); with cc_close. */
void cu_close(cconn_t *cc);
/* Bytes of the UoT stream from the server: datagrams for the app. */
void cu_from_stream(cconn_t *cc, const uint8_t *p, size_t n);

#endif
