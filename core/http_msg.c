/* http_msg.c -- HTTP/1.x message framing for a pass-through proxy (see
 * http_msg.h). Lines end in LF with an optional CR before it, as in
 * inbound_parse.c. Anything that would make two parties disagree on where a
 * message ends (a bad or conflicting Content-Length, a folded framing header,
 * broken chunk syntax) is "bad": the caller must not guess. */
#include "http_msg.h"

#include <string.h>
#include <strings.h>

/* ---- heads ---- */

void hm_head_init(hm_head_t *h, int response)
{
    memset(h, 0, sizeof *h);
    h->response = (uint8_t)response;
}

static void hm_head_bad(hm_head_t *h, const char *why)
{
    h->bad = 1;
    h->why = why;
}

static int hm_is_ows(char c) { return c == ' ' || c == '\t'; }

/* The field value of line (after the colon at `colon`), trimmed. */
static void hm_value(const hm_head_t *h, size_t colon, const char **v, size_t *vl)
{
    size_t s = colon + 1, e = h->line_len;
    while (s < e && hm_is_ows(h->line[s])) s++;
    while (e > s && hm_is_ows(h->line[e - 1])) e--;
    *v = h->line + s;
    *vl = e - s;
}

/* Content-Length: digits; a list of equal values ("5, 5") is one value. */
static void hm_content_length(hm_head_t *h, const char *v, size_t vl)
{
    size_t i = 0;
    do {
        uint64_t x = 0;
        size_t nd = 0;
        while (i < vl && hm_is_ows(v[i])) i++;
        for (; i < vl && v[i] >= '0' && v[i] <= '9'; i++, nd++) {
            if (x > (UINT64_MAX - 9) / 10) { hm_head_bad(h, "Content-Length too large"); return; }
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        while (i < vl && hm_is_ows(v[i])) i++;
        if (!nd || (i < vl && v[i] != ',')) { hm_head_bad(h, "Content-Length is not a number"); return; }
        if (h->has_cl && h->cl != x) { hm_head_bad(h, "conflicting Content-Length values"); return; }
        h->has_cl = 1;
        h->cl = x;
    } while (i++ < vl);
}

/* Transfer-Encoding: chunked counts only as the last coding. */
static void hm_transfer_encoding(hm_head_t *h, const char *v, size_t vl)
{
    const char *c = memrchr(v, ',', vl);
    size_t s = c ? (size_t)(c - v) + 1 : 0;
    while (s < vl && hm_is_ows(v[s])) s++;
    h->has_te = 1;
    h->te_chunked = vl - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

static int hm_name_is(const hm_head_t *h, size_t colon, const char *name)
{
    return colon == strlen(name) && strncasecmp(h->line, name, colon) == 0;
}

static void hm_line(hm_head_t *h)
{
    int cut = h->line_total > h->line_len;
    if (h->nlines == 0) {
        if (cut) { hm_head_bad(h, "start line too long"); return; }
        if (h->response) {
            /* HTTP/x.y SP 3DIGIT */
            const char *l = h->line;
            if (h->line_len < 12 || memcmp(l, "HTTP/", 5) != 0 || l[8] != ' ' ||
                l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
                (h->line_len > 12 && l[12] != ' ')) {
                hm_head_bad(h, "not an HTTP status line");
                return;
            }
            h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
        }
        h->nlines++;
        return;
    }
    h->nlines++;
    if (hm_is_ows(h->line[0])) {   /* obs-fold: continues the previous field */
        if (h->last_framing) hm_head_bad(h, "folded Content-Length or Transfer-Encoding");
        return;
    }
    const char *colon = memchr(h->line, ':', h->line_len);
    if (!colon) {
        if (!cut) hm_head_bad(h, "header line without a colon");
        return;
    }
    size_t cl = (size_t)(colon - h->line);
    const char *v;
    size_t vl;
    h->last_framing = 0;
    if (hm_name_is(h, cl, "content-length")) {
        h->last_framing = 1;
        if (cut) { hm_head_bad(h, "Content-Length line too long"); return; }
        hm_value(h, cl, &v, &vl);
        hm_content_length(h, v, vl);
    } else if (hm_name_is(h, cl, "transfer-encoding")) {
        h->last_framing = 1;
        if (cut) { hm_head_bad(h, "Transfer-Encoding line too long"); return; }
        hm_value(h, cl, &v, &vl);
        hm_transfer_encoding(h, v, vl);
    }
}

size_t hm_head_feed(hm_head_t *h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && !h->done && !h->bad) {
        const uint8_t *lf = memchr(p + i, '\n', n - i);
        size_t end = lf ? (size_t)(lf - p) : n;
        size_t take = end - i;
        if (h->line_len < HM_KEEP) {
            size_t room = HM_KEEP - h->line_len;
            memcpy(h->line + h->line_len, p + i, take < room ? take : room);
            h->line_len = (uint16_t)(h->line_len + (take < room ? take : room));
        }
        h->line_total += (uint32_t)take;
        i = end;
        if (!lf) break;
        i++;   /* the LF */
        if (h->line_total == h->line_len && h->line_len && h->line[h->line_len - 1] == '\r') {
            h->line_len--;
            h->line_total--;
        }
        if (h->line_total == 0) {
            if (h->nlines) h->done = 1;   /* the blank line; empty lines before the start line are skipped */
        } else {
            hm_line(h);
        }
        h->line_len = 0;
        h->line_total = 0;
    }
    return i;
}

/* ---- bodies ---- */

enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER_START, CH_TRAILER, CH_END_LF };

