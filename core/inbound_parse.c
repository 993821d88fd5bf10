/* inbound_parse.c -- SOCKS5, SOCKS4/4a and HTTP proxy requests from local
 * applications. Every parser looks only at b[0..n) and reports NEED_MORE for any
 * prefix of a valid message. */
#include "inbound_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SOCKS_ADDR_MAX 259 /* 0x03 len name[255] port */

int inb_detect(uint8_t first)
{
    if (first == 0x05)
        return INB_SOCKS5;
    if (first == 0x04)
        return INB_SOCKS4;
    if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z'))
        return INB_HTTP;
    return INB_UNKNOWN;
}

/* ---- SOCKS5 ---- */

int socks5_parse_greeting(const uint8_t *b, size_t n, size_t *used, int *noauth)
{
    if (n < 1)
        return INB_NEED_MORE;
    if (b[0] != 5)
        return INB_ERROR;
    if (n < 2 || n < 2 + (size_t)b[1])
        return INB_NEED_MORE;
    /* NMETHODS == 0 is answered with "no acceptable method" by the caller. */
    *noauth = memchr(b + 2, 0x00, b[1]) != NULL;
    *used = 2 + (size_t)b[1];
    return INB_DONE;
}

int socks5_parse_request(const uint8_t *b, size_t n, size_t *used, int *cmd, addr_t *dst)
{
    int rc;

    if (n < 1)
        return INB_NEED_MORE;
    if (b[0] != 5)
        return INB_ERROR;
    if (n < 4)
        return INB_NEED_MORE;
    rc = addr_parse(b + 3, n - 3, ADDR_FORM_SOCKS, dst);
    if (rc == 0)
        return INB_NEED_MORE;
    if (rc < 0)
        return INB_ERROR;
    *cmd = b[1];
    *used = 3 + (size_t)rc;
    return INB_DONE;
}

static int put_addr_or_zero(const addr_t *a, int form, uint8_t *out)
{
    int k = a ? addr_encode(a, form, out, SOCKS_ADDR_MAX) : -1;

    if (k < 0) {
        addr_t zero = { .type = ADDR_IPV4 };
        k = addr_encode(&zero, form, out, SOCKS_ADDR_MAX);
    }
    return k;
}

size_t socks5_reply(uint8_t *out, uint8_t rep, const addr_t *bound)
{
    out[0] = 5;
    out[1] = rep;
    out[2] = 0;
    return 3 + (size_t)put_addr_or_zero(bound, ADDR_FORM_SOCKS, out + 3);
}

int socks5_udp_parse(const uint8_t *b, size_t n, addr_t *dst)
{
    int rc;

    if (n < 4 || b[2] != 0)
        return -1;
    rc = addr_parse(b + 3, n - 3, ADDR_FORM_SOCKS, dst);
    return rc > 0 ? 3 + rc : -1;
}

size_t socks5_udp_header(uint8_t *out, const addr_t *src)
{
    out[0] = out[1] = out[2] = 0;
    return 3 + (size_t)put_addr_or_zero(src, ADDR_FORM_SOCKS, out + 3);
}

/* ---- SOCKS4 / 4a ---- */

/* A NUL-terminated string of at most 255 bytes at b[off..n). Sets *end to the
 * index after the NUL. */
static int socks4_string(const uint8_t *b, size_t n, size_t off, size_t *end)
{
    size_t lim = off + 256; /* 255 bytes + NUL */
    size_t k = n < lim ? n : lim;
    const uint8_t *z = off < k ? memchr(b + off, 0, k - off) : NULL;

    if (z) {
        *end = (size_t)(z - b) + 1;
        return INB_DONE;
    }
    return n >= lim ? INB_ERROR : INB_NEED_MORE;
}

int socks4_parse_request(const uint8_t *b, size_t n, size_t *used, addr_t *dst)
{
    size_t end, hend;
    int rc;

    if (n < 1)
        return INB_NEED_MORE;
    if (b[0] != 4)
        return INB_ERROR;
    if (n < 2)
        return INB_NEED_MORE;
    if (b[1] != 1)
        return INB_ERROR;
    if (n < 8)
        return INB_NEED_MORE;
    rc = socks4_string(b, n, 8, &end);
    if (rc != INB_DONE)
        return rc;

    addr_t t = { .port = (uint16_t)((b[2] << 8) | b[3]) };
    if (b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] != 0) {
        rc = socks4_string(b, n, end, &hend);
        if (rc != INB_DONE)
            return rc;
        if (hend - end < 2) /* empty host name */
            return INB_ERROR;
        t.type = ADDR_DOMAIN;
        t.name_len = (uint8_t)(hend - end - 1);
        memcpy(t.name, b + end, t.name_len + 1);
        end = hend;
    } else {
        t.type = ADDR_IPV4;
        memcpy(t.ip, b + 4, 4);
    }
    *dst = t;
    *used = end;
    return INB_DONE;
}

size_t socks4_reply(uint8_t *out, int granted)
{
    memset(out, 0, 8);
    out[1] = granted ? 0x5a : 0x5b;
    return 8;
}

/* ---- HTTP ---- */

typedef struct line {
    size_t start;   /* first byte */
    size_t end;     /* end of content (before CR LF / LF) */
    size_t next;    /* first byte after the LF */
} line_t;

/* Finds the end of the head: the first empty line. Lines end in LF, with an
 * optional CR before it. */
