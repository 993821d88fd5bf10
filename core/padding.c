/* padding.c -- the AnyTLS padding scheme, as the reference (anytls-go /
 * sing-anytls) parses and applies it. */
#include "padding.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

const char PADDING_DEFAULT[] =
    "stop=8\n"
    "0=30-30\n"
    "1=100-400\n"
    "2=400-500,c,500-1000,c,500-1000,c,500-1000,c,500-1000\n"
    "3=9-9,500-1000\n"
    "4=500-1000\n"
    "5=500-1000\n"
    "6=500-1000\n"
    "7=500-1000";

/* Go's strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no
 * spaces, must fit int64. */
static int parse_int64(const char *s, size_t len, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0, lim;

    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return -1;
    lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/* The reference looks line N up as the key strconv.Itoa(N): plain decimal, no
 * sign, no leading zeros. Returns the number or -1. */
static long line_number(const char *k, size_t len)
{
    long v = 0;

    if (len == 0 || len > 9 || (len > 1 && k[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (k[i] - '0');
    }
    return v;
}

/* One comma-separated item: "c", or "a-b" with a, b > 0 (the reference skips
 * non-positive values). Returns 1 if an item was stored in *r. */
static int parse_item(const char *s, size_t len, padding_range_t *r)
{
    const char *dash;
    long long a, b;

    if (len == 1 && s[0] == 'c') {
        r->min = r->max = PADDING_CHECK;
        return 1;
    }
    dash = memchr(s, '-', len);
    if (!dash || memchr(dash + 1, '-', len - (size_t)(dash + 1 - s)))
        return 0;
    if (parse_int64(s, (size_t)(dash - s), &a) ||
        parse_int64(dash + 1, len - (size_t)(dash + 1 - s), &b))
        return 0;
    if (a > b) {
        long long t = a; a = b; b = t;
    }
    if (a <= 0 || b > INT32_MAX)
        return 0;
    r->min = (int32_t)a;
    r->max = (int32_t)b;
    return 1;
}

static void parse_line(padding_scheme_t *s, int pkt, const char *v, size_t len)
{
    const char *end = v + len;
    int n = 0;

    while (n < PADDING_MAX_LINE) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        if (parse_item(v, (size_t)(e - v), &s->items[pkt][n]))
            n++;
        if (!comma)
            break;
        v = comma + 1;
    }
    s->nitems[pkt] = (uint8_t)n;
}

static void md5_hex(const char *text, size_t len, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(text, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
        memset(out, '0', 32);
        out[32] = '\0';
        return;
    }
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

padding_scheme_t *padding_parse(const char *text, size_t len)
{
    padding_scheme_t *s = calloc(1, sizeof(*s));
    const char *p = text, *end = text + len;
    int have_stop = 0;

    if (!s)
        return NULL;
    s->raw = malloc(len + 1);
    if (!s->raw) {
        free(s);
        return NULL;
    }
    if (len)
        memcpy(s->raw, text, len);
    s->raw[len] = '\0';
    s->raw_len = len;
    md5_hex(text, len, s->md5);

    /* The reference builds a map from the lines, so a later duplicate key wins;
     * re-parsing a line overwrites it the same way. */
    while (len && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(le - p));
        if (eq) {
            size_t klen = (size_t)(eq - p);
            const char *v = eq + 1;
            size_t vlen = (size_t)(le - v);
            if (klen == 4 && memcmp(p, "stop", 4) == 0) {
                long long st;
                /* Go's Atoi on a 64-bit int, then uint32() truncation. */
                have_stop = parse_int64(v, vlen, &st) == 0;
                if (have_stop)
                    s->stop = (uint32_t)st;
            } else {
                long pkt = line_number(p, klen);
                if (pkt >= 0 && pkt < PADDING_MAX_PKTS)
                    parse_line(s, (int)pkt, v, vlen);
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (!have_stop) {
        padding_free(s);
        return NULL;
    }
    return s;
}

padding_scheme_t *padding_default(void)
{
    return padding_parse(PADDING_DEFAULT, sizeof(PADDING_DEFAULT) - 1);
}

void padding_free(padding_scheme_t *s)
{
    if (!s)
        return;
    free(s->raw);
    free(s);
}

/* Uniform in [0, n) from OpenSSL's RAND, without modulo bias. */
static uint32_t rand_below(uint32_t n)
{
    uint32_t lim = UINT32_MAX - UINT32_MAX % n, v;

    do {
        if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
            abort(); /* no randomness: better to stop than pad predictably */
    } while (v >= lim);
    return v % n;
}

int padding_sizes(const padding_scheme_t *s, uint32_t pkt, int32_t *out, int max,
                  padding_rng_t rng, void *rng_arg)
{
    int n = 0;

    if (pkt >= PADDING_MAX_PKTS)
        return 0;
    for (int i = 0; i < s->nitems[pkt] && n < max; i++) {
        const padding_range_t *r = &s->items[pkt][i];
        if (r->min == PADDING_CHECK) {
            out[n++] = PADDING_CHECK;
        } else if (r->min == r->max) {
            out[n++] = r->min;
        } else {
            uint32_t span = (uint32_t)(r->max - r->min);
            uint32_t x = rng ? rng(rng_arg, span) : rand_below(span);
            out[n++] = r->min + (int32_t)(x % span);
        }
    }
    return n;
}

int padding_auth_len(const padding_scheme_t *s, padding_rng_t rng, void *rng_arg)
{
    int32_t sz[PADDING_MAX_LINE];
    int n = padding_sizes(s, 0, sz, PADDING_MAX_LINE, rng, rng_arg);

    return n > 0 && sz[0] > 0 ? sz[0] : 0;
}

void padding_plan(const padding_scheme_t *s, uint32_t pkt, size_t len,
                  padding_plan_t *plan, padding_rng_t rng, void *rng_arg)
{
    int32_t sz[PADDING_MAX_LINE];
    size_t left = len;
    int n;

    plan->nrec = 0;
    plan->rest = len;
    if (pkt >= s->stop)
        return;
    n = padding_sizes(s, pkt, sz, PADDING_MAX_LINE, rng, rng_arg);
    for (int i = 0; i < n; i++) {
        padding_rec_t *r = &plan->rec[plan->nrec];
        if (sz[i] == PADDING_CHECK) {
            if (left == 0)
                break;
            continue;
        }
        size_t l = (size_t)sz[i];
        if (left > l) {
            r->take = (uint32_t)l;
            r->waste = -1;
            left -= l;
        } else if (left > 0) {
            r->take = (uint32_t)left;
            r->waste = l - left > 7 ? (int32_t)(l - left - 7) : -1;
            left = 0;
        } else {
            r->take = 0;
            r->waste = sz[i];
        }
        plan->nrec++;
    }
    plan->rest = left;
}
