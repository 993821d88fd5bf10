/* server_stream.c -- a stream's state machine and its relay (server_stream.h). */
#include "server_stream.h"
#include "log.h"
#include "outbound.h"
#include "server_session.h"
#include "server_uot.h"
#include "uot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest destination header gathered when it is split over PSHs: a
 * SOCKS address (1 + 1 + 255 + 2) or a UoT request, with margin. */
#define STREAM_HDR_MAX 300

static loop_t *LOOP(sstream_t *st) { return st->s->w->loop; }

/* Reading a target: EPOLLRDHUP with EPOLLIN, always both or neither (a
 * level-triggered RDHUP left on while reads are blocked would spin). It says
 * the target's FIN is in: a short read then took the last bytes, and they go
 * to the client with the FIN in one TLS record. */
#define TGT_RD (EPOLLIN | EPOLLRDHUP)

/* The reference acks a stream as soon as its dial is done, in a TLS record of
 * its own: per short stream a second record, a second send(2) here and a
 * second wake-up of the client. Held until the target's first bytes (or its
 * close), the SYNACK shares their record. Bounded: a v2 client drops the whole
 * session when a stream has no SYNACK within 3 s of its SYN, so a quiet target
 * (a protocol where the client must speak again first, or an idle one) gets
 * its stream acked alone ACK_HOLD_MS after the SYN came in. Only a stream whose
 * client already sent bytes beyond the destination is held: that client did
 * not wait for the SYNACK to let its app speak (the reference does not; a
 * client that does would otherwise wait out the hold on every stream). */
#define ACK_HOLD_MS 500

static void ack_soon(sstream_t *st)
{
    uint64_t age = now_ms() - st->started;
    if (st->acked || st->s->peer_version < 2 || !st->data_in || age >= ACK_HOLD_MS) {
        stream_ack(st);
        return;
    }
    st->ack_later = 1;
    timer_set(LOOP(st), &st->timer, ACK_HOLD_MS - age);
}

static void stream_timer(loop_t *l, ltimer_t *t)
{
    sstream_t *st = t->ud;
    ssess_t *s = st->s;
    if (st->state == ST_RELAY) { stream_ack(st); return; }   /* the held SYNACK's time is up */
    if (st->state != ST_ADDR && st->state != ST_UOT_REQ) { outbound_stream_timer(st); return; }
    WSTAT_ADD(s->w, streams_no_destination, 1);
    if (!s->silent_streams++)
        log_warn("session %s: stream %u sent no destination within %d s; closed (further ones on "
                 "this session are counted, not logged)", s->peer, st->sid, s->w->srv->cfg->auth_timeout_ms / 1000);
    stream_close(st, 1, "no destination");
}

sstream_t *stream_new(ssess_t *s, uint32_t sid)
{
    sstream_t *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->sid = sid;
    st->s = s;
    st->tio.fd = -1;
    st->state = ST_ADDR;
    st->started = now_ms();
    timer_init(&st->timer, stream_timer, st);
    /* a stream that never names its destination would hold its slot forever */
    timer_set(s->w->loop, &st->timer, (uint64_t)s->w->srv->cfg->auth_timeout_ms);
    WSTAT_ADD(s->w, streams_open, 1);
    WSTAT_ADD(s->w, streams_total, 1);
    USTAT_ADD(s, streams_total, 1);
    return st;
}

static void stream_free(sstream_t *st)
{
    suot_free(st);
    bq_free(&st->tq);
    free(st->key);
    free(st->hdr);
    free(st);
}

static void free_cb(void *p) { stream_free(p); }

void stream_discard(sstream_t *st)
{
    if (!st) return;
    WSTAT_ADD(st->s->w, streams_open, -1);
    WSTAT_ADD(st->s->w, streams_total, -1);
    USTAT_ADD(st->s, streams_total, -1);
    stream_free(st);
}

