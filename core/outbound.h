/* outbound.h -- how a stream reaches its target, and the spares the pool keeps
 * warm: the one path from "destination known" to "connected socket".
 *
 *   outbound_open(st): acquire(host:port) from the worker's pool
 *     hit  -> a checked warm spare: relay at once
 *     full -> the target is at --max-outbound-connections: retry every 20 ms
 *             for up to 2 s, then fail with a SYNACK error
 *     miss -> resolve (a name) -> non-blocking connect, under the
 *             --connect-timeout; a still-connecting stream is acked before
 *             the client's 3 s SYNACK watchdog. The lookup is the worker's
 *             resolver's (dns.h), charged to the session; a stream that ends
 *             while resolving cancels it. A lookup refused for a full budget
 *             fails the stream at once (counted: dns_refused).
 *   A retry after "full" takes the same path as a first try (a name is
 *   resolved there too).
 *
 * Refill: every 200 ms (and 2 ms after an acquire) a worker asks its pool which
 * spares to dial (pool_tick), and dials them without blocking, at most
 * --max-spare-dials connects per second per worker (the rest are handed back
 * as failed, so a client cannot turn pre-dialing into an amplifier). Refill
 * lookups are charged to the worker's refill owner, capped at half the
 * resolver's budget, so sessions keep the other half.
 *
 * Pool references: a reload (SIGHUP) gives every worker a new pool; a stream or
 * refill keeps the pool it acquired from until it ends, and a pool closes its
 * spares when its last reference goes. */
#ifndef OUTBOUND_H
#define OUTBOUND_H

#include "server_types.h"

/* A pool with `refs` references (the caller's); NULL if it cannot be made. */
pool_ref_t *outbound_pool_new(const char *type, const pool_config_t *cfg, int refs);
void outbound_pool_put(pool_ref_t *p);  /* NULL ok */

/* st->timer fired while the stream waits for a slot, a lookup or a connect. */
void outbound_stream_timer(sstream_t *st);
/* st->dst is known: take a spare, wait for a slot, or dial. */
void outbound_open(sstream_t *st);
/* The connect of a CONNECTING stream completed (its socket is writable). */
void outbound_connected(sstream_t *st);
/* Client bytes were queued on a CONNECTING stream: a TFO dial whose SYN waits
 * for them sends it now, carrying them (--tcp-fast-open, outbound.c). */
void outbound_stream_data(sstream_t *st);
/* A stream ends: its pool slot is given back, its reference dropped, timer off. */
void outbound_stream_end(sstream_t *st);

/* Worker start: the refill tick. */
void outbound_worker_init(sworker_t *w);
/* Drain or exit: no more refills; end those in flight. */
void outbound_worker_stop(sworker_t *w);

#endif
