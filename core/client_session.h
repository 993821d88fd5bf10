/* client_session.h -- AnyTLS sessions from anytls-client to the server (cs_*):
 * TLS connect, auth, the padded writer, frames from the server, and the idle
 * stack. A session carries one stream (one cconn) at a time; when it ends and
 * the session is healthy, the session goes back on its worker's idle stack,
 * newest on top. */
#ifndef CLIENT_SESSION_H
#define CLIENT_SESSION_H

#include "client_types.h"

/* A new session (connect started), or NULL with errno set: EMFILE/ENFILE
 * (out of fds, the caller may retry; not logged here) or another failure
 * (logged). */
csess_t *cs_new(cworker_t *w);
/* Closes s and the stream on it (why: debug log line, NULL for none). */
void cs_close(csess_t *s, const char *why);
/* The newest idle session of w, taken off the idle stack; NULL if none. */
csess_t *cs_idle_pop(cworker_t *w);
/* Opens cc's stream on s (SYN + destination + cc->early). */
void cs_open_stream(csess_t *s, cconn_t *cc);
/* The stream on s is over: the session goes back to the idle stack. */
void cs_stream_done(csess_t *s);
/* One logical write (one packet for the padding scheme); -1 if s was closed. */
int cs_write(csess_t *s, const uint8_t *p, size_t n);
/* A control frame; -1 if s was closed. */
int cs_ctl(csess_t *s, uint8_t cmd, uint32_t sid, const void *d, size_t n);
/* Reads and handles what the server sent (after the local side drained). */
void cs_read(csess_t *s);
/* The session's plaintext path: n bytes the server sent, as TLS decrypted
 * them (one read): frames. cs_read feeds it each read; tests and
 * fuzz/fuzz_client_session.c feed it directly, without TLS. Only in state
 * RUN; 0, or -1 when the session is (or was already) closed. */
int cs_feed(csess_t *s, const uint8_t *p, size_t n);

#endif
