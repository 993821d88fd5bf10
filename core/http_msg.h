/* http_msg.h -- where HTTP/1.x messages end, for a proxy that passes them on
 * byte for byte and only needs to know where one message stops and the next
 * starts (RFC 9112 §6). Three pieces, all incremental (fed any split of the
 * bytes) and pure (no I/O, no allocation):
 *   hm_head_t  scans a message head up to its blank line, keeping only what
 *              framing needs: the status code, Content-Length, whether
 *              Transfer-Encoding is present and ends in "chunked";
 *   hm_body_t  frames a body: none, a fixed length, chunked (with trailers),
 *              or "until the connection closes";
 *   hm_resp_t  one response to one request: interim 1xx heads skipped, no body
 *              for HEAD / 204 / 304, 101 ends the HTTP part (a tunnel follows). */
#ifndef HTTP_MSG_H
#define HTTP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define HM_KEEP 128   /* bytes of each line looked at; longer lines are cut (see hm_head_t) */

typedef struct hm_head {
    uint8_t response;      /* 1: a status line is expected, else a request line */
    uint8_t done;          /* the blank line was consumed */
    uint8_t bad;           /* malformed for framing purposes (see why) */
    uint8_t has_cl, has_te, te_chunked;
    uint8_t last_framing;  /* the previous header was CL or TE (a fold would change it) */
    uint16_t line_len;     /* bytes kept of the current line */
    uint32_t line_total;   /* bytes of the current line so far */
    uint32_t nlines;       /* lines of the head so far (start line included) */
    int status;            /* response: the status code */
    uint64_t cl;
    const char *why;       /* when bad: what was wrong (static text) */
    char line[HM_KEEP];    /* the current line's first bytes (for framing, and for logs when bad) */
} hm_head_t;

void hm_head_init(hm_head_t *h, int response);
/* Consumes bytes up to and including the head's blank line (leading empty
 * lines are skipped); returns how many. Stops early when h->bad. A line longer
 * than HM_KEEP is fine unless it is the start line or a Content-Length or
 * Transfer-Encoding field, which are then bad. */
size_t hm_head_feed(hm_head_t *h, const uint8_t *p, size_t n);

enum hm_body_mode { HM_BODY_NONE, HM_BODY_LENGTH, HM_BODY_CHUNKED, HM_BODY_UNTIL_CLOSE };

typedef struct hm_body {
    uint8_t mode;          /* enum hm_body_mode */
    uint8_t cstate;        /* chunked: where in the chunk syntax */
    uint8_t done, bad;
    uint8_t ndigits;
    uint64_t left;         /* LENGTH: bytes left; CHUNKED: of this chunk's data or size */
} hm_body_t;

void hm_body_init(hm_body_t *b, enum hm_body_mode mode, uint64_t length);
/* Consumes the body's bytes among p[0..n) (never past its end); returns how
 * many. Sets done at its end, bad on broken chunk syntax. UNTIL_CLOSE takes
 * everything and is never done. */
size_t hm_body_feed(hm_body_t *b, const uint8_t *p, size_t n);

enum hm_framing { HM_FRAMED = 0, HM_UNFRAMED = 1, HM_BAD = -1 };
/* The body of a request whose whole head h has scanned: HM_FRAMED with b set
 * (none, length, chunked), HM_UNFRAMED (a Transfer-Encoding not ending in
 * chunked: its end cannot be known; b is UNTIL_CLOSE), HM_BAD (bad head). */
int hm_request_body(const hm_head_t *h, hm_body_t *b);

enum hm_resp_phase { HM_RESP_HEAD, HM_RESP_BODY, HM_RESP_DONE, HM_RESP_UNTIL_CLOSE, HM_RESP_UPGRADED,
                     HM_RESP_BAD };

typedef struct hm_resp {
    uint8_t phase;         /* enum hm_resp_phase */
    uint8_t head_request;  /* the request was HEAD: no body whatever the head says */
    hm_head_t head;
    hm_body_t body;
} hm_resp_t;

void hm_resp_init(hm_resp_t *r, int head_request);
/* Consumes the response's bytes among p[0..n); returns how many. Bytes past
 * DONE or UPGRADED are not the response's (a 101's tunnel data, or bytes the
 * server should not have sent). UNTIL_CLOSE takes everything. BAD: the head
 * cannot be framed (r->head.why, r->head.line). */
size_t hm_resp_feed(hm_resp_t *r, const uint8_t *p, size_t n);

#endif
