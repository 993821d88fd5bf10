/* target_policy.c -- the SSRF guard (target_policy.h): fixed denied ranges,
 * the server's own addresses, and an allow list, all as 128-bit prefixes
 * (IPv4 as ::ffff:a.b.c.d). */
#include "target_policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prefix {
    uint8_t a[16];
    int bits;
} prefix_t;

struct tpol {
    int deny_private;
    prefix_t *allow, *own;
    int nallow, nown;
};

/* The denied ranges, IPv4 ones written as v4-mapped /96 + bits. */
static const struct { const char *net; int bits; } denied[] = {
    {"0.0.0.0", 8}, {"10.0.0.0", 8}, {"100.64.0.0", 10}, {"127.0.0.0", 8}, {"169.254.0.0", 16},
    {"172.16.0.0", 12}, {"192.0.0.0", 24}, {"192.168.0.0", 16}, {"198.18.0.0", 15},
    {"224.0.0.0", 4}, {"240.0.0.0", 4},
    {"::", 128}, {"::1", 128}, {"fe80::", 10}, {"fc00::", 7}, {"ff00::", 8},
};

static int parse_addr(const char *s, uint8_t out[16], int *v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = 1;
        return 0;
    }
    *v4 = 0;
    return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

static int parse_prefix(const char *s, prefix_t *p)
{
    char buf[80];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1) return -1;
    }
    int v4;
    if (parse_addr(buf, p->a, &v4) < 0) return -1;
    int max = v4 ? 32 : 128;
    if (bits < 0) bits = max;
    if (bits > max) return -1;
    p->bits = (int)bits + (v4 ? 96 : 0);
    return 0;
}

static int in_prefix(const uint8_t a[16], const prefix_t *p)
{
    int full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(a, p->a, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (p->a[full] & mask);
}

/* Parses "CIDR,CIDR"; *out NULL when list is NULL or empty. */
static int parse_list(const char *list, prefix_t **out, int *n, char *err, size_t cap)
{
    *out = NULL;
    *n = 0;
    if (!list || !*list) return 0;
    int count = 1;
    for (const char *c = list; *c; c++) count += *c == ',';
    prefix_t *v = calloc((size_t)count, sizeof *v);
    if (!v) { snprintf(err, cap, "out of memory"); return -1; }
    const char *p = list;
    for (int i = 0; i < count; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[80];
        if (len == 0 || len >= sizeof item) {
            snprintf(err, cap, "item %d of the list is empty or too long", i + 1);
            free(v);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        if (parse_prefix(item, &v[i]) < 0) {
            snprintf(err, cap, "'%s' is not an address or CIDR", item);
            free(v);
            return -1;
        }
        p = e ? e + 1 : p + len;
    }
    *out = v;
    *n = count;
    return 0;
}

int tpol_check_list(const char *allow, char *err, size_t errcap)
{
    prefix_t *v;
    int n;
    if (parse_list(allow, &v, &n, err, errcap) < 0) return -1;
    free(v);
    return 0;
}

/* Every address of this host's interfaces (snapshot at start). */
static void own_addresses(tpol_t *p)
{
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) < 0) return;
    int n = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) n += i->ifa_addr != NULL;
    p->own = calloc((size_t)(n ? n : 1), sizeof *p->own);
    for (struct ifaddrs *i = ifa; p->own && i; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        prefix_t *o = &p->own[p->nown];
        if (sa && sa->sa_family == AF_INET) {
            memset(o->a, 0, 10);
            o->a[10] = o->a[11] = 0xff;
            memcpy(o->a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
            o->bits = 128;
            p->nown++;
        } else if (sa && sa->sa_family == AF_INET6) {
            memcpy(o->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
            o->bits = 128;
            p->nown++;
        }
    }
    freeifaddrs(ifa);
}

tpol_t *tpol_new(int deny_private, const char *allow, char *err, size_t errcap)
{
    tpol_t *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, errcap, "out of memory"); return NULL; }
    p->deny_private = deny_private;
    if (parse_list(allow, &p->allow, &p->nallow, err, errcap) < 0) { free(p); return NULL; }
    if (deny_private) own_addresses(p);
    return p;
}

void tpol_free(tpol_t *p)
{
    if (!p) return;
    free(p->allow);
    free(p->own);
    free(p);
}

static int denied_addr(const tpol_t *p, const uint8_t a[16])
{
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        prefix_t d;
        parse_prefix(denied[i].net, &d);
        d.bits = denied[i].bits + (strchr(denied[i].net, ':') ? 0 : 96);
        if (in_prefix(a, &d)) return 1;
    }
    for (int i = 0; i < p->nown; i++)
        if (in_prefix(a, &p->own[i])) return 1;
    return 0;
}

int tpol_allows(const tpol_t *p, const struct sockaddr *sa)
{
    if (!p || !p->deny_private) return 1;
    uint8_t a[16];
    if (sa->sa_family == AF_INET) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return 0;
    }
    for (int i = 0; i < p->nallow; i++)
        if (in_prefix(a, &p->allow[i])) return 1;
    if (denied_addr(p, a)) return 0;
    /* IPv4 carried inside IPv6: NAT64 (64:ff9b::/96) and 6to4 (2002:V4::/48) */
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    uint8_t e[16] = {0};
    e[10] = e[11] = 0xff;
    if (memcmp(a, nat64, 12) == 0) memcpy(e + 12, a + 12, 4);
    else if (a[0] == 0x20 && a[1] == 0x02) memcpy(e + 12, a + 2, 4);
    else return 1;
    for (int i = 0; i < p->nallow; i++)
        if (in_prefix(e, &p->allow[i])) return 1;
    return !denied_addr(p, e);
}
