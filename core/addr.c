/* addr.c -- SOCKS5-form and UoT-form destination addresses. */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type bytes of each form, indexed by enum addr_form. */
static const uint8_t TYPE_V4[2] = { 0x01, 0x00 };
static const uint8_t TYPE_V6[2] = { 0x04, 0x01 };
static const uint8_t TYPE_NAME[2] = { 0x03, 0x02 };

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

int addr_parse(const uint8_t *buf, size_t n, int form, addr_t *out)
{
    size_t need;
    int f = form == ADDR_FORM_UOT;
    addr_t t, *a = &t; /* *out is left alone unless the parse succeeds */

    if (n < 1)
        return 0;
    memset(a, 0, sizeof(*a));
    if (buf[0] == TYPE_V4[f]) {
        need = 1 + 4 + 2;
        if (n < need)
            return 0;
        a->type = ADDR_IPV4;
        memcpy(a->ip, buf + 1, 4);
    } else if (buf[0] == TYPE_V6[f]) {
        need = 1 + 16 + 2;
        if (n < need)
            return 0;
        a->type = ADDR_IPV6;
        memcpy(a->ip, buf + 1, 16);
    } else if (buf[0] == TYPE_NAME[f]) {
        if (n < 2)
            return 0;
        if (buf[1] == 0)
            return -1;
        need = 2 + (size_t)buf[1] + 2;
        if (n < need)
            return 0;
        if (memchr(buf + 2, '\0', buf[1]))
            return -1;
        a->type = ADDR_DOMAIN;
        a->name_len = buf[1];
        memcpy(a->name, buf + 2, buf[1]);
        a->name[buf[1]] = '\0';
    } else {
        return -1;
    }
    a->port = get16(buf + need - 2);
    *out = t;
    return (int)need;
}

int addr_encode(const addr_t *a, int form, uint8_t *buf, size_t cap)
{
    int f = form == ADDR_FORM_UOT;
    size_t len;

    switch (a->type) {
    case ADDR_IPV4:
        len = 1 + 4 + 2;
        if (cap < len)
            return -1;
        buf[0] = TYPE_V4[f];
        memcpy(buf + 1, a->ip, 4);
        break;
    case ADDR_IPV6:
        len = 1 + 16 + 2;
        if (cap < len)
            return -1;
        buf[0] = TYPE_V6[f];
        memcpy(buf + 1, a->ip, 16);
        break;
    case ADDR_DOMAIN:
        if (a->name_len == 0)
            return -1;
        len = 2 + (size_t)a->name_len + 2;
        if (cap < len)
            return -1;
        buf[0] = TYPE_NAME[f];
        buf[1] = a->name_len;
        memcpy(buf + 2, a->name, a->name_len);
        break;
    default:
        return -1;
    }
    buf[len - 2] = (uint8_t)(a->port >> 8);
    buf[len - 1] = (uint8_t)a->port;
    return (int)len;
}

int addr_format(const addr_t *a, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];

    switch (a->type) {
    case ADDR_IPV4:
        inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
        return snprintf(buf, cap, "%s:%u", ip, a->port);
    case ADDR_IPV6:
        inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
        return snprintf(buf, cap, "[%s]:%u", ip, a->port);
    case ADDR_DOMAIN:
        return snprintf(buf, cap, "%.*s:%u", (int)a->name_len, a->name, a->port);
    default:
        return snprintf(buf, cap, "?:%u", a->port);
    }
}

int addr_from_string(const char *s, addr_t *out)
{
    const char *colon, *host = s, *port;
    size_t hlen;
    char tmp[256];
    unsigned long p = 0;
    addr_t t, *a = &t; /* *out is left alone unless the parse succeeds */

    memset(a, 0, sizeof(*a));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(rb - host);
        port = rb + 2;
        if (hlen == 0 || hlen >= sizeof(tmp))
            return -1;
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, a->ip) != 1)
            return -1;
        a->type = ADDR_IPV6;
    } else {
        colon = strchr(s, ':');
        /* An unbracketed IPv6 literal has more than one colon: ambiguous. */
        if (!colon || strchr(colon + 1, ':'))
            return -1;
        hlen = (size_t)(colon - s);
        port = colon + 1;
        if (hlen == 0 || hlen > 255)
            return -1;
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET, tmp, a->ip) == 1) {
            a->type = ADDR_IPV4;
        } else {
            a->type = ADDR_DOMAIN;
            a->name_len = (uint8_t)hlen;
            memcpy(a->name, tmp, hlen + 1);
        }
    }
    if (*port == '\0' || strlen(port) > 5)
        return -1;
    for (const char *q = port; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p > 65535)
        return -1;
    a->port = (uint16_t)p;
    *out = t;
    return 0;
}

int addr_ip_literal(addr_t *a)
{
    /* A domain that is really an IP literal needs no lookup. */
    addr_t t;
    char hp[300];
    if (a->type != ADDR_DOMAIN) return 0;
    snprintf(hp, sizeof hp, strchr(a->name, ':') ? "[%s]:%u" : "%s:%u", a->name, a->port);
    if (addr_from_string(hp, &t) == 0 && t.type != ADDR_DOMAIN) { *a = t; return 1; }
    return 0;
}
