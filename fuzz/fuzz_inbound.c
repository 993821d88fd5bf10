/* fuzz_inbound.c -- what a local application sends to anytls-client's port
 * (core/inbound_parse.c): SOCKS5 greeting and request, SOCKS4/4a, HTTP proxy
 * requests (CONNECT and absolute-URI requests, which are rewritten), and SOCKS5
 * UDP datagram headers.
 *
 * Input: byte 0 picks the parser (low 3 bits; 5..7: dispatch on the message's
 * first byte with inb_detect, as the client does), the rest is the message
 * (exact-size buffer). For every parser:
 *  - DONE: *used <= n; the same call on exactly the *used bytes gives the same
 *    result (bytes after the message do not matter); shorter prefixes give
 *    NEED_MORE (checked at every length for the binary forms, at a sample of
 *    lengths for HTTP); addresses are well formed and re-encode to the bytes
 *    that carried them (SOCKS5, UDP);
 *  - HTTP rewrite: out (an exact INB_HTTP_MAX_HEAD allocation) is never longer
 *    than the head and equals the rewrite a small model of the header comment
 *    makes (origin-form request line, Proxy-Connection / Proxy-Authorization
 *    and their continuation lines dropped, everything else byte for byte);
 *  - NEED_MORE: only for n below the parser's limits (a SOCKS4 string over 255
 *    bytes or an HTTP head over INB_HTTP_MAX_HEAD is an ERROR). */
#include <strings.h>

#include "fuzz_util.h"
#include "inbound_parse.h"

static int addr_eq(const addr_t *a, const addr_t *b)
{
    if (a->type != b->type || a->port != b->port)
        return 0;
    if (a->type == ADDR_IPV4)
        return memcmp(a->ip, b->ip, 4) == 0;
    if (a->type == ADDR_IPV6)
        return memcmp(a->ip, b->ip, 16) == 0;
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

static void check_addr(const addr_t *a)
{
    FUZZ_CHECK(a->type == ADDR_IPV4 || a->type == ADDR_IPV6 || a->type == ADDR_DOMAIN);
    if (a->type == ADDR_DOMAIN) {
        FUZZ_CHECK(a->name_len > 0);
        FUZZ_CHECK(a->name[a->name_len] == '\0' && strlen(a->name) == a->name_len);
    }
}

/* ---- SOCKS5 greeting ---- */
static void greeting(const uint8_t *b, size_t n)
{
    size_t used = 0;
    int noauth = -1;
    int rc = socks5_parse_greeting(b, n, &used, &noauth);
    FUZZ_CHECK(rc == INB_DONE || rc == INB_NEED_MORE || rc == INB_ERROR);
    if (rc != INB_DONE)
        return;
    FUZZ_CHECK(used >= 2 && used <= n && used == 2 + (size_t)b[1]);
    FUZZ_CHECK(noauth == (memchr(b + 2, 0, b[1]) != NULL));
    size_t u2 = 0;
    int na2 = -1;
    FUZZ_CHECK(socks5_parse_greeting(b, used, &u2, &na2) == INB_DONE && u2 == used &&
               na2 == noauth);
    for (size_t k = 0; k < used; k++)
        FUZZ_CHECK(socks5_parse_greeting(b, k, &u2, &na2) == INB_NEED_MORE);
}

/* ---- SOCKS5 request ---- */
static void request(const uint8_t *b, size_t n)
{
    size_t used = 0;
    int cmd = -1;
    addr_t dst;
    int rc = socks5_parse_request(b, n, &used, &cmd, &dst);
    FUZZ_CHECK(rc == INB_DONE || rc == INB_NEED_MORE || rc == INB_ERROR);
    if (rc != INB_DONE)
        return;
    FUZZ_CHECK(used > 4 && used <= n && cmd == b[1]);
    check_addr(&dst);
    size_t u2 = 0;
    int c2 = -1;
    addr_t d2;
    FUZZ_CHECK(socks5_parse_request(b, used, &u2, &c2, &d2) == INB_DONE && u2 == used &&
               c2 == cmd && addr_eq(&d2, &dst));
    for (size_t k = 0; k < used; k++)
        FUZZ_CHECK(socks5_parse_request(b, k, &u2, &c2, &d2) == INB_NEED_MORE);
    /* the reply carries the address back in the same encoding */
    uint8_t *out = malloc(3 + 259);
    FUZZ_CHECK(out != NULL);
    size_t rl = socks5_reply(out, 0, &dst);
    FUZZ_CHECK(rl == used && out[0] == 5 && out[1] == 0 && out[2] == 0);
    FUZZ_CHECK(memcmp(out + 3, b + 3, used - 3) == 0);
    free(out);
}

/* ---- SOCKS4 / 4a ---- */
static void socks4(const uint8_t *b, size_t n)
{
    size_t used = 0;
    addr_t dst;
    int rc = socks4_parse_request(b, n, &used, &dst);
    FUZZ_CHECK(rc == INB_DONE || rc == INB_NEED_MORE || rc == INB_ERROR);
    if (rc == INB_NEED_MORE)
        FUZZ_CHECK(n < 8 + 256 + 256);
    if (rc != INB_DONE)
        return;
    FUZZ_CHECK(used >= 9 && used <= n && b[used - 1] == 0);
    check_addr(&dst);
    FUZZ_CHECK(dst.port == ((b[2] << 8) | b[3]));
    if (dst.type == ADDR_DOMAIN) {
        FUZZ_CHECK(b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] != 0);
        FUZZ_CHECK(used >= (size_t)dst.name_len + 1 + 9);
        FUZZ_CHECK(memcmp(b + used - 1 - dst.name_len, dst.name, dst.name_len) == 0);
    } else {
        FUZZ_CHECK(dst.type == ADDR_IPV4 && memcmp(dst.ip, b + 4, 4) == 0);
    }
    size_t u2 = 0;
    addr_t d2;
    FUZZ_CHECK(socks4_parse_request(b, used, &u2, &d2) == INB_DONE && u2 == used &&
               addr_eq(&d2, &dst));
    for (size_t k = 0; k < used; k++)
        FUZZ_CHECK(socks4_parse_request(b, k, &u2, &d2) == INB_NEED_MORE);
    uint8_t rep[8];
    FUZZ_CHECK(socks4_reply(rep, 1) == 8 && rep[1] == 0x5a);
}

