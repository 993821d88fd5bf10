/* users.c -- the user table: parsing, ids and the constant-time lookup (users.h). */
#include "users.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS_SLOTS 4        /* compared per lookup: a bucket's slots, all of them */
#define USERS_LINE_MAX 1024
#define USERS_FILE_MAX (1 << 20)

typedef struct uent {
    uint8_t hash[32];
    int32_t id;
    int line;                /* where it was defined (0: -p) */
    char name[USERS_NAME_MAX + 1];
} uent_t;

struct users {
    int n;
    uent_t *e;               /* n users, then one dummy (id -1, random hash) */
    uint8_t salt[32];
    uint32_t nbuckets;       /* a power of two */
    uint16_t *slot;          /* nbuckets * USERS_SLOTS entry indexes; n = the dummy */
    int16_t by_id[USERS_MAX]; /* id -> entry index, -1 */
};

static void fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* The bucket of a hash: keyed, so its value tells a prober nothing. */
static uint32_t bucket_of(const users_t *u, const uint8_t hash[32])
{
    uint8_t in[64], out[32];
    memcpy(in, u->salt, 32);
    memcpy(in + 32, hash, 32);
    SHA256(in, sizeof in, out);
    return ((uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3]) & (u->nbuckets - 1);
}

int users_find(const users_t *u, const uint8_t hash[32])
{
    const uint16_t *s = u->slot + (size_t)bucket_of(u, hash) * USERS_SLOTS;
    uint32_t res = UINT32_MAX;   /* -1 */
    for (int k = 0; k < USERS_SLOTS; k++) {
        const uent_t *e = &u->e[s[k]];
        /* CRYPTO_memcmp: 0 if equal, else non-zero, with no early exit. mask:
         * all ones when equal, zero otherwise, computed without a branch
         * (d | -d has its top bit set exactly when d != 0). */
        uint32_t d = (uint32_t)CRYPTO_memcmp(e->hash, hash, 32);
        uint32_t mask = ((d | (0u - d)) >> 31) - 1u;
        res = (res & ~mask) | ((uint32_t)e->id & mask);
    }
    return (int)(int32_t)res;
}

const char *users_name(const users_t *u, int id)
{
    if (id < 0 || id >= USERS_MAX || u->by_id[id] < 0) return NULL;
    return u->e[u->by_id[id]].name;
}

const uint8_t *users_hash(const users_t *u, int id)
{
    if (id < 0 || id >= USERS_MAX || u->by_id[id] < 0) return NULL;
    return u->e[u->by_id[id]].hash;
}

int users_count(const users_t *u) { return u->n; }

void users_free(users_t *u)
{
    if (!u) return;
    if (u->e) OPENSSL_cleanse(u->e, sizeof *u->e * (size_t)(u->n + 1));
    free(u->e);
    free(u->slot);
    free(u);
}

static void index_ids(users_t *u)
{
    for (int i = 0; i < USERS_MAX; i++) u->by_id[i] = -1;
    for (int i = 0; i < u->n; i++) u->by_id[u->e[i].id] = (int16_t)i;
}

/* Buckets: twice as many as users (at least 16), grown until no bucket holds
 * more than USERS_SLOTS users. Empty slots point at the dummy. */
static int build_buckets(users_t *u)
{
    for (uint32_t nb = 16; nb <= 16u * USERS_MAX; nb *= 2) {
        if (nb < 2u * (uint32_t)u->n) continue;
        uint16_t *slot = malloc((size_t)nb * USERS_SLOTS * sizeof *slot);
        if (!slot) return -1;
        for (size_t i = 0; i < (size_t)nb * USERS_SLOTS; i++) slot[i] = (uint16_t)u->n;
        free(u->slot);
        u->slot = slot;
        u->nbuckets = nb;
        int ok = 1;
        for (int i = 0; i < u->n && ok; i++) {
            uint16_t *s = slot + (size_t)bucket_of(u, u->e[i].hash) * USERS_SLOTS;
            int k = 0;
            while (k < USERS_SLOTS && s[k] != u->n) k++;
            if (k == USERS_SLOTS) ok = 0;
            else s[k] = (uint16_t)i;
        }
        if (ok) return 0;
    }
    return -1;
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > USERS_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Adds a user; checks the name and password against those already there. */
static int add_user(users_t *u, const char *name, size_t nlen, const char *pw, size_t plen, int line,
                    const char *origin, char *err, size_t cap)
{
    const char *where = line ? origin : "-p";
    char at[16] = "";
    if (line) snprintf(at, sizeof at, ":%d", line);
    if (u->n >= USERS_MAX) { fail(err, cap, "%s%s: more than %d users", where, at, USERS_MAX); return -1; }
    uent_t *e = &u->e[u->n];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, nlen);
    e->line = line;
    e->id = u->n;
    SHA256((const unsigned char *)pw, plen, e->hash);
    for (int i = 0; i < u->n; i++) {
        const uent_t *o = &u->e[i];
        char first[40];
        if (o->line) snprintf(first, sizeof first, "line %d", o->line);
        else snprintf(first, sizeof first, "-p");
        if (strcmp(o->name, e->name) == 0) {
            fail(err, cap, "%s%s: user '%s' is listed twice (first: %s)%s", where, at, e->name, first,
                 o->line ? "" : "; '" USERS_DEFAULT "' is the name of -p PASSWORD's user");
            return -1;
        }
        if (memcmp(o->hash, e->hash, 32) == 0) {
            fail(err, cap, "%s%s: user '%s' has the same password as '%s' (%s); passwords must differ",
                 where, at, e->name, o->name, first);
            return -1;
        }
    }
    u->n++;
    return 0;
}

