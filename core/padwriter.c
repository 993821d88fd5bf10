/* padwriter.c -- padded client writes and the client Settings frame
 * (padwriter.h says what is promised). */
#include "padwriter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records of the default scheme are at most 1000 bytes: they are built on the
 * stack; a scheme asking for bigger ones gets a heap buffer per record. */
#define PADW_STACK_REC 2048

/* One record: take payload bytes, then a Waste frame of wd data bytes (wd < 0:
 * none). */
static int padw_record(const uint8_t *p, uint32_t take, int32_t wd, padw_out_t out, void *arg)
{
    uint8_t stack[PADW_STACK_REC];
    size_t waste = wd >= 0 ? (size_t)wd + FRAME_HDR : 0;
    size_t len = (size_t)take + waste;
    uint8_t *rec = len <= sizeof stack ? stack : malloc(len);
    if (!rec) return PADW_ENOMEM;
    memcpy(rec, p, take);
    if (waste) {
        frame_put_hdr(rec + take, CMD_WASTE, 0, (uint16_t)wd);
        memset(rec + take + FRAME_HDR, 0, (size_t)wd);
    }
    int r = out(arg, rec, len, 1);
    if (rec != stack) free(rec);
    return r < 0 ? -1 : 0;
}

int padw_write(const padding_scheme_t *sc, uint32_t pkt, const uint8_t *p, size_t n,
               padw_out_t out, void *arg, padding_rng_t rng, void *rng_arg)
{
    if (pkt >= sc->stop) return out(arg, p, n, 0) < 0 ? -1 : 0;
    padding_plan_t plan;
    padding_plan(sc, pkt, n, &plan, rng, rng_arg);
    for (int i = 0; i < plan.nrec; i++) {
        uint32_t take = plan.rec[i].take;
        /* A scheme may ask for more padding than one frame holds: cap it. */
        int32_t wd = plan.rec[i].waste > FRAME_MAX_DATA ? FRAME_MAX_DATA : plan.rec[i].waste;
        int r = padw_record(p, take, wd, out, arg);
        if (r < 0) return r;
        p += take;
    }
    if (plan.rest && out(arg, p, plan.rest, 1) < 0) return -1;
    return 0;
}

int padw_settings_text(char *buf, size_t cap, const char *md5)
{
    return snprintf(buf, cap, "v=2\nclient=" PADW_CLIENT "\npadding-md5=%s", md5);
}

size_t padw_put_settings(uint8_t *p, const padding_scheme_t *sc)
{
    char text[PADW_SETTINGS_MAX - FRAME_HDR + 1];
    int sl = padw_settings_text(text, sizeof text, sc->md5);
    if (sl < 0) sl = 0;
    if ((size_t)sl >= sizeof text) sl = (int)sizeof text - 1;
    frame_put_hdr(p, CMD_SETTINGS, 0, (uint16_t)sl);
    memcpy(p + FRAME_HDR, text, (size_t)sl);
    return FRAME_HDR + (size_t)sl;
}