void stream_unblock_all(ssess_t *s)
{
    for (sstream_t *st = s->blocked; st; st = st->bnext) {
        st->blocked = 0;
        if (st->state == ST_RELAY || st->state == ST_UDP)
            loop_mod(s->w->loop, &st->tio, st->tio.events | TGT_RD);
    }
    s->blocked = NULL;
}

void stream_block(sstream_t *st)
{
    ssess_t *s = st->s;
    loop_mod(LOOP(st), &st->tio, st->tio.events & ~TGT_RD);
    /* Already on the list: a hang-up or error of the target is reported while
     * EPOLLOUT is still wanted, and its target_read comes here again. Pushed
     * twice, the stream would point at itself and stream_unblock_all would
     * never end. */
    if (st->blocked) return;
    st->blocked = 1; st->bnext = s->blocked; s->blocked = st;
    s->c.notify_w = 1;  /* sess_cb's EPOLLOUT handler unblocks it */
    tconn_update(LOOP(st), &s->c);
}

void stream_close(sstream_t *st, int send_fin, const char *why)
{
    ssess_t *s = st->s;
    if (st->state == ST_DEAD) return;
    /* held for bytes that did not come: still owed, or the client's watchdog
     * would end the session */
    if (st->ack_later && s->state == SS_RUN) {
        stream_ack(st);
        if (st->state == ST_DEAD) return;   /* its write failed: the session closed, this stream too */
    }
    st->ack_later = 0;
    st->state = ST_DEAD;       /* first: a failing FIN write may close the session */
    WSTAT_ADD(s->w, streams_open, -1);
    sess_forget_stream(s, st);
    if (why) log_debug("stream %u of %s closed: %s", st->sid, s->peer, why);
    if (send_fin && s->state == SS_RUN) sess_ctl(s, CMD_FIN, st->sid, NULL, 0);
    if (st->tio.fd >= 0) {
        int fd = st->tio.fd;
        loop_del(LOOP(st), &st->tio);
        close(fd);
    }
    outbound_stream_end(st);
    bq_free(&st->tq);
    stream_queue_sync(st);
    if (st->blocked) {
        for (sstream_t **p = &s->blocked; *p; p = &(*p)->bnext)
            if (*p == st) { *p = st->bnext; break; }
    }
    int was_pauser = s->pauser == st;
    loop_defer_free(s->w->loop, st, free_cb);
    if (was_pauser) { s->pauser = NULL; sess_resume(s); }
    if (s->w->wk->draining && s->nstreams == 0 && s->state != SS_DEAD) sess_close(s, "draining");
}

/* msg with the stream's target (its key, or its name) cut out, for
 * --log-targets off: the reason stays, the destination does not. */
static const char *redact(const sstream_t *st, const char *msg, char *out, size_t cap)
{
    const char *names[2] = { st->key, st->dst.type == ADDR_DOMAIN ? st->dst.name : NULL };
    size_t o = 0;
    while (*msg && o + 1 < cap) {
        size_t skip = 0;
        for (int i = 0; i < 2 && !skip; i++)
            if (names[i] && *names[i] && strncmp(msg, names[i], strlen(names[i])) == 0) skip = strlen(names[i]);
        if (skip) {
            static const char mark[] = "<target>";
            for (const char *m = mark; *m && o + 1 < cap; m++) out[o++] = *m;
            msg += skip;
        } else {
            out[o++] = *msg++;
        }
    }
    out[o] = 0;
    return out;
}

void stream_fail(sstream_t *st, const char *msg)
{
    ssess_t *s = st->s;
    WSTAT_ADD(s->w, dial_failures, 1);
    if (!st->acked && s->state == SS_RUN) {
        sess_synack(s, st->sid, msg, strlen(msg));
        st->acked = 1;
    }
    if (s->w->srv->cfg->log_targets) {
        log_info("stream %u of %s to %s failed: %s", st->sid, s->peer, st->key ? st->key : "", msg);
    } else {
        char red[512];
        log_info("stream %u of %s failed: %s", st->sid, s->peer, redact(st, msg, red, sizeof red));
    }
    stream_close(st, 1, NULL);
}