static int parse_lines(users_t *u, const char *text, size_t len, const char *origin, char *err, size_t cap)
{
    int line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - l) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n > USERS_LINE_MAX) { fail(err, cap, "%s:%d: line longer than %d bytes", origin, line, USERS_LINE_MAX); return -1; }
        while (n && is_space(*l)) { l++; n--; }
        while (n && is_space(l[n - 1])) n--;
        if (n == 0 || *l == '#') continue;
        const char *colon = memchr(l, ':', n);
        if (!colon) { fail(err, cap, "%s:%d: not name:password", origin, line); return -1; }
        size_t nlen = (size_t)(colon - l);
        if (memchr(l, '\0', n)) { fail(err, cap, "%s:%d: a NUL byte", origin, line); return -1; }
        if (!name_ok(l, nlen)) {
            fail(err, cap, "%s:%d: bad user name (1-%d of A-Z a-z 0-9 . _ - @)", origin, line, USERS_NAME_MAX);
            return -1;
        }
        const char *pw = colon + 1;
        size_t plen = n - nlen - 1;
        while (plen && is_space(*pw)) { pw++; plen--; }
        if (plen == 0) { fail(err, cap, "%s:%d: empty password", origin, line); return -1; }
        if (add_user(u, l, nlen, pw, plen, line, origin, err, cap) < 0) return -1;
    }
    return 0;
}

users_t *users_parse(const char *text, size_t len, const char *origin, const char *default_pass,
                     char *err, size_t cap)
{
    users_t *u = calloc(1, sizeof *u);
    if (u) u->e = calloc(USERS_MAX + 1, sizeof *u->e);
    if (!u || !u->e) { users_free(u); fail(err, cap, "out of memory"); return NULL; }
    if (RAND_bytes(u->salt, sizeof u->salt) != 1) { users_free(u); fail(err, cap, "no random bytes"); return NULL; }
    if ((default_pass && add_user(u, USERS_DEFAULT, strlen(USERS_DEFAULT), default_pass, strlen(default_pass),
                                  0, origin, err, cap) < 0) ||
        (text && parse_lines(u, text, len, origin, err, cap) < 0)) {
        users_free(u);
        return NULL;
    }
    if (u->n == 0) {
        fail(err, cap, "%s: no users (lines name:password)%s", origin ? origin : "users", default_pass ? "" : " and no -p");
        users_free(u);
        return NULL;
    }
    /* the dummy: empty slots are compared against it, and it matches nothing */
    uent_t *d = &u->e[u->n];
    d->id = -1;
    if (RAND_bytes(d->hash, sizeof d->hash) != 1 || build_buckets(u) < 0) {
        users_free(u);
        fail(err, cap, "out of memory");
        return NULL;
    }
    index_ids(u);
    return u;
}

users_t *users_load(const char *file, const char *default_pass, char *err, size_t cap)
{
    if (!file) return users_parse(NULL, 0, "-p", default_pass, err, cap);
    FILE *f = fopen(file, "rb");
    if (!f) { fail(err, cap, "%s: %s", file, strerror(errno)); return NULL; }
    char *buf = malloc(USERS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, USERS_FILE_MAX + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    users_t *u = NULL;
    if (!buf) fail(err, cap, "out of memory");
    else if (rerr) fail(err, cap, "%s: read error", file);
    else if (n > USERS_FILE_MAX) fail(err, cap, "%s: larger than %d bytes", file, USERS_FILE_MAX);
    else u = users_parse(buf, n, file, default_pass, err, cap);
    if (buf) { OPENSSL_cleanse(buf, n); free(buf); }
    return u;
}

int users_adopt_ids(users_t *u, const users_t *old, const uint8_t *busy, char *err, size_t cap)
{
    uint8_t used[USERS_MAX] = {0};
    for (int i = 0; i < u->n; i++) {
        u->e[i].id = -1;
        for (int j = 0; old && j < old->n; j++)
            if (strcmp(old->e[j].name, u->e[i].name) == 0) { u->e[i].id = old->e[j].id; used[old->e[j].id] = 1; }
    }
    int next = 0;
    for (int i = 0; i < u->n; i++) {
        if (u->e[i].id >= 0) continue;
        while (next < USERS_MAX && (used[next] || (busy && busy[next]))) next++;
        if (next == USERS_MAX) {
            fail(err, cap, "no free user id (removed users' ids are freed once every worker let them go)");
            return -1;
        }
        u->e[i].id = next;
        used[next] = 1;
    }
    index_ids(u);
    return 0;
}
