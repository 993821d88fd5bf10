/* uri.c -- the client's server argument: "host:port" or an anytls:// URI. */
#include "uri.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out (cap bytes, NUL-terminated). -1 on a bad
 * escape, an encoded NUL, or overflow. */
static int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return -1;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_hostport(const char *s, size_t len, server_uri_t *u, char *err, size_t errcap)
{
    const char *host = s, *port = NULL;
    size_t hlen, plen;
    unsigned long p = 0;

    if (len == 0)
        return fail(err, errcap, "missing host:port");
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb)
            return fail(err, errcap, "missing ']' after IPv6 address in '%.*s'", (int)len, s);
        host = s + 1;
        hlen = (size_t)(rb - host);
        if ((size_t)(rb + 1 - s) < len) {
            if (rb[1] != ':')
                return fail(err, errcap, "unexpected text after ']' in '%.*s'", (int)len, s);
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
            return fail(err, errcap, "IPv6 address must be in brackets, as [%.*s]:port",
                        (int)len, s);
        hlen = colon ? (size_t)(colon - s) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0)
        return fail(err, errcap, "empty host in '%.*s'", (int)len, s);
    if (hlen >= sizeof(u->host))
        return fail(err, errcap, "host name too long (%zu bytes, at most 255)", hlen);
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= 0x20 || host[i] == 0x7f)
            return fail(err, errcap, "invalid character in host '%.*s'", (int)hlen, host);

    plen = port ? len - (size_t)(port - s) : 0;
    if (!port || plen == 0)
        return fail(err, errcap, "missing port in '%.*s' (expected host:port)", (int)len, s);
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return fail(err, errcap, "invalid port '%.*s'", (int)plen, port);
        if (p <= 65535)
            p = p * 10 + (unsigned long)(port[i] - '0');
    }
    if (p < 1 || p > 65535)
        return fail(err, errcap, "port %.*s out of range (1-65535)", (int)plen, port);

    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    snprintf(u->port, sizeof(u->port), "%lu", p);
    return 0;
}

static int parse_query(const char *q, size_t len, server_uri_t *u, char *err, size_t errcap)
{
    const char *end = q + len;
    int have_sni = 0;

    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        /* A repeated key: the first one counts, as with Go's url.Values.Get. */
        if (eq && eq - q == 3 && memcmp(q, "sni", 3) == 0 && !have_sni++) {
            if (pct_decode(eq + 1, (size_t)(pe - eq - 1), u->sni, sizeof(u->sni)) < 0)
                return fail(err, errcap, "bad sni value '%.*s'", (int)(pe - eq - 1), eq + 1);
        }
        q = amp ? amp + 1 : end;
    }
    return 0;
}

int uri_parse(const char *s, server_uri_t *u, char *err, size_t errcap)
{
    const char *sep = strstr(s, "://");
    const char *a, *aend, *at = NULL, *end;

    memset(u, 0, sizeof(*u));
    if (err && errcap)
        err[0] = '\0';
    if (!sep)
        return parse_hostport(s, strlen(s), u, err, errcap);
    if (sep - s != 6 || strncasecmp(s, "anytls", 6) != 0)
        return fail(err, errcap, "unknown scheme '%.*s' (expected anytls://)", (int)(sep - s), s);

    a = sep + 3;
    end = a + strlen(a);
    aend = a + strcspn(a, "/?#");
    for (const char *p = aend; p > a; p--) {
        if (p[-1] == '@') {
            at = p - 1;
            break;
        }
    }
    if (at) {
        if (pct_decode(a, (size_t)(at - a), u->password, sizeof(u->password)) < 0)
            return fail(err, errcap, "bad password in URI (invalid %%-escape or longer than 255 bytes)");
        u->has_password = 1;
        a = at + 1;
    }
    if (parse_hostport(a, (size_t)(aend - a), u, err, errcap) < 0)
        return -1;

    /* The path is ignored; the query may name the SNI; a #fragment is a label. */
    const char *frag = strchr(aend, '#');
    const char *q = memchr(aend, '?', (size_t)((frag ? frag : end) - aend));
    if (q && parse_query(q + 1, (size_t)((frag ? frag : end) - q - 1), u, err, errcap) < 0)
        return -1;
    return 0;
}
