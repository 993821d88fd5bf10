/* lg_target.c -- targets from the flags, the Zipf draw, SOCKS5 address form
 * (lg_target.h). */
#include "lg_target.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "loadgen.h"
#include "lg_rng.h"

/* The draw table: cumulative probabilities of the targets in order. Built once
 * from the flags, read by lg_target_draw only. */
static double *lg_target_cdf;

int lg_target_parse(const char *arg, lg_target_t *t)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon) return -1;
    *colon = 0;
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (*e || port <= 0 || port > 65535) return -1;
    char *host = buf;
    if (*host == '[') {
        host++;
        char *rb = strchr(host, ']');
        if (!rb) return -1;
        *rb = 0;
    }
    memset(t, 0, sizeof *t);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&t->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        t->len = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        t->len = sizeof *s6;
    } else {
        return -1;
    }
    snprintf(t->text, sizeof t->text, "%s", arg);
    if (!bench_addr_allowed(&t->ss))
        bench_die("refusing %s: only 127/8, ::1 and 198.18.0.0/15 are allowed", arg);
    return 0;
}

static void lg_target_add(const lg_target_t *t)
{
    lg_config_t *c = &lg_cfg;
    if (c->ntargets == c->targets_cap) {
        c->targets_cap = c->targets_cap ? c->targets_cap * 2 : 64;
        c->targets = realloc(c->targets, (size_t)c->targets_cap * sizeof *c->targets);
        if (!c->targets) bench_die("out of memory");
    }
    c->targets[c->ntargets++] = *t;
}

void lg_target_add_range(const char *arg)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon) bench_die("--target-range wants A-B:PORT, got '%s'", arg);
    *colon = 0;
    const char *port = colon + 1;
    char *dash = strchr(buf, '-');
    if (dash) *dash = 0;
    struct in_addr a, b;
    if (inet_pton(AF_INET, buf, &a) != 1) bench_die("bad address in '%s'", arg);
    b = a;
    if (dash && inet_pton(AF_INET, dash + 1, &b) != 1) bench_die("bad address in '%s'", arg);
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo || hi - lo > 65535) bench_die("bad range '%s'", arg);
    for (uint32_t x = lo; x <= hi; x++) {
        char s[64];
        struct in_addr ia = {htonl(x)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ia, ip, sizeof ip);
        snprintf(s, sizeof s, "%s:%s", ip, port);
        lg_target_t t;
        if (lg_target_parse(s, &t) < 0) bench_die("bad target '%s'", s);
        lg_target_add(&t);
    }
}

void lg_target_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) bench_die("%s: %s", path, strerror(errno));
    char line[256];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        char *end = p + strcspn(p, " \t\r\n#");
        if (end == p) continue;
        *end = 0;
        lg_target_t t;
        if (lg_target_parse(p, &t) < 0) bench_die("%s:%d: bad target '%s' (want ip:port)", path, ln, p);
        lg_target_add(&t);
    }
    fclose(f);
}

void lg_target_zipf_init(void)
{
    int n = lg_cfg.ntargets;
    lg_target_cdf = malloc((size_t)n * sizeof *lg_target_cdf);
    if (!lg_target_cdf) bench_die("out of memory");
    double s = 0;
    for (int i = 0; i < n; i++) {
        s += 1.0 / pow((double)(i + 1), lg_cfg.zipf);
        lg_target_cdf[i] = s;
    }
    for (int i = 0; i < n; i++) lg_target_cdf[i] /= s;
    lg_target_cdf[n - 1] = 1.0;
}

int lg_target_draw(void)
{
    double u = lg_rng_u01();
    int lo = 0, hi = lg_cfg.ntargets - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (lg_target_cdf[mid] > u) hi = mid; else lo = mid + 1;
    }
    return lo;
}

size_t lg_target_put_socks(uint8_t *p, const lg_target_t *t)
{
    size_t k = 0;
    p[k++] = 5; p[k++] = 1; p[k++] = 0;
    if (t->ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&t->ss;
        p[k++] = 1;
        memcpy(p + k, &a->sin_addr, 4); k += 4;
        memcpy(p + k, &a->sin_port, 2); k += 2;
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&t->ss;
        p[k++] = 4;
        memcpy(p + k, &a->sin6_addr, 16); k += 16;
        memcpy(p + k, &a->sin6_port, 2); k += 2;
    }
    return k;
}
