/* lg_anytls.h -- --anytls: bench/loadgen speaks AnyTLS to the server itself
 * (no anytls-client in the path), to measure the server and its outbound pool
 * alone.
 *
 * Like the reference client: a stream takes the newest idle session or opens a
 * new one (TCP + TLS + the auth block in one record); its first write carries
 * [Settings +] SYN + PSH (destination, SOCKS5 address form), padded by the
 * scheme (core/padwriter.h, the same writer as anytls-client); the request goes
 * in a second PSH without waiting for SYNACK; the response is the PSH bodies for
 * its sid; FIN ends the stream and the session goes back to the idle stack.
 * --anytls-new-session: one session per stream (closed after). Timings:
 * connect = TCP connected (a reused session: the stream's start); socks = SYN
 * sent on a ready session. Error kind "socks" here means TLS, Alert, SYNACK
 * with an error, or the session dying under the stream. A stream that times
 * out takes its session down with it (its state is unknown).
 *
 * --anytls-sessions N: N sessions carry all streams at once (multiplexed, as
 * the protocol allows and a hostile or busy client may do): a stream goes on
 * the session with the fewest streams, waiting there while it connects; a
 * session lost takes its streams with it and is reopened by the next stream.
 * A stream that times out sends FIN and leaves its session up. --hold-idle S:
 * afterwards, keep the sessions open and idle for S s (to measure them). */
#ifndef LG_ANYTLS_H
#define LG_ANYTLS_H

#include <stdint.h>

/* "anytls://PASSWORD@HOST:PORT" or "HOST:PORT" (password from --password, in
 * lg_cfg.at_pass): sets lg_cfg.at_server and at_pass, or dies. */
void lg_at_parse(const char *arg);
/* TLS context, scheme and session table for this process's share. */
void lg_at_init(void);
/* Puts stream i (just made by lg_stream_new) on a session. 0, or -1 if it
 * failed at once (the stream is then ended). */
int lg_at_stream_start(int32_t i, uint64_t t);
/* lg_stream's hook for a stream leaving while still on its session (error,
 * timeout): takes the session down, or with --anytls-sessions sends its FIN. */
void lg_at_stream_detach(int32_t i);
/* epoll events for the session tagged u (LG_SESS_TAG | gen << 32 | index);
 * stale tags (a session closed since) are ignored. */
void lg_at_event(uint64_t u, uint32_t ev, uint64_t t);
/* --hold-idle: keeps the sessions open with no streams for that long
 * (heartbeats answered; a session the server closes is not reopened). */
void lg_at_hold_idle(void);

#endif
