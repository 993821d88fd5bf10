/* dns_cache.c -- bounded LRU of resolver answers (dns_cache.h). */
#include "dns_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct dns_centry {
    struct dns_centry *hnext;           /* bucket chain */
    struct dns_centry *prev, *next;     /* LRU list: head is the most recent */
    uint64_t expires;
    dns_answer_t a;
    char name[];
} dns_centry_t;

struct dns_cache {
    int cap, n;
    unsigned mask;                      /* nbuckets - 1 */
    dns_centry_t **buckets;
    dns_centry_t *head, *tail;
};

/* FNV-1a: names are short and attacker-chosen, but a collision only costs a
 * longer chain in a table bounded by cap. */
static unsigned dns_cache_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

dns_cache_t *dns_cache_new(int cap)
{
    dns_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    unsigned nb = 16;
    while (nb < (unsigned)cap) nb <<= 1;
    c->cap = cap > 0 ? cap : 1;
    c->mask = nb - 1;
    c->buckets = calloc(nb, sizeof *c->buckets);
    if (!c->buckets) { free(c); return NULL; }
    return c;
}

void dns_cache_free(dns_cache_t *c)
{
    if (!c) return;
    for (dns_centry_t *e = c->head, *n; e; e = n) { n = e->next; free(e); }
    free(c->buckets);
    free(c);
}

int dns_cache_count(const dns_cache_t *c) { return c->n; }

static dns_centry_t **dns_cache_slot(dns_cache_t *c, const char *name)
{
    dns_centry_t **p = &c->buckets[dns_cache_hash(name) & c->mask];
    while (*p && strcmp((*p)->name, name) != 0) p = &(*p)->hnext;
    return p;
}

static void dns_cache_lru_unlink(dns_cache_t *c, dns_centry_t *e)
{
    if (e->prev) e->prev->next = e->next; else c->head = e->next;
    if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void dns_cache_lru_push(dns_cache_t *c, dns_centry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e; else c->tail = e;
    c->head = e;
}

/* Drops the entry *slot points at. */
static void dns_cache_drop(dns_cache_t *c, dns_centry_t **slot)
{
    dns_centry_t *e = *slot;
    *slot = e->hnext;
    dns_cache_lru_unlink(c, e);
    c->n--;
    free(e);
}

int dns_cache_get(dns_cache_t *c, const char *name, uint64_t now_ms, dns_answer_t *out)
{
    dns_centry_t **slot = dns_cache_slot(c, name), *e = *slot;
    if (!e) return 0;
    if (e->expires <= now_ms) { dns_cache_drop(c, slot); return 0; }
    dns_cache_lru_unlink(c, e);
    dns_cache_lru_push(c, e);
    *out = e->a;
    return 1;
}

void dns_cache_put(dns_cache_t *c, const char *name, const dns_answer_t *a, uint64_t expires_ms)
{
    dns_centry_t **slot = dns_cache_slot(c, name);
    if (*slot) dns_cache_drop(c, slot);
    if (c->n >= c->cap) dns_cache_drop(c, dns_cache_slot(c, c->tail->name));
    size_t len = strlen(name) + 1;
    dns_centry_t *e = malloc(sizeof *e + len);
    if (!e) return;
    memcpy(e->name, name, len);
    e->a = *a;
    e->expires = expires_ms;
    slot = &c->buckets[dns_cache_hash(name) & c->mask];   /* the drops above may have moved it */
    e->hnext = *slot;
    *slot = e;
    dns_cache_lru_push(c, e);
    c->n++;
}
