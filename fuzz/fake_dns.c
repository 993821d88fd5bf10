/* fake_dns.c -- a resolver that resolves nothing until told (fake_dns.h). */
#include "fake_dns.h"
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>

#define FDNS_NAME_MAX 255
#define FDNS_ENOTFOUND 4            /* ARES_ENOTFOUND */

typedef struct fq fq_t;

struct dns_req {
    dns_req_t *prev, *next;
    dns_req_t **head;               /* the list it is on: a query's waiters, or ready */
    uint16_t port;
    dns_cb_t cb;
    void *arg;
    int err;
    struct sockaddr_storage ss;
    socklen_t len;
};

struct fq {
    fq_t *next;
    dns_owner_t *owner;
    dns_req_t *waiters;
    char name[FDNS_NAME_MAX + 1];
};

struct dns {
    loop_t *loop;
    dns_config_t cfg;
    fq_t *queries;
    int nqueries;
    dns_req_t *ready;               /* answered, to be called back */
    ltimer_t kick;
};

static void push(dns_req_t **head, dns_req_t *r)
{
    /* at the tail: answers keep the order of the requests */
    dns_req_t **p = head, *prev = NULL;
    while (*p) { prev = *p; p = &(*p)->next; }
    r->prev = prev;
    r->next = NULL;
    r->head = head;
    *p = r;
}

static void unlink_req(dns_req_t *r)
{
    if (r->prev) r->prev->next = r->next; else *r->head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->head = NULL;
}

static void deliver(loop_t *l, ltimer_t *t)
{
    dns_t *d = t->ud;
    /* one at a time from the head: a callback may cancel the others */
    while (d->ready) {
        dns_req_t *r = d->ready;
        unlink_req(r);
        r->cb(l, r->arg, r->err, r->err ? "Domain name not found" : NULL, &r->ss, r->len);
        free(r);
    }
}

void dns_config_defaults(dns_config_t *c)
{
    *c = (dns_config_t){ .timeout_ms = 1500, .tries = 2, .max_queries = 256, .max_per_owner = 16,
                         .cache_size = 1024, .max_ttl_ms = 60000, .neg_ttl_ms = 5000 };
}

dns_t *dns_new(loop_t *l, const dns_config_t *cfg, char *err, size_t errcap)
{
    dns_t *d = calloc(1, sizeof *d);
    FUZZ_CHECK(d != NULL);
    d->loop = l;
    d->cfg = *cfg;
    timer_init(&d->kick, deliver, d);
    return d;
}

void dns_free(dns_t *d)
{
    if (!d) return;
    timer_cancel(d->loop, &d->kick);
    while (d->ready) { dns_req_t *r = d->ready; unlink_req(r); free(r); }
    while (d->queries) {
        fq_t *q = d->queries;
        d->queries = q->next;
        while (q->waiters) { dns_req_t *r = q->waiters; unlink_req(r); free(r); }
        free(q);
    }
    free(d);
}

dns_req_t *dns_resolve(dns_t *d, const char *name, uint16_t port, dns_owner_t *owner,
                       dns_cb_t cb, void *arg)
{
    size_t n = strlen(name);
    if (n == 0 || n > FDNS_NAME_MAX) { errno = EINVAL; return NULL; }
    char key[FDNS_NAME_MAX + 1];
    for (size_t i = 0; i <= n; i++) key[i] = (char)tolower((unsigned char)name[i]);
    fq_t *q = d->queries;
    while (q && strcmp(q->name, key) != 0) q = q->next;
    if (!q) {
        int max = owner ? (owner->max ? owner->max : d->cfg.max_per_owner) : 0;
        if (owner && owner->queries >= max) { owner->warned = 1; errno = EBUSY; return NULL; }
        if (d->nqueries >= d->cfg.max_queries) { errno = EAGAIN; return NULL; }
        q = calloc(1, sizeof *q);
        FUZZ_CHECK(q != NULL);
        memcpy(q->name, key, n + 1);
        q->owner = owner;
        if (owner) owner->queries++;
        q->next = d->queries;
        d->queries = q;
        d->nqueries++;
    }
    dns_req_t *r = calloc(1, sizeof *r);
    FUZZ_CHECK(r != NULL);
    r->port = port;
    r->cb = cb;
    r->arg = arg;
    push(&q->waiters, r);
    return r;
}

void dns_cancel(dns_req_t *r)
{
    if (!r) return;
    FUZZ_CHECK(r->head != NULL); /* on a list: neither delivered nor cancelled before */
    unlink_req(r);
    free(r);
}

void dns_owner_release(dns_t *d, dns_owner_t *o)
{
    if (!d || !o || o->queries == 0) return;
    for (fq_t *q = d->queries; q; q = q->next)
        if (q->owner == o) q->owner = NULL;
    o->queries = 0;
}

int dns_queries(const dns_t *d) { return d->nqueries; }

int fdns_queries(const dns_t *d) { return d->nqueries; }

int fdns_requests(const dns_t *d)
{
    int n = 0;
    for (dns_req_t *r = d->ready; r; r = r->next) n++;
    for (fq_t *q = d->queries; q; q = q->next)
        for (dns_req_t *r = q->waiters; r; r = r->next) n++;
    return n;
}

int fdns_charges(const dns_t *d, const dns_owner_t *o)
{
    int n = 0;
    for (fq_t *q = d->queries; q; q = q->next) n += q->owner == o;
    return n;
}

void fdns_answer(dns_t *d, int i, int ok, int v6)
{
    if (!d->nqueries) return;
    fq_t **p = &d->queries;
    for (i %= d->nqueries; i > 0; i--) p = &(*p)->next;
    fq_t *q = *p;
    *p = q->next;
    d->nqueries--;
    if (q->owner) q->owner->queries--;
    while (q->waiters) {
        dns_req_t *r = q->waiters;
        unlink_req(r);
        r->err = ok ? 0 : FDNS_ENOTFOUND;
        memset(&r->ss, 0, sizeof r->ss);
        if (ok && v6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r->ss;
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons(r->port);
            inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
            r->len = sizeof *s6;
        } else if (ok) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&r->ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons(r->port);
            inet_pton(AF_INET, "192.0.2.1", &s4->sin_addr);
            r->len = sizeof *s4;
        }
        push(&d->ready, r);
    }
    free(q);
    timer_set(d->loop, &d->kick, 0);
}