void hm_body_init(hm_body_t *b, enum hm_body_mode mode, uint64_t length)
{
    memset(b, 0, sizeof *b);
    b->mode = (uint8_t)mode;
    b->left = length;
    b->done = mode == HM_BODY_NONE || (mode == HM_BODY_LENGTH && length == 0);
}

static int hm_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The end of a chunk-size line: a 0 size starts the trailer section. */
static void hm_size_line_end(hm_body_t *b)
{
    b->cstate = b->left ? CH_DATA : CH_TRAILER_START;
}

static size_t hm_chunked_feed(hm_body_t *b, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && !b->done && !b->bad) {
        uint8_t c = p[i];
        switch (b->cstate) {
        case CH_SIZE: {
            int d = hm_hex(c);
            if (d >= 0) {
                if (b->ndigits >= 15) { b->bad = 1; break; }   /* < 2^60: no overflow */
                b->left = b->left * 16 + (uint64_t)d;
                b->ndigits++;
                i++;
                break;
            }
            if (!b->ndigits) { b->bad = 1; break; }
            i++;
            if (c == '\n') hm_size_line_end(b);
            else if (c == ';' || c == '\r' || c == ' ' || c == '\t') b->cstate = CH_EXT;
            else b->bad = 1;
            break;
        }
        case CH_EXT:   /* chunk extensions, up to the LF */
            i++;
            if (c == '\n') hm_size_line_end(b);
            break;
        case CH_DATA: {
            size_t k = n - i < b->left ? n - i : (size_t)b->left;
            i += k;
            b->left -= k;
            if (!b->left) b->cstate = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            i++;
            if (c == '\r') b->cstate = CH_DATA_LF;
            else if (c == '\n') { b->cstate = CH_SIZE; b->ndigits = 0; }
            else b->bad = 1;
            break;
        case CH_DATA_LF:
            i++;
            if (c == '\n') { b->cstate = CH_SIZE; b->ndigits = 0; }
            else b->bad = 1;
            break;
        case CH_TRAILER_START:
            i++;
            if (c == '\n') b->done = 1;
            else if (c == '\r') b->cstate = CH_END_LF;
            else b->cstate = CH_TRAILER;
            break;
        case CH_TRAILER:   /* a trailer field, up to the LF */
            i++;
            if (c == '\n') b->cstate = CH_TRAILER_START;
            break;
        case CH_END_LF:
            i++;
            if (c == '\n') b->done = 1;
            else b->bad = 1;
            break;
        }
    }
    return i;
}

