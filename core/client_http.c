/* client_http.c -- plain-HTTP proxying: one request at a time, each to its own
 * origin (see client_http.h). Request heads are parsed and rewritten by
 * inbound_parse.c, bodies and responses framed by http_msg.c; the bytes of
 * bodies and responses pass unchanged. */
#include "client_http.h"
#include "client_conn.h"
#include "http_msg.h"
#include "inbound_parse.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CH_READ_MAX (16384 - FRAME_HDR)
#define CH_READ_AHEAD 16384    /* bytes read past a request while its response is awaited */

enum ch_phase { CH_HEAD, CH_BODY };   /* next from the app: a request head / a request body */

struct chttp {
    uint8_t phase;             /* enum ch_phase */
    uint8_t waiting;           /* a request went out, its response is not complete */
    uint8_t close_after;       /* the exchange cannot be framed: close after it */
    unsigned char resume_queued;
    hm_body_t req;             /* body of the request going out */
    hm_resp_t resp;            /* the response coming back */
};

static int ch_same_origin(const addr_t *a, const addr_t *b)
{
    if (a->type != b->type || a->port != b->port) return 0;
    if (a->type == ADDR_DOMAIN)
        return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
    return memcmp(a->ip, b->ip, a->type == ADDR_IPV4 ? 4 : 16) == 0;
}

static int ch_stream_open(const cconn_t *cc)
{
    return cc->sess && cc->sess->state == CS_RUN && cc->sess->cur == cc;
}

static void ch_reading(cconn_t *cc, int on)
{
    uint32_t ev = on ? cc->lio.events | EPOLLIN : cc->lio.events & ~EPOLLIN;
    loop_mod(cc->w->loop, &cc->lio, ev);
}

/* A 400 after whatever the app is still owed, then the close. */
static void ch_refuse(cconn_t *cc, const char *why)
{
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    cc_local_send(cc, (const uint8_t *)bad, sizeof bad - 1);
    cc_finish(cc, why);
}

/* Ends the stream in use and opens one to dst that starts with head. */
static int ch_switch(cconn_t *cc, const addr_t *dst, const uint8_t *head, size_t hlen)
{
    if (cc->sess) {
        char hp[300];
        addr_format(dst, hp, sizeof hp);
        log_debug("plain HTTP request to another origin (%s): new stream", hp);
    }
    cc_end_stream(cc);
    cc->dst = *dst;
    if (hlen && bq_append(&cc->early, head, hlen) < 0) { cc_close(cc, "out of memory"); return -1; }
    cc_attach(cc);
    return cc->state == CC_DEAD ? -1 : 0;
}

/* From now on the connection is a tunnel: bytes pass as they are, what was
 * read ahead first. Returns -1: no more framing. */
static int ch_become_tunnel(cconn_t *cc)
{
    cc->http_fwd = 0;
    if (cc->in.len && cc_stream_send(cc, bq_head(&cc->in), cc->in.len) < 0) return -1;
    bq_free(&cc->in);
    return -1;
}

/* The request head at cc->in's start goes to its origin. 1 done, 0 needs more
 * bytes, -1 stop (cc closed or finishing, or now a tunnel). */
static int ch_next_request(cconn_t *cc)
{
    struct chttp *h = cc->http;
    size_t used = 0, olen = 0;
    int is_connect;
    addr_t dst;
    uint8_t *out = malloc(INB_HTTP_MAX_HEAD);
    if (!out) { cc_close(cc, "out of memory"); return -1; }
    int r = http_parse_request(bq_head(&cc->in), cc->in.len, &used, &is_connect, &dst, out, &olen);
    if (r != INB_DONE) {
        free(out);
        if (r == INB_NEED_MORE) return 0;
        ch_refuse(cc, "bad HTTP proxy request");
        return -1;
    }
    if (is_connect) {
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        free(out);
        bq_consume(&cc->in, used);
        if (ch_switch(cc, &dst, NULL, 0) < 0) return -1;
        if (cc_local_send(cc, (const uint8_t *)ok, sizeof ok - 1) < 0) { cc_close(cc, "local write failed"); return -1; }
        return ch_become_tunnel(cc);
    }
    hm_head_t hd;
    hm_head_init(&hd, 0);
    hm_head_feed(&hd, bq_head(&cc->in), used);
    int fr = hm_request_body(&hd, &h->req);
    if (fr == HM_BAD) {
        log_debug("bad HTTP proxy request: %s", hd.why ? hd.why : "malformed head");
        free(out);
        ch_refuse(cc, "bad HTTP proxy request");
        return -1;
    }
    /* A body whose end cannot be known: everything after the head is taken as
     * this request's, and the connection closes after the response. */
    h->close_after = fr == HM_UNFRAMED;
    h->waiting = 1;
    hm_resp_init(&h->resp, used > 5 && memcmp(bq_head(&cc->in), "HEAD ", 5) == 0);
    h->phase = h->req.done ? CH_HEAD : CH_BODY;
    bq_consume(&cc->in, used);
    int rc = cc->sess && !cc->remote_fin && ch_same_origin(&cc->dst, &dst) ? cc_stream_send(cc, out, olen)
                                                                          : ch_switch(cc, &dst, out, olen);
    free(out);
    return rc < 0 ? -1 : 1;
}

