/* client_inbound.c -- the proxy handshake on a new local connection (see
 * client_inbound.h). The protocols are a table: each says whether a first byte
 * is its own and steps through its messages; where a handshake is, is a named
 * state in cc->hs. Parsing is inbound_parse.c; this file answers and decides. */
#include "client_inbound.h"
#include "client_conn.h"
#include "client_http.h"
#include "client_udp.h"
#include "inbound_parse.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>

#define HS_MAX 16384

/* Where a handshake is: the message awaited next. */
enum ci_state {
    CI_DETECT = 0,          /* nothing read yet: the first byte picks the protocol */
    CI_SOCKS5_GREETING,     /* VER NMETHODS METHODS */
    CI_SOCKS5_REQUEST,      /* VER CMD RSV ATYP ADDR PORT */
    CI_SOCKS4_REQUEST,      /* VN CD DSTPORT DSTIP USERID [HOST] */
    CI_HTTP_HEAD,           /* a request head up to the blank line */
};

/* What a step did. */
enum ci_step {
    CI_MORE,       /* needs more bytes */
    CI_NEXT,       /* consumed a message, the next one may follow */
    CI_READY,      /* destination known: attach; cc->in holds stream bytes */
    CI_HANDLED,    /* nothing more to do here (closed, or a UDP association) */
    CI_HTTP,       /* a plain HTTP request at cc->in's head: client_http.c takes over */
};

typedef struct ci_proto {
    const char *name;
    int (*detect)(uint8_t first);
    enum ci_state start;
    /* Handles the message at cc->in's head in state cc->hs. */
    enum ci_step (*step)(cconn_t *cc, const uint8_t *b, size_t len);
} ci_proto_t;

static void ci_send(cconn_t *cc, const void *p, size_t n)
{
    /* A handshake reply is a few bytes to a fresh socket: it fits its buffer. */
    send(cc->lio.fd, p, n, MSG_NOSIGNAL);
}

/* ---- SOCKS5 ---- */

static int ci_socks5_detect(uint8_t first) { return inb_detect(first) == INB_SOCKS5; }

static enum ci_step ci_socks5_greeting(cconn_t *cc, const uint8_t *b, size_t len)
{
    size_t used = 0;
    int noauth;
    int r = socks5_parse_greeting(b, len, &used, &noauth);
    if (r == INB_NEED_MORE) return CI_MORE;
    if (r == INB_ERROR || !noauth) {
        ci_send(cc, "\x05\xff", 2);
        cc_close(cc, "SOCKS5 greeting without no-auth method");
        return CI_HANDLED;
    }
    ci_send(cc, "\x05\x00", 2);
    bq_consume(&cc->in, used);
    cc->hs = CI_SOCKS5_REQUEST;
    return CI_NEXT;
}

static enum ci_step ci_socks5_request(cconn_t *cc, const uint8_t *b, size_t len)
{
    uint8_t rep[64];
    size_t used = 0;
    int cmd;
    int r = socks5_parse_request(b, len, &used, &cmd, &cc->dst);
    if (r == INB_NEED_MORE) return CI_MORE;
    if (r == INB_ERROR || (cmd != SOCKS5_CONNECT && cmd != SOCKS5_UDP_ASSOCIATE)) {
        /* 1: general failure (malformed), 7: command not supported */
        ci_send(cc, rep, socks5_reply(rep, r == INB_ERROR ? 1 : 7, NULL));
        cc_close(cc, "bad SOCKS5 request");
        return CI_HANDLED;
    }
    bq_consume(&cc->in, used);
    if (cmd == SOCKS5_UDP_ASSOCIATE) {
        if (cu_assoc(cc) < 0) {
            ci_send(cc, rep, socks5_reply(rep, 1, NULL));
            cc_close(cc, "UDP ASSOCIATE failed");
        }
        return CI_HANDLED;
    }
    ci_send(cc, rep, socks5_reply(rep, 0, NULL));
    return CI_READY;
}

static enum ci_step ci_socks5_step(cconn_t *cc, const uint8_t *b, size_t len)
{
    return cc->hs == CI_SOCKS5_GREETING ? ci_socks5_greeting(cc, b, len) : ci_socks5_request(cc, b, len);
}