static int http_head(const uint8_t *b, size_t n, size_t *head_len)
{
    size_t lim = n < INB_HTTP_MAX_HEAD ? n : INB_HTTP_MAX_HEAD;
    size_t ls = 0;

    for (size_t i = 0; i < lim; i++) {
        if (b[i] != '\n')
            continue;
        size_t e = (i > ls && b[i - 1] == '\r') ? i - 1 : i;
        if (e == ls) {
            if (ls == 0)
                return INB_ERROR; /* no request line */
            *head_len = i + 1;
            return INB_DONE;
        }
        ls = i + 1;
    }
    return n >= INB_HTTP_MAX_HEAD ? INB_ERROR : INB_NEED_MORE;
}

static line_t next_line(const uint8_t *b, size_t pos)
{
    line_t l = { .start = pos };
    size_t i = pos;

    while (b[i] != '\n')
        i++;
    l.next = i + 1;
    l.end = (i > pos && b[i - 1] == '\r') ? i - 1 : i;
    return l;
}

static int is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int all_visible(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f)
            return 0;
    return 1;
}

/* host[:port] (IPv6 in brackets) with a default port; 0 or -1. */
static int parse_authority(const uint8_t *p, size_t len, int def_port, addr_t *dst)
{
    char tmp[300];
    const uint8_t *rb = len && p[0] == '[' ? memchr(p, ']', len) : NULL;
    const uint8_t *hostend = rb ? rb + 1 : p;
    int has_port = memchr(hostend, ':', len - (size_t)(hostend - p)) != NULL;

    if (len == 0 || len >= sizeof(tmp) - 8)
        return -1;
    if (!has_port && def_port < 0)
        return -1;
    memcpy(tmp, p, len);
    if (has_port)
        tmp[len] = '\0';
    else
        snprintf(tmp + len, sizeof(tmp) - len, ":%d", def_port);
    return addr_from_string(tmp, dst);
}

static int header_dropped(const uint8_t *name, size_t len)
{
    static const char *const drop[] = { "Proxy-Connection", "Proxy-Authorization" };

    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (len == strlen(drop[i]) && strncasecmp((const char *)name, drop[i], len) == 0)
            return 1;
    return 0;
}

int http_parse_request(const uint8_t *b, size_t n, size_t *used, int *is_connect,
                       addr_t *dst, uint8_t *out, size_t *out_len)
{
    size_t head;
    int rc = http_head(b, n, &head);

    if (rc != INB_DONE)
        return rc;

    /* Request line: METHOD SP target SP version */
    line_t rl = next_line(b, 0);
    const uint8_t *s = b + rl.start, *e = b + rl.end;
    const uint8_t *sp1 = memchr(s, ' ', (size_t)(e - s));
    if (!sp1 || sp1 == s)
        return INB_ERROR;
    const uint8_t *tgt = sp1 + 1;
    const uint8_t *sp2 = memchr(tgt, ' ', (size_t)(e - tgt));
    if (!sp2 || sp2 == tgt)
        return INB_ERROR;
    const uint8_t *ver = sp2 + 1;
    size_t mlen = (size_t)(sp1 - s), tlen = (size_t)(sp2 - tgt), vlen = (size_t)(e - ver);
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar(s[i]))
            return INB_ERROR;
    if (!all_visible(tgt, tlen) || !all_visible(ver, vlen) || vlen < 6 ||
        memcmp(ver, "HTTP/", 5) != 0)
        return INB_ERROR;

    if (mlen == 7 && memcmp(s, "CONNECT", 7) == 0) {
        if (parse_authority(tgt, tlen, -1, dst) < 0)
            return INB_ERROR;
        *is_connect = 1;
        *used = head;
        *out_len = 0;
        return INB_DONE;
    }

    if (tlen < 7 || strncasecmp((const char *)tgt, "http://", 7) != 0)
        return INB_ERROR;
    const uint8_t *auth = tgt + 7, *tend = tgt + tlen, *aend = auth;
    while (aend < tend && *aend != '/' && *aend != '?' && *aend != '#')
        aend++;
    for (const uint8_t *q = aend; q > auth; q--) {
        if (q[-1] == '@') { /* userinfo: not part of the destination */
            auth = q;
            break;
        }
    }
    if (parse_authority(auth, (size_t)(aend - auth), 80, dst) < 0)
        return INB_ERROR;
    const uint8_t *path = aend, *pend = memchr(aend, '#', (size_t)(tend - aend));
    if (!pend)
        pend = tend;

    /* Rewrite: never longer than the input, as "http://" alone outweighs the
     * "/" that may be added. */
    size_t o = 0;
    memcpy(out + o, s, mlen + 1);
    o += mlen + 1;
    if (path == pend || *path != '/')
        out[o++] = '/';
    memcpy(out + o, path, (size_t)(pend - path));
    o += (size_t)(pend - path);
    out[o++] = ' ';
    memcpy(out + o, ver, rl.next - (size_t)(ver - b)); /* version + line ending */
    o += rl.next - (size_t)(ver - b);

    int keep = -1; /* decision for the current header, followed by continuations */
    for (size_t pos = rl.next; pos < head;) {
        line_t l = next_line(b, pos);
        if (l.end == l.start) { /* the blank line */
            memcpy(out + o, b + l.start, l.next - l.start);
            o += l.next - l.start;
            break;
        }
        if (b[l.start] == ' ' || b[l.start] == '\t') {
            if (keep < 0)
                return INB_ERROR;
        } else {
            const uint8_t *colon = memchr(b + l.start, ':', l.end - l.start);
            if (!colon || colon == b + l.start)
                return INB_ERROR;
            keep = !header_dropped(b + l.start, (size_t)(colon - (b + l.start)));
        }
        if (keep) {
            memcpy(out + o, b + l.start, l.next - l.start);
            o += l.next - l.start;
        }
        pos = l.next;
    }
    *is_connect = 0;
    *used = head;
    *out_len = o;
    return INB_DONE;
}
