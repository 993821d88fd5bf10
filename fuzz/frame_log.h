/* frame_log.h -- the frame decoder's callback for the fuzz targets that run it
 * (fuzz_frame, fuzz_auth): checks the callback contract of frame.h and writes a
 * normal-form event log that does not depend on how the stream was split
 * (PSH pieces joined), plus a trivial whole-buffer reference decoder that writes
 * the same log. Log: 'P' hdr body... 'E' per PSH ('E' only once complete),
 * 'C' hdr body per other non-Waste frame, then 'S' (a callback stopped the
 * decoder) or 'Z' (all fed), then frame_dec_idle(). */
#ifndef FRAME_LOG_H
#define FRAME_LOG_H

#include "fuzz_util.h"
#include "frame.h"

typedef struct flog {
    fuzz_buf_t log;
    int stop_cmd;       /* cmd whose first (whole) frame makes the callback return 7 */
    int stopped;
    int in_psh;
    frame_hdr_t psh;
    uint32_t psh_got;
} flog_t;

static inline void log_hdr(fuzz_buf_t *b, uint8_t tag, const frame_hdr_t *h)
{
    uint8_t hdr[FRAME_HDR];
    frame_put_hdr(hdr, h->cmd, h->sid, h->len);
    fuzz_put8(b, tag);
    fuzz_put(b, hdr, sizeof(hdr));
}

static inline int frame_log_cb(void *arg, const frame_hdr_t *h, const uint8_t *data,
                               size_t n, int first, int last)
{
    flog_t *l = arg;

    FUZZ_CHECK(!l->stopped);
    FUZZ_CHECK(h->cmd != CMD_WASTE);
    FUZZ_CHECK(data != NULL);
    FUZZ_CHECK(first == 0 || first == 1);
    FUZZ_CHECK(last == 0 || last == 1);
    if (h->cmd == CMD_PSH) {
        if (first) {
            FUZZ_CHECK(!l->in_psh);
            l->in_psh = 1;
            l->psh = *h;
            l->psh_got = 0;
            log_hdr(&l->log, 'P', h);
        } else {
            FUZZ_CHECK(l->in_psh);
            FUZZ_CHECK(l->psh.sid == h->sid && l->psh.len == h->len);
        }
        FUZZ_CHECK(n <= (size_t)h->len - l->psh_got);
        FUZZ_CHECK(n > 0 || h->len == 0);
        fuzz_put(&l->log, data, n); /* reads every byte: ASan checks the pointer */
        l->psh_got += (uint32_t)n;
        FUZZ_CHECK(last == (l->psh_got == h->len));
        if (last) {
            l->in_psh = 0;
            fuzz_put8(&l->log, 'E');
            /* a PSH stops only once whole, so the log stays split-independent */
            if (l->stop_cmd == CMD_PSH) {
                l->stopped = 1;
                return 7;
            }
        }
        return 0;
    }
    FUZZ_CHECK(!l->in_psh);
    FUZZ_CHECK(first && last);
    FUZZ_CHECK(n == h->len);
    log_hdr(&l->log, 'C', h);
    fuzz_put(&l->log, data, n);
    if (h->cmd == l->stop_cmd) {
        l->stopped = 1;
        return 7;
    }
    return 0;
}

/* Reference: walk the whole buffer; the same log as frame_log_cb gives. */
static inline void frame_log_reference(const uint8_t *p, size_t n, int stop_cmd,
                                       fuzz_buf_t *out)
{
    size_t pos = 0;
    int idle = 1;

    while (pos < n) {
        if (n - pos < FRAME_HDR) {
            idle = 0;
            break;
        }
        frame_hdr_t h;
        frame_get_hdr(p + pos, &h);
        pos += FRAME_HDR;
        size_t avail = n - pos < h.len ? n - pos : h.len;
        if (h.cmd == CMD_PSH && (avail > 0 || h.len == 0)) {
            /* no callback until a body byte is there (or the PSH is empty) */
            log_hdr(out, 'P', &h);
            fuzz_put(out, p + pos, avail);
            if (avail == h.len) {
                fuzz_put8(out, 'E');
                if (stop_cmd == CMD_PSH) {
                    fuzz_put8(out, 'S');
                    fuzz_put8(out, 1);
                    return;
                }
            }
        } else if (h.cmd != CMD_WASTE && h.cmd != CMD_PSH && avail == h.len) {
            log_hdr(out, 'C', &h);
            fuzz_put(out, p + pos, avail);
            if (h.cmd == stop_cmd) {
                pos += avail;
                fuzz_put8(out, 'S');
                fuzz_put8(out, 1); /* the decoder ends the frame before the callback */
                return;
            }
        }
        pos += avail;
        if (avail < h.len) {
            idle = 0;
            break;
        }
    }
    fuzz_put8(out, 'Z');
    fuzz_put8(out, (uint8_t)idle);
}

#endif
