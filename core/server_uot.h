/* server_uot.h -- UDP over TCP (sing-box's UoT v2) on the server: a stream
 * whose destination is the magic name carries datagrams, relayed through one
 * UDP socket per stream (prefix suot_; the wire format is core/uot.c).
 *
 * What it promises: a connect-mode stream sends every datagram to its one
 * destination; a non-connect stream sends each datagram where its header
 * says. A destination that is a name is resolved on the worker's resolver
 * (sing-box's inbound does the same); its datagrams wait meanwhile, at most
 * SUOT_PENDING_MAX of them per stream: more, or a name that does not resolve,
 * and they are dropped -- counted (anytls_uot_dropped_total) and logged once
 * per stream. Replies go back framed with their source. The socket is
 * dual-stack (IPv4 destinations are sent as ::ffff:a.b.c.d). Reads stop while
 * the session's output is full, like a TCP target's. */
#ifndef SERVER_UOT_H
#define SERVER_UOT_H

#include "server_types.h"

/* The UoT request is parsed (st->dst, st->uot_connect): open the socket, ack. */
void suot_start(sstream_t *st);
/* Datagrams queued in st->tq (from the client) go out; the budgets' count of
 * st->tq follows (stream_queue_sync). */
void suot_feed(sstream_t *st);
/* The UDP socket is readable. */
void suot_read(sstream_t *st);
/* The stream is freed: datagrams still waiting for a name go too. */
void suot_free(sstream_t *st);

#endif