void stream_ack(sstream_t *st)
{
    if (st->ack_later) {
        st->ack_later = 0;
        timer_cancel(LOOP(st), &st->timer);
    }
    if (st->acked) return;
    st->acked = 1;
    sess_synack(st->s, st->sid, NULL, 0);
}

void stream_queue_sync(sstream_t *st)
{
    ssess_t *s = st->s;
    if (st->tq.len == st->tq_acct) return;
    int64_t d = (int64_t)st->tq.len - (int64_t)st->tq_acct;
    st->tq_acct = st->tq.len;
    s->queued += (size_t)d;
    s->w->queued += (size_t)d;
    WSTAT_ADD(s->w, queued_to_targets, (uint64_t)d);
}

/* The stream's queue toward its target has grown: over the stream's own cap,
 * the session's budget or this worker's share of the process's, the session
 * stops reading, and this stream (the one that took the last bytes) is the one
 * whose draining resumes it, or whose stall resets it. */
void stream_check_cap(sstream_t *st)
{
    ssess_t *s = st->s;
    sworker_t *w = s->w;
    const server_config_t *cfg = w->srv->cfg;
    stream_queue_sync(st);
    if (s->c.read_paused) return;
    const char *budget = NULL;
    if (st->tq.len > cfg->stream_buf) budget = "";
    else if (s->queued > cfg->session_buf) budget = "session (--max-session-buffer-kb)";
    else if (w->queued > cfg->process_buf / (size_t)w->srv->nworkers) budget = "process (--max-buffer-mb)";
    if (!budget) return;
    s->c.read_paused = 1;
    s->pauser = st;
    tconn_update(LOOP(st), &s->c);
    timer_set(LOOP(st), &s->timer, (uint64_t)cfg->stall_timeout_ms);
    if (*budget) {
        uint64_t held;
        WSTAT_ADD(w, budget_pauses, 1);
        if (ratelog_allow(&w->budget_log, loop_now(w->loop), 10000, &held))
            log_warn("session %s: %s buffer budget reached (%zu bytes held for its targets, %zu for the "
                     "worker's); reads paused until they drain (%llu more such pauses since the last line)",
                     s->peer, budget, s->queued, w->queued, (unsigned long long)held);
    }
}

static int target_write(sstream_t *st, const uint8_t *p, size_t n)
{
    if (st->tq.len == 0 && n) {
        ssize_t w = send(st->tio.fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            w = 0;
        }
        p += w; n -= (size_t)w;
    }
    if (n) {
        if (bq_append(&st->tq, p, n) < 0) return -1;
        loop_mod(LOOP(st), &st->tio, st->tio.events | EPOLLOUT);
        stream_check_cap(st);
    }
    return 0;
}

static void target_flush(sstream_t *st);

void stream_relay_start(sstream_t *st, int fd)
{
    ssess_t *s = st->s;
    timer_cancel(LOOP(st), &st->timer);
    st->state = ST_RELAY;
    uint32_t ev = s->c.out.len > SESS_OUT_HIGH || st->fin_in ? 0 : TGT_RD;
    if (st->tio.fd == fd) {
        loop_mod(LOOP(st), &st->tio, ev);
    } else if (loop_add(LOOP(st), &st->tio, fd, ev, stream_target_cb, st) < 0) {
        close(fd);
        st->tio.fd = -1;
        stream_fail(st, "cannot register target socket");
        return;
    }
    if (!ev && !st->fin_in) {
        st->blocked = 1; st->bnext = s->blocked; s->blocked = st;
        s->c.notify_w = 1;
    }
    ack_soon(st);
    if (st->state == ST_DEAD) return;   /* the ack's write failed and closed the session */
    if (st->tq.len) {
        /* Bytes that came with the destination or during the dial: the socket
         * is connected, so they go now (no EPOLLOUT round); EPOLLOUT only for
         * what it does not take. target_flush ends the stream if the client's
         * FIN came too. */
        target_flush(st);
        if (st->state == ST_RELAY && st->tq.len) loop_mod(LOOP(st), &st->tio, st->tio.events | EPOLLOUT);
        return;
    }
    if (st->fin_in) stream_close(st, 0, "client closed");
}

