/* lg_tcp.h -- SOCKS5 and direct streams: one non-blocking TCP connection per
 * stream (to the proxy, or to the target with --direct), the SOCKS5 no-auth
 * greeting and CONNECT in IP form (all in one write with --socks-pipeline), the
 * request line, then the response counted until --response-size bytes. The
 * handshake is a byte-level state machine fed whatever the socket gives. */
#ifndef LG_TCP_H
#define LG_TCP_H

#include <stdint.h>

/* Connects stream i (just made by lg_stream_new). 0, or -1 if it failed at
 * once (the stream is then ended). */
int lg_tcp_start(int32_t i);
/* epoll events for the stream tagged u (gen << 32 | index): makes all the
 * progress possible on it. Stale tags (the slot reused since) are ignored. */
void lg_tcp_event(uint64_t u, uint32_t ev, uint64_t t);

#endif
