/* server_session.h -- one AnyTLS session on the server: the TLS connection a
 * client opened, its authentication, the frames it sends and the table of its
 * streams.
 *
 * What it promises:
 *  - A session authenticates within --auth-timeout-secs or is closed (counted
 *    in auth_failures); a wrong password closes it at once.
 *  - Frames are decoded in order; SYN opens a stream (at most
 *    --max-streams-per-session; refusals are answered and logged once per
 *    session), PSH and FIN go to the stream, Settings gets the padding scheme
 *    when the client's md5 differs and ServerSettings when it says v >= 2.
 *  - Output back-pressure: while one stream's queue toward its target is full,
 *    the session stops reading; a stream that holds it so for
 *    --stall-timeout is reset with one log line.
 *  - sess_close closes every stream first, then the TLS connection; the
 *    session is freed after the loop iteration. */
#ifndef SERVER_SESSION_H
#define SERVER_SESSION_H

#include "server_types.h"

/* A connection accepted by worker w: start the TLS handshake and the auth timer. */
void sess_accept(sworker_t *w, int fd, const struct sockaddr_storage *peer);
void sess_close(ssess_t *s, const char *why);
/* The session's plaintext path: n bytes the client sent, as TLS decrypted
 * them (one read), from the first byte after the handshake: the auth block --
 * whole in the first read -- then frames. sess_read feeds it each read; tests
 * and fuzz/fuzz_server_session.c feed it directly, without TLS. Only in states
 * AUTH and RUN; 0, or -1 when the session is (or was already) closed. */
int sess_feed(ssess_t *s, const uint8_t *p, size_t n);
/* Queues bytes to the client; -1 (and the session closed) if that failed. */
int sess_send(ssess_t *s, const void *p, size_t n);
/* One control frame (SYNACK, FIN, ...) with its data. */
int sess_ctl(ssess_t *s, uint8_t cmd, uint32_t sid, const void *data, size_t n);
/* SYNACK for stream sid: empty (opened) or an error text. Only a client that
 * said v >= 2 gets one: a v1 client does not know the command and would read
 * its body as the next frame (the reference sends it to v >= 2 only). */
void sess_synack(ssess_t *s, uint32_t sid, const char *err, size_t n);
/* A stream leaves the table (stream_close). */
void sess_forget_stream(ssess_t *s, sstream_t *st);
/* Reads paused for back-pressure resume (and decrypted bytes waiting are read). */
void sess_resume(ssess_t *s);
/* Drain: close sessions that carry no stream (the rest close with their last stream). */
void sess_drain_all(sworker_t *w);
void sess_close_all(sworker_t *w, const char *why);

static inline loop_t *sess_loop(ssess_t *s) { return s->w->loop; }

#endif
