/* fake_tls.c -- the TLS layer of the stateful fuzz targets: tconn_handshake
 * and tconn_read, --wrap'ed (the Makefile's FUZZ_WRAP_TLS); the rest of
 * core/tconn.c is the real one.
 *
 * The handshake succeeds at once, but c->hs_done stays 0: tconn then keeps
 * every write in c->out (what it does before a handshake) and never hands
 * OpenSSL a byte, so c->out is exactly the plaintext the peer would get, for
 * the harness to read. Reads find nothing decrypted: the harness gives the
 * plaintext to the session itself (sess_feed, cs_feed), at the points and in
 * the pieces its input says. Once the harness closed its end of the
 * connection (fake_net.h), a read reports the close, as SSL_read would; a
 * connect that failed (SO_ERROR set) fails the handshake. */
#include "fake_net.h"
#include "tconn.h"

#include <stdio.h>
#include <string.h>

int __wrap_tconn_handshake(loop_t *l, tconn_t *c, char *err, size_t errcap)
{
    fnet_sock_t *s = fnet_find(c->io.fd);
    if (s && s->so_error) {  /* a connect that failed (FNET_DIAL_REFUSED) */
        snprintf(err, errcap, "%s", strerror(s->so_error));
        s->so_error = 0;
        c->failed = 1;
        return -1;
    }
    c->hs_wants_w = 0;
    tconn_update(l, c);
    return 1;
}

int __wrap_tconn_read(loop_t *l, tconn_t *c, void *buf, size_t cap, char *err, size_t errcap)
{
    fnet_sock_t *s = fnet_find(c->io.fd);
    if (s && s->peer < 0) {
        snprintf(err, errcap, "connection closed");
        return -1;
    }
    return 0;
}
