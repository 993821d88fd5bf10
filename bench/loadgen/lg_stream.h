/* lg_stream.h -- the stream table: cfg.cap stream slots, a free list, and the
 * in-flight list in start order (so the oldest is checked for its timeout
 * first). A stream ends here exactly once, ok or failed with an error kind;
 * that is where it is counted and its latencies recorded. */
#ifndef LG_STREAM_H
#define LG_STREAM_H

#include <stddef.h>
#include <stdint.h>

void lg_stream_init(void);
/* An arrival intended at t_int, starting at t: counted, then a slot with its
 * target drawn (ST_CONNECTING, no socket yet), or -1 when the cap is reached
 * (counted as a drop). */
int32_t lg_stream_new(uint64_t t_int, uint64_t t);
void lg_stream_ok(int32_t i, uint64_t t);
void lg_stream_fail(int32_t i, int kind);
/* Fails every stream started lim_ns or more before t (E_TIMEOUT); lim_ns 0:
 * every stream in flight. */
void lg_stream_expire(uint64_t t, uint64_t lim_ns);
/* The request line, "<response-size>" padded with spaces to --request-size,
 * then "\n"; returns its length. */
size_t lg_stream_put_request(uint8_t *p);
/* The value a failed, timed-out or dropped measured arrival is recorded at in
 * the failure-inclusive histograms (H_OPEN_ALL, H_TOTAL_ALL): --timeout, ns. */
uint64_t lg_stream_tail_ns(void);

#endif