size_t hm_body_feed(hm_body_t *b, const uint8_t *p, size_t n)
{
    if (b->done || b->bad) return 0;
    switch ((enum hm_body_mode)b->mode) {
    case HM_BODY_NONE:
        return 0;
    case HM_BODY_LENGTH: {
        size_t k = n < b->left ? n : (size_t)b->left;
        b->left -= k;
        b->done = b->left == 0;
        return k;
    }
    case HM_BODY_CHUNKED:
        return hm_chunked_feed(b, p, n);
    case HM_BODY_UNTIL_CLOSE:
        return n;
    }
    return 0;
}

int hm_request_body(const hm_head_t *h, hm_body_t *b)
{
    if (h->bad || !h->done) return HM_BAD;
    if (h->has_te) {
        /* RFC 9112 §6.1: Transfer-Encoding overrides Content-Length. */
        hm_body_init(b, h->te_chunked ? HM_BODY_CHUNKED : HM_BODY_UNTIL_CLOSE, 0);
        return h->te_chunked ? HM_FRAMED : HM_UNFRAMED;
    }
    hm_body_init(b, h->has_cl && h->cl ? HM_BODY_LENGTH : HM_BODY_NONE, h->cl);
    return HM_FRAMED;
}

/* ---- responses ---- */

void hm_resp_init(hm_resp_t *r, int head_request)
{
    r->phase = HM_RESP_HEAD;
    r->head_request = (uint8_t)head_request;
    hm_head_init(&r->head, 1);
}

/* The head is complete: what follows it (RFC 9112 §6.3). */
static void hm_resp_head_done(hm_resp_t *r)
{
    const hm_head_t *h = &r->head;
    int st = h->status;
    if (st == 101) { r->phase = HM_RESP_UPGRADED; return; }
    if (st >= 100 && st < 200) { hm_resp_init(r, r->head_request); return; }   /* interim */
    if (r->head_request || st == 204 || st == 304) { r->phase = HM_RESP_DONE; return; }
    if (h->has_te)
        hm_body_init(&r->body, h->te_chunked ? HM_BODY_CHUNKED : HM_BODY_UNTIL_CLOSE, 0);
    else if (h->has_cl)
        hm_body_init(&r->body, HM_BODY_LENGTH, h->cl);
    else
        hm_body_init(&r->body, HM_BODY_UNTIL_CLOSE, 0);
    r->phase = r->body.mode == HM_BODY_UNTIL_CLOSE ? HM_RESP_UNTIL_CLOSE
             : r->body.done ? HM_RESP_DONE : HM_RESP_BODY;
}

size_t hm_resp_feed(hm_resp_t *r, const uint8_t *p, size_t n)
{
    size_t used = 0;
    while (used < n) {
        switch ((enum hm_resp_phase)r->phase) {
        case HM_RESP_HEAD:
            used += hm_head_feed(&r->head, p + used, n - used);
            if (r->head.bad) { r->phase = HM_RESP_BAD; return used; }
            if (!r->head.done) return used;
            hm_resp_head_done(r);
            break;
        case HM_RESP_BODY:
            used += hm_body_feed(&r->body, p + used, n - used);
            if (r->body.bad) {
                r->phase = HM_RESP_BAD;
                r->head.why = "broken chunked encoding";
                r->head.line_len = 0;
                return used;
            }
            if (r->body.done) r->phase = HM_RESP_DONE;
            break;
        case HM_RESP_UNTIL_CLOSE:
            return n;
        case HM_RESP_DONE:
        case HM_RESP_UPGRADED:
        case HM_RESP_BAD:
            return used;
        }
    }
    return used;
}
