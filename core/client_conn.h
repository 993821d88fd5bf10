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
 * one; cc->early goes first. On an idle session a SOCKS stream with no early
 * bytes takes the session at once but sends its SYN with the app's first bytes
 * (or after 2 ms without them). cc may be closed when it returns. */
void cc_attach(cconn_t *cc);
/* Ends cc's stream (FIN unless the server ended it; the session goes back to
 * idle) but keeps cc: the next cc_attach opens a new one. */
void cc_end_stream(cconn_t *cc);
/* Ends the stream and closes cc once what waits for the local app is out. */
void cc_finish(cconn_t *cc, const char *why);
/* Stream bytes toward the server: PSH frames, or cc->early while the stream
 * is not open yet. p must not point into the loop's scratch buffer. -1 if cc
 * was closed. */
int cc_stream_send(cconn_t *cc, const uint8_t *p, size_t n);
/* 1 (and stops reading the local side until the session drains) when the
 * session has too much to write already. */
int cc_pause_if_busy(cconn_t *cc);
/* Bytes of cc's stream from the server. */
void cc_deliver(cconn_t *cc, const uint8_t *p, size_t n);
/* Queues or writes bytes toward the local app; -1 on a local write error. */
int cc_local_send(cconn_t *cc, const uint8_t *p, size_t n);

#endif