/* Frames and forwards what cc->in holds, as far as it can now. */
static void ch_process(cconn_t *cc)
{
    struct chttp *h = cc->http;
    while (cc->state != CC_DEAD && cc->http_fwd && !cc->remote_fin && cc->in.len) {
        if (h->phase == CH_BODY) {
            size_t k = hm_body_feed(&h->req, bq_head(&cc->in), cc->in.len);
            if (k && cc_stream_send(cc, bq_head(&cc->in), k) < 0) return;
            bq_consume(&cc->in, k);
            if (h->req.bad) { cc_finish(cc, "broken chunked body in an HTTP proxy request"); return; }
            if (h->req.done) h->phase = CH_HEAD;
            continue;
        }
        /* The next request waits until the response to this one is complete. */
        if (h->waiting || h->close_after) break;
        /* Empty lines before a request line are allowed (RFC 9112 §2.2). */
        const uint8_t *b = bq_head(&cc->in);
        size_t skip = 0;
        while (skip < cc->in.len && (b[skip] == '\r' || b[skip] == '\n')) skip++;
        bq_consume(&cc->in, skip);
        if (!cc->in.len || ch_next_request(cc) <= 0) break;
    }
    if (cc->state == CC_RELAY && !ch_stream_open(cc) && cc->early.len > LOCAL_BUF_MAX) {
        cc->local_paused = 1;   /* cs_open_stream resumes reading */
        ch_reading(cc, 0);
    }
}

/* After a response is complete (end of this loop iteration, outside the
 * session's frame handling): the next request, or tunnel bytes read ahead. */
static void ch_resume(loop_t *l, void *arg)
{
    cconn_t *cc = arg;
    if (cc->state != CC_RELAY || cc->remote_fin) return;
    if (cc->http_fwd) ch_process(cc);
    else ch_become_tunnel(cc);
    if (cc->state == CC_RELAY && !cc->local_paused) ch_reading(cc, 1);
}

int ch_begin(cconn_t *cc)
{
    struct chttp *h = calloc(1, sizeof *h);
    if (!h) return -1;
    h->phase = CH_HEAD;
    cc->http = h;
    cc->http_fwd = 1;
    ch_process(cc);
    return 0;
}

void ch_local_read(cconn_t *cc)
{
    uint8_t *buf = loop_scratch(cc->w->loop);
    for (int i = 0; i < 4 && cc->state == CC_RELAY && cc->http_fwd; i++) {
        if (cc_pause_if_busy(cc)) return;
        if (cc->in.len >= CH_READ_AHEAD) { ch_reading(cc, 0); return; }   /* ch_resume turns it back on */
        ssize_t n = recv(cc->lio.fd, buf, CH_READ_MAX, 0);
        if (n > 0) {
            if (bq_append(&cc->in, buf, (size_t)n) < 0) { cc_close(cc, "out of memory"); return; }
            ch_process(cc);
            if (n < CH_READ_MAX) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        cc_close(cc, n == 0 ? "local closed" : strerror(errno));
        return;
    }
}

/* Bytes from the origin that answer nothing (an idle origin's 408, or a
 * broken one): dropped, never shown to the app as the answer to its next
 * request; the stream ends. A request body still going out would have nowhere
 * to go: then the connection ends too. */
static void ch_unasked(cconn_t *cc, size_t n, const char *when)
{
    char hp[300];
    addr_format(&cc->dst, hp, sizeof hp);
    log_debug("plain HTTP: %zu byte(s) from %s %s: dropped, stream ended", n, hp, when);
    if (cc->http->phase == CH_BODY) cc_finish(cc, "origin answered past its response during a request body");
    else cc_end_stream(cc);
}

void ch_from_origin(cconn_t *cc, const uint8_t *p, size_t n)
{
    struct chttp *h = cc->http;
    char hp[300];
    if (!h->waiting) {
        ch_unasked(cc, n, "with no request outstanding");
        return;
    }
    size_t k = hm_resp_feed(&h->resp, p, n);
    if (h->resp.phase == HM_RESP_BAD) {
        char esc[4 * HM_KEEP + 1];
        addr_format(&cc->dst, hp, sizeof hp);
        log_warn("plain HTTP: cannot frame the response from %s (%s: \"%s\"); passing it on, then closing",
                 hp, h->resp.head.why, log_escape(h->resp.head.line, h->resp.head.line_len, esc, sizeof esc));
        /* Everything until the origin closes is this response; no other
         * request goes on this connection. */
        h->resp.phase = HM_RESP_UNTIL_CLOSE;
        h->close_after = 1;
    }
    int phase = h->resp.phase;
    if (phase == HM_RESP_UNTIL_CLOSE || phase == HM_RESP_UPGRADED) k = n;   /* the rest is the app's too */
    if (k && cc_local_send(cc, p, k) < 0) { cc_close(cc, "local write failed"); return; }
    if (phase != HM_RESP_DONE && phase != HM_RESP_UPGRADED) return;
    h->waiting = 0;
    if (phase == HM_RESP_UPGRADED) {
        /* Now, not at the end of the iteration: a local read later in this
         * batch must find the bytes read ahead already sent. */
        ch_become_tunnel(cc);
        if (cc->state == CC_RELAY && !cc->local_paused) ch_reading(cc, 1);
        return;
    }
    if (h->close_after) {
        cc_finish(cc, "plain HTTP request without a known end: closed after its response");
        return;
    } else if (k < n) {
        ch_unasked(cc, n - k, "past the response");
        if (cc->state != CC_RELAY || cc->remote_fin) return;
    }
    loop_at_end(cc->w->loop, ch_resume, cc, &h->resume_queued);
}
