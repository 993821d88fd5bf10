/* refill_gate.h -- which targets a worker may pre-dial spares for, and when.
 *
 * The pool asks for spares for every target it tracks (pool_tick). Pre-dialing
 * is a cost paid on a guess -- connections held open at the target, dials that
 * may be wasted -- and a client chooses the targets, so the worker that dials
 * asks this gate first:
 *  - a target is pre-dialed only once it was asked for more than once (one
 *    stream to a host says nothing about the next);
 *  - a refill that fails backs off: 1 s, 2 s, 4 s ... up to 60 s before the
 *    next try; after GATE_FORGET_AFTER failures in a row the target is not
 *    pre-dialed again until a stream reaches it (a dial or a spare that works);
 *  - at most max_targets failing targets are remembered per worker (oldest
 *    dropped).
 * Backoff lives per worker (the worker whose tick asked for a spare dials it
 * and learns how it went): no locks. Requests are counted process-wide (the
 * streams to a target may come to any worker): gate_seen_t, a table of
 * atomics indexed by a seeded hash of the key, written at most twice per
 * target -- after that a request only reads it, so a hot target costs its
 * acquires a shared read, not a contended write. Two targets sharing a slot
 * merely count together (it can only pre-dial a target one request early). */
#ifndef REFILL_GATE_H
#define REFILL_GATE_H

#include <stdint.h>

#define GATE_FORGET_AFTER 6

typedef struct gate gate_t;
typedef struct gate_seen gate_seen_t;

/* Process-wide request counts; any thread. */
gate_seen_t *gate_seen_new(int slots);
void gate_seen_free(gate_seen_t *s);
/* A stream asked for key (a pool acquire). */
void gate_requested(gate_seen_t *s, const char *key);

/* Per worker. */
gate_t *gate_new(int max_targets);
void gate_free(gate_t *g);
/* A stream reached key (its dial connected, or it got a spare): failures forgotten. */
void gate_reached(gate_t *g, const char *key);
/* May a spare for key be dialed now? */
int gate_allows(gate_t *g, const gate_seen_t *s, const char *key, uint64_t now_ms);
/* How a refill dial for key ended. */
void gate_result(gate_t *g, const char *key, int ok, uint64_t now_ms);

#endif
