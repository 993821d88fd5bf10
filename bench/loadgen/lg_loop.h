/* lg_loop.h -- the run: one epoll loop per process that starts streams on
 * schedule, handles socket events, expires streams past --timeout and prints
 * progress, then drains.
 *
 * Open loop (--rate R): arrivals are Poisson; stream k is due at an absolute
 * intended time t_k = t_{k-1} + Exp(R). Every latency is measured from t_k, not
 * from when the stream actually started, so a slow proxy (or a lagging load
 * generator) shows up as latency and never as a lower offered rate (no
 * coordinated omission). If more than --concurrency-cap streams are in flight
 * when one is due, that arrival is dropped and counted (error kind "drop").
 *
 * Closed loop (--closed-loop N): N workers, each starts its next stream as soon
 * as the previous one ends; latency is measured from that start. */
#ifndef LG_LOOP_H
#define LG_LOOP_H

/* Runs the warmup, the measured window and the drain (to --drain after the
 * last arrival, or until nothing is in flight); what is still in flight then
 * has timed out. Needs lg_st's streams, epoll fd and clock marks set up. */
void lg_loop_run(void);

#endif