/* ---- SOCKS4 / 4a ---- */

static int ci_socks4_detect(uint8_t first) { return inb_detect(first) == INB_SOCKS4; }

static enum ci_step ci_socks4_step(cconn_t *cc, const uint8_t *b, size_t len)
{
    uint8_t rep[8];
    size_t used = 0;
    int r = socks4_parse_request(b, len, &used, &cc->dst);
    if (r == INB_NEED_MORE) return CI_MORE;
    ci_send(cc, rep, socks4_reply(rep, r == INB_DONE));
    if (r == INB_ERROR) { cc_close(cc, "bad SOCKS4 request"); return CI_HANDLED; }
    bq_consume(&cc->in, used);
    return CI_READY;
}

/* ---- HTTP proxy: CONNECT, or a request with an absolute URI ---- */

static int ci_http_detect(uint8_t first) { return inb_detect(first) == INB_HTTP; }

static enum ci_step ci_http_step(cconn_t *cc, const uint8_t *b, size_t len)
{
    size_t used = 0, olen = 0;
    int is_connect;
    uint8_t *out = malloc(INB_HTTP_MAX_HEAD);
    if (!out) { cc_close(cc, "out of memory"); return CI_HANDLED; }
    int r = http_parse_request(b, len, &used, &is_connect, &cc->dst, out, &olen);
    if (r == INB_NEED_MORE) { free(out); return CI_MORE; }
    if (r == INB_ERROR) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
        ci_send(cc, bad, sizeof bad - 1);
        free(out);
        cc_close(cc, "bad HTTP proxy request");
        return CI_HANDLED;
    }
    free(out);
    if (!is_connect) return CI_HTTP;   /* it parses every request head itself */
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    ci_send(cc, ok, sizeof ok - 1);
    bq_consume(&cc->in, used);
    return CI_READY;
}

static const ci_proto_t ci_protos[] = {
    { "SOCKS5", ci_socks5_detect, CI_SOCKS5_GREETING, ci_socks5_step },
    { "SOCKS4", ci_socks4_detect, CI_SOCKS4_REQUEST, ci_socks4_step },
    { "HTTP", ci_http_detect, CI_HTTP_HEAD, ci_http_step },
};

static const ci_proto_t *ci_proto_of(uint8_t hs)
{
    switch ((enum ci_state)hs) {
    case CI_SOCKS5_GREETING:
    case CI_SOCKS5_REQUEST: return &ci_protos[0];
    case CI_SOCKS4_REQUEST: return &ci_protos[1];
    case CI_HTTP_HEAD: return &ci_protos[2];
    case CI_DETECT: break;
    }
    return NULL;
}

/* The first byte picks the protocol; 0 if none claims it. */
static int ci_detect(cconn_t *cc, uint8_t first)
{
    for (size_t i = 0; i < sizeof ci_protos / sizeof ci_protos[0]; i++) {
        if (ci_protos[i].detect(first)) {
            log_debug("local connection speaks %s", ci_protos[i].name);
            cc->hs = ci_protos[i].start;
            return 1;
        }
    }
    return 0;
}

void ci_handshake(cconn_t *cc)
{
    uint8_t *buf = loop_scratch(cc->w->loop);
    ssize_t n = recv(cc->lio.fd, buf, HS_MAX, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) { cc_close(cc, "closed during proxy handshake"); return; }
    if (n < 0) return;
    if (bq_append(&cc->in, buf, (size_t)n) < 0 || cc->in.len > HS_MAX) { cc_close(cc, "handshake too long"); return; }
    while (cc->in.len) {
        if (cc->hs == CI_DETECT && !ci_detect(cc, bq_head(&cc->in)[0])) {
            cc_close(cc, "unknown proxy protocol");
            return;
        }
        switch (ci_proto_of(cc->hs)->step(cc, bq_head(&cc->in), cc->in.len)) {
        case CI_MORE:
        case CI_HANDLED:
            return;
        case CI_NEXT:
            continue;
        case CI_HTTP:
            if (ch_begin(cc) < 0) cc_close(cc, "out of memory");
            return;
        case CI_READY:
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
}
