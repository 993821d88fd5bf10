/* frame.h -- AnyTLS frames: 7-byte header (cmd u8, sid u32, len u16, big-endian)
 * then len bytes. A streaming decoder that never buffers stream data: PSH bodies
 * are delivered in the pieces they arrive in; control bodies (<= 65535 bytes) are
 * gathered whole first; Waste is skipped. */
#ifndef FRAME_H
#define FRAME_H

#include <stdint.h>
#include <stddef.h>

enum frame_cmd {
    CMD_WASTE = 0, CMD_SYN = 1, CMD_PSH = 2, CMD_FIN = 3, CMD_SETTINGS = 4,
    CMD_ALERT = 5, CMD_UPDATE_PADDING = 6, CMD_SYNACK = 7, CMD_HEART_REQ = 8,
    CMD_HEART_RESP = 9, CMD_SERVER_SETTINGS = 10,
};

#define FRAME_HDR 7
#define FRAME_MAX_DATA 65535

typedef struct frame_hdr {
    uint8_t cmd;
    uint32_t sid;
    uint16_t len;
} frame_hdr_t;

static inline void frame_put_hdr(uint8_t *p, uint8_t cmd, uint32_t sid, uint16_t len)
{
    p[0] = cmd;
    p[1] = (uint8_t)(sid >> 24); p[2] = (uint8_t)(sid >> 16);
    p[3] = (uint8_t)(sid >> 8);  p[4] = (uint8_t)sid;
    p[5] = (uint8_t)(len >> 8);  p[6] = (uint8_t)len;
}

static inline void frame_get_hdr(const uint8_t *p, frame_hdr_t *h)
{
    h->cmd = p[0];
    h->sid = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
    h->len = (uint16_t)((p[5] << 8) | p[6]);
}

/* Called once per event:
 *  - PSH: once per contiguous piece of the body (n may be < len; `first`/`last`
 *    tell where the piece sits); a PSH with len 0 gives one call with n = 0.
 *  - WASTE: never called (skipped).
 *  - every other cmd (known or not): once, with the whole body (n == len).
 * Return 0 to go on, non-zero to stop decoding (frame_dec_feed returns it). */
typedef int (*frame_cb_t)(void *arg, const frame_hdr_t *h, const uint8_t *data,
                          size_t n, int first, int last);

typedef struct frame_dec {
    uint8_t hdr[FRAME_HDR];
    uint8_t hlen;       /* header bytes gathered */
    frame_hdr_t cur;
    uint32_t done;      /* body bytes consumed of cur */
    uint8_t *ctl;       /* gathered control body (malloc'd while gathering) */
} frame_dec_t;

void frame_dec_init(frame_dec_t *d);
void frame_dec_free(frame_dec_t *d);
/* Feeds n bytes; every byte is consumed unless cb returns non-zero, in which case
 * decoding stops right after that callback and that value is returned (the caller
 * is expected to drop the session). Returns 0 when all bytes were consumed; -1 on
 * allocation failure. */
int frame_dec_feed(frame_dec_t *d, const uint8_t *buf, size_t n, frame_cb_t cb, void *arg);
/* 1 if the decoder sits exactly on a frame boundary (no partial frame). */
int frame_dec_idle(const frame_dec_t *d);

#endif
