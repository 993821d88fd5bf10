/* fallback.h -- connections whose first bytes do not authenticate, relayed to
 * a web server (--fallback HOST:PORT), so that a prober sees that server's
 * answers instead of a proxy that hangs up.
 *
 * What it promises:
 *  - fb_take gets a TLS connection past its handshake and every byte the
 *    session read from it; it connects to the fallback, sends a PROXY
 *    protocol header first if asked (--fallback-proxy-protocol), then those
 *    bytes, and relays both ways until either side ends.
 *  - Bounded: at most --max-fallback-connections at once across workers
 *    (more are closed, counted); each direction holds at most FB_BUF bytes
 *    before the other side's reads stop (back-pressure both ways); a
 *    connection with no byte either way for FB_IDLE_MS, or whose fallback
 *    does not answer the connect within --connect-timeout-secs, is closed.
 *    It never touches the pool or the resolver: the address is resolved
 *    once, at start.
 *  - A fallback that cannot be reached closes the connection (counted) with
 *    one log line per 10 s per worker.
 * Everything runs on the worker that accepted the connection. */
#ifndef FALLBACK_H
#define FALLBACK_H

#include "server_types.h"

#define FB_BUF (256 * 1024)
#define FB_IDLE_MS 120000

/* HOST:PORT to an address (a name is looked up now, blocking: start-up only).
 * 0, or -1 with the reason in err. */
int fb_resolve(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t cap);

/* Takes c over (afterwards *c holds nothing: closing it is a no-op) with the
 * bytes read from it so far, a then b (either may be empty); peer names it
 * in log lines. */
void fb_take(sworker_t *w, tconn_t *c, const char *peer, const uint8_t *a, size_t an, const uint8_t *b,
             size_t bn);
/* Drain or shutdown: closes every fallback connection of w. */
void fb_close_all(sworker_t *w);

#endif
