/* client_conn.h -- local proxy connections of anytls-client (cc_*): one per
 * accepted connection on -l. A connection first speaks a proxy handshake
 * (client_inbound.c), then relays its bytes over one stream of a session
 * (client_session.c), or, for SOCKS5 UDP ASSOCIATE, datagrams (client_udp.c). */
#ifndef CLIENT_CONN_H
#define CLIENT_CONN_H

#include "client_types.h"

/* A local connection on fd, accepted by w (fd is owned from now on: closed on
 * failure). NULL out of memory. */
cconn_t *cc_new(cworker_t *w, int fd);
/* Closes cc and ends its stream (why: debug log line, NULL for none). */
void cc_close(cconn_t *cc, const char *why);
/* Gives cc a stream to cc->dst on a session: the newest idle one, else a new
 * one; cc->early goes first. cc may be closed when it returns. */
void cc_attach(cconn_t *cc);
/* Bytes of cc's stream from the server. */
void cc_deliver(cconn_t *cc, const uint8_t *p, size_t n);
/* Queues or writes bytes toward the local app; -1 on a local write error. */
int cc_local_send(cconn_t *cc, const uint8_t *p, size_t n);

#endif
