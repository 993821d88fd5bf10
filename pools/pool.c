/* pool.c -- the registry of pool implementations and what they share:
 * defaults, the spare liveness check, and the two log lines. */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* THE list of pool types, in the order --list-pool-types prints them (simplest
 * first after the baseline). Type X is `const pool_ops_t pool_X_ops` in
 * pools/pool_X.c, whose .name is what --pool-type takes. Adding a type is that
 * file and one X(...) here: everything else (--pool-type, --list-pool-types,
 * the contract and stress suites, the benchmark, the experiment scripts) reads
 * this list. */
#define POOL_REGISTRY(X) X(none) X(lock) X(lockfree) X(highperf)
/* The default --pool-type: lock, measured (paper, "The default pool type and
 * why"; data of 2e20f4d). At saturation on 2 cores no pool type sustained a
 * higher rate than lock (paired, 5 blocks): highperf could not be told apart
 * at 1 and 2 workers and was lower oversubscribed, lockfree was lower at 2
 * workers; lock spent the least server CPU in pool code (0.4% against 0.8-1.3%
 * for highperf, 1.2-1.3% for lockfree) and its projected share stays under 10%
 * of a stream's CPU longest. On a tie the simplest type is the default. */
#define POOL_DEFAULT lock

#define POOL_DECLARE(t) extern const pool_ops_t pool_##t##_ops;
POOL_REGISTRY(POOL_DECLARE)
#define POOL_ENTRY(t) &pool_##t##_ops,
static const pool_ops_t *const registry[] = {POOL_REGISTRY(POOL_ENTRY)};
#define NREGISTRY ((int)(sizeof registry / sizeof registry[0]))

int pool_count(void) { return NREGISTRY; }

#define POOL_OPS_OF(t) pool_##t##_ops
#define POOL_OPS(t) POOL_OPS_OF(t)
const char *pool_default_type(void) { return POOL_OPS(POOL_DEFAULT).name; }

const pool_ops_t *pool_at(int i) { return i >= 0 && i < NREGISTRY ? registry[i] : NULL; }

const pool_ops_t *pool_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < NREGISTRY; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

/* Built once from the registry's .name fields (not from the X list's
 * identifiers: the names --pool-type matches are the ones to show). */
static char names_text[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_build(void)
{
    size_t len = 0;
    for (int i = 0; i < NREGISTRY; i++) {
        int n = snprintf(names_text + len, sizeof names_text - len, "%s%s", i ? ", " : "", registry[i]->name);
        if (n < 0 || (size_t)n >= sizeof names_text - len) break; /* cannot happen with short names */
        len += (size_t)n;
    }
}

const char *pool_names(void)
{
    pthread_once(&names_once, names_build);
    return names_text;
}

void pool_config_defaults(pool_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->max_conns = 100;
    c->max_idle_ms = 300 * 1000;
    c->min_idle = 5;
    c->max_targets = 1024;
    c->nworkers = 1;
}

int pool_open(pool_handle_t *h, const char *type, const pool_config_t *cfg)
{
    h->ops = NULL;
    h->impl = NULL;
    const pool_ops_t *ops = pool_find(type);
    if (!ops) return -1;
    pool_t *impl = ops->create(cfg);
    if (!impl) return -1;
    h->ops = ops;
    h->impl = impl;
    return 0;
}

void pool_close(pool_handle_t *h)
{
    if (h->ops && h->impl) h->ops->destroy(h->impl);
    h->ops = NULL;
    h->impl = NULL;
}

int pool_spare_alive(int fd)
{
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0) return 1;                 /* a banner is waiting: fine */
    if (r == 0) return 0;                /* the target closed it */
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* ---- the log lines ---- */

/* A bounded string builder: appends what fits and remembers that something
 * did not; sb_finish then ends the text with "...". */
typedef struct sbuf {
    char *buf;
    size_t cap, len;
    int truncated;
} sbuf_t;

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    if (b->truncated) return;
    size_t room = b->cap - 1 - b->len; /* one byte for the NUL */
    if (n > room) {
        n = room;
        b->truncated = 1;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    sb_putn(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* JSON string body: quote, backslash and control characters escaped. */
static void sb_json_string(sbuf_t *b, const char *s)
{
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"') sb_puts(b, "\\\"");
        else if (*p == '\\') sb_puts(b, "\\\\");
        else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
        else sb_putn(b, (const char *)p, 1);
    }
    sb_puts(b, "\"");
}

/* After a truncation the buffer is full: its last three characters become
 * "..." (fewer if the buffer is tiny). */
static size_t sb_finish(sbuf_t *b)
{
    if (b->cap == 0) return 0;
    if (b->truncated) {
        size_t n = b->len < 3 ? b->len : 3;
        memcpy(b->buf + b->len - n, "...", n);
    }
    b->buf[b->len] = '\0';
    return b->len;
}

size_t pool_format_stats(const pool_stats_t *s, char *buf, size_t cap)
{
    sbuf_t b = {buf, cap, 0, cap == 0};
    if (cap) buf[0] = '\0';
    sb_printf(&b, "[Pool Stats] Total: %llu, Active: %llu, Reused: %llu, New: %llu, Cleaned: %llu",
              (unsigned long long)s->total, (unsigned long long)s->active,
              (unsigned long long)s->reused, (unsigned long long)s->created,
              (unsigned long long)s->cleaned);
    return sb_finish(&b);
}

typedef struct status_ctx {
    sbuf_t *b;
    int n;
} status_ctx_t;

static void status_entry(const char *key, int idle, void *arg)
{
    status_ctx_t *c = arg;
    if (c->n++) sb_puts(c->b, ", ");
    sb_json_string(c->b, key);
    sb_printf(c->b, ": %d", idle);
}

size_t pool_format_status(pool_handle_t *h, char *buf, size_t cap)
{
    sbuf_t b = {buf, cap, 0, cap == 0};
    if (cap) buf[0] = '\0';
    status_ctx_t c = {&b, 0};
    sb_puts(&b, "[Pool Status] {");
    if (h && h->ops && h->impl) pool_status(h, status_entry, &c);
    sb_puts(&b, "}");
    return sb_finish(&b);
}