/* ---- HTTP ---- */
static int dropped(const uint8_t *name, size_t len)
{
    return (len == 16 && strncasecmp((const char *)name, "Proxy-Connection", 16) == 0) ||
           (len == 19 && strncasecmp((const char *)name, "Proxy-Authorization", 19) == 0);
}

/* The rewrite, per the header comment of http_parse_request: "METHOD /path
 * VERSION" + line ending, then the header lines but Proxy-Connection and
 * Proxy-Authorization (with their continuation lines), then the blank line. */
static void check_rewrite(const uint8_t *b, size_t head, const uint8_t *out, size_t ol)
{
    fuzz_buf_t w = { 0 };
    FUZZ_CHECK(ol > 0 && ol <= head);

    const uint8_t *nl = memchr(b, '\n', head);
    FUZZ_CHECK(nl != NULL);
    const uint8_t *sp1 = memchr(b, ' ', (size_t)(nl - b));
    FUZZ_CHECK(sp1 != NULL);
    const uint8_t *tgt = sp1 + 1;
    const uint8_t *sp2 = memchr(tgt, ' ', (size_t)(nl - tgt));
    FUZZ_CHECK(sp2 != NULL);
    /* target: "http://" authority [path] [#fragment] */
    const uint8_t *path = tgt + 7;
    while (path < sp2 && *path != '/' && *path != '?' && *path != '#')
        path++;
    const uint8_t *pend = memchr(path, '#', (size_t)(sp2 - path));
    if (!pend)
        pend = sp2;
    fuzz_put(&w, b, (size_t)(tgt - b));
    if (path == pend || *path != '/')
        fuzz_put8(&w, '/');
    fuzz_put(&w, path, (size_t)(pend - path));
    fuzz_put(&w, sp2, (size_t)(nl + 1 - sp2));

    int keep = 1;
    for (const uint8_t *p = nl + 1; p < b + head;) {
        const uint8_t *e = memchr(p, '\n', (size_t)(b + head - p));
        FUZZ_CHECK(e != NULL);
        size_t len = (size_t)(e + 1 - p);
        int blank = len == 1 || (len == 2 && p[0] == '\r');
        if (blank) {
            fuzz_put(&w, p, len);
            FUZZ_CHECK(e + 1 == b + head);
            break;
        }
        if (*p != ' ' && *p != '\t') {
            const uint8_t *colon = memchr(p, ':', len);
            FUZZ_CHECK(colon != NULL);
            keep = !dropped(p, (size_t)(colon - p));
        }
        if (keep)
            fuzz_put(&w, p, len);
        p = e + 1;
    }
    FUZZ_CHECK(w.len == ol);
    FUZZ_CHECK(memcmp(w.p, out, ol) == 0);
    fuzz_buf_free(&w);
}