void stream_fin(sstream_t *st)
{
    /* Bytes still queued toward the target go out first; whatever the target
     * says from now on is not wanted. */
    if (st->tq.len && st->state >= ST_RESOLVING && st->state <= ST_RELAY) {
        st->fin_in = 1;
        if (st->state == ST_RELAY) loop_mod(LOOP(st), &st->tio, EPOLLOUT);
    } else {
        stream_close(st, 0, "client closed");
    }
}

/* ---- the destination header, then data ---- */

/* The UoT magic destination was parsed: what follows it is the UoT request,
 * parsed again by stream_data in state UOT_REQ. */
static void uot_request_follows(sstream_t *st)
{
    st->state = ST_UOT_REQ;
    size_t m = st->tq.len;
    if (!m) return;
    uint8_t tmp[STREAM_HDR_MAX];
    size_t k = m < STREAM_HDR_MAX ? m : STREAM_HDR_MAX;
    memcpy(tmp, bq_head(&st->tq), k);
    bq_t rest = st->tq;
    memset(&st->tq, 0, sizeof st->tq);
    stream_queue_sync(st);  /* the bytes come back through stream_data, counted again there */
    bq_consume(&rest, k);
    stream_data(st, tmp, k);
    if (st->state != ST_DEAD && rest.len) stream_data(st, bq_head(&rest), rest.len);
    bq_free(&rest);
}

/* ADDR and UOT_REQ: the address nearly always comes whole in the first PSH and
 * is parsed in place; only one split over PSHs is gathered, in a buffer that
 * lives until it is whole (no per-stream header buffer otherwise). */
static void header_data(sstream_t *st, const uint8_t *p, size_t n)
{
    const uint8_t *buf = p;
    size_t blen = n, take = n;
    if (st->hdr) {
        take = n < STREAM_HDR_MAX - st->hlen ? n : STREAM_HDR_MAX - st->hlen;
        memcpy(st->hdr + st->hlen, p, take);
        st->hlen += (uint16_t)take;
        buf = st->hdr;
        blen = st->hlen;
    }
    int used;
    if (st->state == ST_ADDR) {
        used = addr_parse(buf, blen, ADDR_FORM_SOCKS, &st->dst);
    } else {
        int conn = 0;
        used = uot_parse_request(buf, blen, &conn, &st->dst);
        st->uot_connect = conn != 0;
    }
    if (used == 0 && blen < STREAM_HDR_MAX) {
        if (!st->hdr) {   /* incomplete in place: n < STREAM_HDR_MAX, start gathering */
            if (!(st->hdr = malloc(STREAM_HDR_MAX))) { stream_close(st, 1, "out of memory"); return; }
            memcpy(st->hdr, p, n);
            st->hlen = (uint16_t)n;
        }
        return;
    }
    if (used <= 0) { stream_close(st, 1, "malformed destination address"); return; }
    /* bytes after the address: the rest of buf, then what p had beyond it */
    if (bq_append(&st->tq, buf + used, blen - (size_t)used) < 0 ||
        bq_append(&st->tq, p + take, n - take) < 0) {
        stream_close(st, 1, "out of memory");
        return;
    }
    free(st->hdr);
    st->hdr = NULL;
    st->hlen = 0;
    stream_queue_sync(st);
    timer_cancel(LOOP(st), &st->timer);
    if (st->tq.len) st->data_in = 1;
    if (st->state == ST_ADDR && uot_is_magic(&st->dst)) { uot_request_follows(st); return; }
    WSTAT_ADD(st->s->w, bytes_client_to_target, st->tq.len);
    USTAT_ADD(st->s, bytes_client_to_target, st->tq.len);
    if (st->state == ST_UOT_REQ) suot_start(st);
    else outbound_open(st);
}

