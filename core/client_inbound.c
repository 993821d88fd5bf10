/* client_inbound.c -- the proxy handshake on a new local connection (see
 * client_inbound.h): reads what the app says, answers it, and hands the
 * destination to cc_attach. */
#include "client_inbound.h"
#include "client_conn.h"
#include "client_udp.h"
#include "inbound_parse.h"

#include <errno.h>
#include <stdlib.h>

#define HS_MAX 16384

/* Proxy handshake on the local connection; returns when it needs more bytes. */
void ci_handshake(cconn_t *cc)
{
    uint8_t *buf = loop_scratch(cc->w->loop);
    ssize_t n = recv(cc->lio.fd, buf, HS_MAX, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) { cc_close(cc, "closed during proxy handshake"); return; }
    if (n < 0) return;
    if (bq_append(&cc->in, buf, (size_t)n) < 0 || cc->in.len > HS_MAX) { cc_close(cc, "handshake too long"); return; }
    for (;;) {
        const uint8_t *b = bq_head(&cc->in);
        size_t len = cc->in.len, used = 0;
        uint8_t rep[64];
        if (!cc->proto) {
            cc->proto = inb_detect(b[0]);
            if (cc->proto == INB_UNKNOWN) { cc_close(cc, "unknown proxy protocol"); return; }
        }
        int r;
        if (cc->proto == INB_SOCKS5 + 100) { /* after greeting */
            int cmd;
            r = socks5_parse_request(b, len, &used, &cmd, &cc->dst);
            if (r == INB_NEED_MORE) return;
            if (r == INB_ERROR || (cmd != SOCKS5_CONNECT && cmd != SOCKS5_UDP_ASSOCIATE)) {
                size_t rl = socks5_reply(rep, r == INB_ERROR ? 1 : 7, NULL);
                send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
                cc_close(cc, "bad SOCKS5 request");
                return;
            }
            bq_consume(&cc->in, used);
            if (cmd == SOCKS5_UDP_ASSOCIATE) {
                if (cu_assoc(cc) < 0) {
                    size_t rl = socks5_reply(rep, 1, NULL);
                    send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
                    cc_close(cc, "UDP ASSOCIATE failed");
                }
                return;
            }
            size_t rl = socks5_reply(rep, 0, NULL);
            send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
        } else if (cc->proto == INB_SOCKS5) {
            int noauth;
            r = socks5_parse_greeting(b, len, &used, &noauth);
            if (r == INB_NEED_MORE) return;
            if (r == INB_ERROR || !noauth) {
                send(cc->lio.fd, "\x05\xff", 2, MSG_NOSIGNAL);
                cc_close(cc, "SOCKS5 greeting without no-auth method");
                return;
            }
            send(cc->lio.fd, "\x05\x00", 2, MSG_NOSIGNAL);
            bq_consume(&cc->in, used);
            cc->proto = INB_SOCKS5 + 100;
            if (!cc->in.len) return;
            continue;
        } else if (cc->proto == INB_SOCKS4) {
            r = socks4_parse_request(b, len, &used, &cc->dst);
            if (r == INB_NEED_MORE) return;
            size_t rl = socks4_reply(rep, r == INB_DONE);
            send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
            if (r == INB_ERROR) { cc_close(cc, "bad SOCKS4 request"); return; }
            bq_consume(&cc->in, used);
        } else {
            int is_connect;
            uint8_t *out = malloc(INB_HTTP_MAX_HEAD);
            size_t olen = 0;
            if (!out) { cc_close(cc, "out of memory"); return; }
            r = http_parse_request(b, len, &used, &is_connect, &cc->dst, out, &olen);
            if (r == INB_NEED_MORE) { free(out); return; }
            if (r == INB_ERROR) {
                static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
                send(cc->lio.fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
                free(out);
                cc_close(cc, "bad HTTP proxy request");
                return;
            }
            if (is_connect) {
                static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
                send(cc->lio.fd, ok, sizeof ok - 1, MSG_NOSIGNAL);
            } else if (bq_append(&cc->early, out, olen) < 0) {
                free(out);
                cc_close(cc, "out of memory");
                return;
            }
            free(out);
            bq_consume(&cc->in, used);
        }
        /* destination known; leftover bytes are stream data */
        if (cc->in.len && bq_append(&cc->early, bq_head(&cc->in), cc->in.len) < 0) {
            cc_close(cc, "out of memory");
            return;
        }
        bq_free(&cc->in);
        cc_attach(cc);
        return;
    }
}

