/* frame.c -- streaming AnyTLS frame decoder. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* hlen == FRAME_HDR means the header is complete and we are inside the body. */

void frame_dec_init(frame_dec_t *d)
{
    memset(d, 0, sizeof(*d));
}

void frame_dec_free(frame_dec_t *d)
{
    free(d->ctl);
    frame_dec_init(d);
}

int frame_dec_idle(const frame_dec_t *d)
{
    return d->hlen == 0;
}

static void end_frame(frame_dec_t *d)
{
    free(d->ctl);
    d->ctl = NULL;
    d->hlen = 0;
    d->done = 0;
}

int frame_dec_feed(frame_dec_t *d, const uint8_t *buf, size_t n, frame_cb_t cb, void *arg)
{
    size_t off = 0;

    while (off < n || (d->hlen == FRAME_HDR && d->cur.len == 0)) {
        if (d->hlen < FRAME_HDR) {
            size_t k = FRAME_HDR - d->hlen;
            if (k > n - off)
                k = n - off;
            memcpy(d->hdr + d->hlen, buf + off, k);
            d->hlen = (uint8_t)(d->hlen + k);
            off += k;
            if (d->hlen < FRAME_HDR)
                break;
            frame_get_hdr(d->hdr, &d->cur);
            d->done = 0;
        }

        const frame_hdr_t h = d->cur;
        size_t avail = n - off;
        size_t left = (size_t)h.len - d->done;
        size_t k = avail < left ? avail : left;

        if (h.cmd == CMD_WASTE) {
            off += k;
            d->done += (uint32_t)k;
            if (d->done == h.len)
                end_frame(d);
            continue;
        }

        if (h.cmd == CMD_PSH) {
            int first = d->done == 0;
            int last = d->done + k == h.len;
            /* A piece of zero bytes is only reported for an empty PSH. */
            if (k == 0 && h.len != 0)
                break;
            off += k;
            d->done += (uint32_t)k;
            if (last)
                end_frame(d);
            int rc = cb(arg, &h, buf + off - k, k, first, last);
            if (rc)
                return rc;
            continue;
        }

        /* Control (or unknown) frame: deliver the body whole. When it is all in
         * buf already, hand it over in place; otherwise gather it. */
        const uint8_t *body;
        if (d->done == 0 && k == h.len) {
            body = buf + off;
            off += k;
        } else {
            if (!d->ctl) {
                d->ctl = malloc(h.len);
                if (!d->ctl)
                    return -1;
            }
            memcpy(d->ctl + d->done, buf + off, k);
            off += k;
            d->done += (uint32_t)k;
            if (d->done < h.len)
                break;
            body = d->ctl;
        }
        uint8_t *owned = d->ctl;
        d->ctl = NULL;
        end_frame(d);
        int rc = cb(arg, &h, h.len ? body : d->hdr /* never NULL */, h.len, 1, 1);
        free(owned);
        if (rc)
            return rc;
    }
    return 0;
}
