/* client_http.h -- plain-HTTP proxying on anytls-client (ch_*): requests with
 * an absolute URI ("GET http://host/path HTTP/1.1"), many on one keep-alive
 * connection, as browsers send them, to any mix of origins.
 *
 * Promise: every request goes to its own origin. Each request head is parsed
 * (and rewritten to origin form); a request to another origin than the stream
 * in use ends that stream and opens a new one; requests to the same origin
 * keep it. To know where messages end, request bodies (Content-Length,
 * chunked) and responses (http_msg.h) are framed; bytes pass unchanged. One
 * request at a time: the next head waits until the response to the previous
 * one is complete, so replies cannot be mixed up either. A request whose end
 * cannot be known (a Transfer-Encoding other than chunked), a response that
 * cannot be framed, or one delimited by the close, closes the connection after
 * it. CONNECT, or a 101 answer, turns the rest of the connection into a tunnel. */
#ifndef CLIENT_HTTP_H
#define CLIENT_HTTP_H

#include "client_types.h"

/* Takes over cc, whose cc->in starts with a complete plain request head (the
 * handshake saw it): opens its stream and forwards what can be. 0, or -1 out
 * of memory (cc untouched). */
int ch_begin(cconn_t *cc);
/* The local side is readable (cc->http_fwd). */
void ch_local_read(cconn_t *cc);
/* Bytes of the stream from the origin (cc->http_fwd). */
void ch_from_origin(cconn_t *cc, const uint8_t *p, size_t n);

#endif
