/* server_stream.h -- one stream of a session: its state machine and the relay
 * between the client's frames and the target socket.
 *
 *   SYN ─▶ ADDR ──(UoT magic name)──▶ UOT_REQ ──(request)──▶ UDP          (server_uot.c)
 *           │
 *           └──(address)──▶ outbound_open()                                (outbound.c)
 *                             ├─ spare (hit) ────────────────────────────▶ RELAY
 *                             ├─ at the cap ─▶ WAIT_POOL ─(slot freed)─┐
 *                             └─ dial (miss) ◀─────────────────────────┘
 *                                   ├─ IP literal ─────────▶ CONNECTING ─▶ RELAY
 *                                   └─ name ─▶ RESOLVING ──▶ CONNECTING
 *   every state ──(FIN from both sides, error, timeout, session closed)──▶ DEAD
 *
 * What it promises:
 *  - Bytes that arrive before the target is connected are queued (tq) and go
 *    out first; the queue toward a target is bounded by --stream-buf, past
 *    which the session stops reading (back-pressure, server_session.h).
 *  - Target -> client: read only while the session's output is under
 *    SESS_OUT_HIGH; a blocked stream is resumed when it drains.
 *  - A stream that ends sends FIN (unless the client ended it), gives its
 *    pool slot back, cancels its lookup and closes its socket; it is freed
 *    after this loop iteration, whatever its state. A failure before SYNACK sends the
 *    error text in the SYNACK, as the protocol asks.
 *  - A relaying stream's SYNACK (v2 clients) leaves with the target's first
 *    bytes, in their TLS record, or at its close, or 0.5 s after the SYN,
 *    whichever comes first: never later than that, never after its data. Only
 *    if the client already sent stream bytes; else at once, as the reference. */
#ifndef SERVER_STREAM_H
#define SERVER_STREAM_H

#include "server_types.h"

/* A new stream (state ADDR), counted; NULL if out of memory. */
sstream_t *stream_new(ssess_t *s, uint32_t sid);
/* Frees a stream that stream_new made but the session could not keep (NULL ok). */
void stream_discard(sstream_t *st);

void stream_data(sstream_t *st, const uint8_t *p, size_t n);  /* a PSH's payload */
void stream_fin(sstream_t *st);                               /* the client's FIN */
void stream_close(sstream_t *st, int send_fin, const char *why);
/* Ends a stream that could not reach its target: SYNACK with msg if not yet acked. */
void stream_fail(sstream_t *st, const char *msg);
void stream_ack(sstream_t *st);  /* SYNACK now (once), a held one included */
/* fd is a connected target socket: registered already (after a dial) or not (a spare). */
void stream_relay_start(sstream_t *st, int fd);
/* st->tq changed: the session's and worker's totals follow. */
void stream_queue_sync(sstream_t *st);
/* st->tq grew: over the stream's cap or a session / process budget, pause the
 * session's reads (counted and logged when a budget bites). */
void stream_check_cap(sstream_t *st);
/* The session's output is full: stop reading this stream's target. */
void stream_block(sstream_t *st);
/* The session's output drained: every blocked stream reads again. */
void stream_unblock_all(ssess_t *s);
/* The target socket's event handler (TCP and UDP). */
void stream_target_cb(loop_t *l, ioh_t *h, uint32_t ev);

#endif