void stream_data(sstream_t *st, const uint8_t *p, size_t n)
{
    /* payload only: the destination address (and UoT header) is not counted */
    if (st->state != ST_ADDR && st->state != ST_UOT_REQ) {
        if (n) st->data_in = 1;
        WSTAT_ADD(st->s->w, bytes_client_to_target, n);
        USTAT_ADD(st->s, bytes_client_to_target, n);
    }
    switch (st->state) {
    case ST_ADDR:
    case ST_UOT_REQ:
        header_data(st, p, n);
        return;
    case ST_RESOLVING: case ST_WAIT_POOL: case ST_CONNECTING:
        if (bq_append(&st->tq, p, n) < 0) { stream_close(st, 1, "out of memory"); return; }
        stream_check_cap(st);
        if (st->state == ST_CONNECTING) outbound_stream_data(st);
        return;
    case ST_RELAY:
        if (target_write(st, p, n) < 0) stream_close(st, 1, "target write failed");
        return;
    case ST_UDP:
        if (bq_append(&st->tq, p, n) < 0) { stream_close(st, 1, "out of memory"); return; }
        suot_feed(st);
        return;
    }
}

/* ---- target socket events ---- */

static void target_read(sstream_t *st, uint32_t ev)
{
    ssess_t *s = st->s;
    uint8_t *buf = loop_scratch(LOOP(st));
    for (int i = 0; i < 4; i++) {
        if (s->c.out.len > SESS_OUT_HIGH) { stream_block(st); return; }
        ssize_t n = recv(st->tio.fd, buf, FRAME_MAX_DATA, 0);
        if (n > 0) {
            if (st->ack_later) stream_ack(st);   /* same TLS record as the bytes */
            /* framed in place: the scratch buffer has headroom for the header */
            frame_put_hdr(buf - FRAME_HDR, CMD_PSH, st->sid, (uint16_t)n);
            WSTAT_ADD(s->w, bytes_target_to_client, (uint64_t)n);
            USTAT_ADD(s, bytes_target_to_client, (uint64_t)n);
            if (sess_send(s, buf - FRAME_HDR, (size_t)n + FRAME_HDR) < 0) return;
            if (n < FRAME_MAX_DATA) {
                if (ev & EPOLLRDHUP) stream_close(st, 1, "target closed");
                return;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        stream_close(st, 1, n == 0 ? "target closed" : strerror(errno));
        return;
    }
}

static void target_flush(sstream_t *st)
{
    ssess_t *s = st->s;
    while (st->tq.len) {
        ssize_t w = send(st->tio.fd, bq_head(&st->tq), st->tq.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            stream_close(st, 1, "target write failed");
            return;
        }
        bq_consume(&st->tq, (size_t)w);
    }
    stream_queue_sync(st);
    if (!st->tq.len) {
        loop_mod(LOOP(st), &st->tio, st->tio.events & ~EPOLLOUT);
        if (st->fin_in) { stream_close(st, 0, "client closed"); return; }
    }
    if (s->pauser == st && st->tq.len <= s->w->srv->cfg->stream_buf / 2) {
        s->pauser = NULL;
        sess_resume(s);
    }
}

void stream_target_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    sstream_t *st = h->ud;
    switch (st->state) {
    case ST_CONNECTING:
        outbound_connected(st);
        return;
    case ST_UDP:
        if (ev & EPOLLIN) suot_read(st);
        return;
    case ST_RELAY:
        if (ev & (EPOLLOUT | EPOLLERR)) target_flush(st);
        if (st->state == ST_RELAY && (ev & (TGT_RD | EPOLLHUP | EPOLLERR))) target_read(st, ev);
        return;
    default:
        return;
    }
}