static void http(const uint8_t *b, size_t n, uint64_t seed)
{
    size_t used = 0, ol = 0;
    int is_connect = -1;
    addr_t dst;
    uint8_t *out = malloc(INB_HTTP_MAX_HEAD);
    FUZZ_CHECK(out != NULL);
    int rc = http_parse_request(b, n, &used, &is_connect, &dst, out, &ol);
    FUZZ_CHECK(rc == INB_DONE || rc == INB_NEED_MORE || rc == INB_ERROR);
    if (rc == INB_NEED_MORE)
        FUZZ_CHECK(n < INB_HTTP_MAX_HEAD);
    if (rc == INB_DONE) {
        FUZZ_CHECK(used <= n && used <= INB_HTTP_MAX_HEAD && b[used - 1] == '\n');
        FUZZ_CHECK(is_connect == 0 || is_connect == 1);
        check_addr(&dst);
        if (is_connect)
            FUZZ_CHECK(ol == 0);
        else
            check_rewrite(b, used, out, ol);
        /* the head alone parses the same */
        uint8_t *out2 = malloc(INB_HTTP_MAX_HEAD);
        FUZZ_CHECK(out2 != NULL);
        size_t u2 = 0, ol2 = 0;
        int ic2 = -1;
        addr_t d2;
        FUZZ_CHECK(http_parse_request(b, used, &u2, &ic2, &d2, out2, &ol2) == INB_DONE);
        FUZZ_CHECK(u2 == used && ic2 == is_connect && addr_eq(&d2, &dst) && ol2 == ol &&
                   memcmp(out2, out, ol) == 0);
        /* prefixes need more: the last one, and a few random ones */
        fuzz_rng_t r = { seed };
        FUZZ_CHECK(http_parse_request(b, used - 1, &u2, &ic2, &d2, out2, &ol2) == INB_NEED_MORE);
        for (int i = 0; i < 4; i++) {
            size_t k = (size_t)fuzz_below(&r, used);
            FUZZ_CHECK(http_parse_request(b, k, &u2, &ic2, &d2, out2, &ol2) == INB_NEED_MORE);
        }
        free(out2);
    }
    free(out);
}

/* ---- SOCKS5 UDP header ---- */
static void udp(const uint8_t *b, size_t n)
{
    addr_t dst;
    int rc = socks5_udp_parse(b, n, &dst);
    if (rc < 0) {
        FUZZ_CHECK(rc == -1);
        return;
    }
    FUZZ_CHECK(rc > 4 && (size_t)rc <= n && b[2] == 0);
    check_addr(&dst);
    uint8_t *out = malloc(3 + 259);
    FUZZ_CHECK(out != NULL);
    size_t hl = socks5_udp_header(out, &dst);
    FUZZ_CHECK(hl == (size_t)rc && out[0] == 0 && out[1] == 0 && out[2] == 0);
    FUZZ_CHECK(memcmp(out + 3, b + 3, hl - 3) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int sel = data[0] & 7;
    size_t n = size - 1;
    uint8_t *b = (uint8_t *)fuzz_dup(data + 1, n, 0);

    if (sel >= 5) { /* as the client does: by the first byte */
        int proto = n ? inb_detect(b[0]) : INB_UNKNOWN;
        sel = proto == INB_SOCKS5 ? (sel == 5 ? 0 : 1)
            : proto == INB_SOCKS4 ? 2
            : proto == INB_HTTP   ? 3
            : 4;
    }
    switch (sel) {
    case 0: greeting(b, n); break;
    case 1: request(b, n); break;
    case 2: socks4(b, n); break;
    case 3: http(b, n, fuzz_hash(data, size)); break;
    case 4: udp(b, n); break;
    }
    free(b);
    return 0;
}
