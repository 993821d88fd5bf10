/* dns.c -- the event-loop resolver (dns.h): c-ares sockets and timeouts on the
 * loop, one query per name, a cache, and the budgets. */
#include "dns.h"
#include "dns_cache.h"
#include "log.h"
#include "util.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNS_NAME_MAX 255
#define DNS_LOG_EVERY_MS 10000

typedef struct dns_query dns_query_t;

/* A list of requests: a query's waiters, or the resolver's answered ones. */
typedef struct dns_rlist { dns_req_t *head, *tail; } dns_rlist_t;

struct dns_req {
    dns_rlist_t *list;            /* the list it is on */
    dns_req_t *prev, *next;
    uint16_t port;
    dns_cb_t cb;
    void *arg;
    dns_answer_t a;               /* filled when answered */
};

struct dns_query {
    dns_t *d;
    dns_query_t *hnext;           /* in-flight table chain */
    dns_owner_t *owner;           /* charged until the query ends; NULL: nobody */
    dns_rlist_t waiters;
    char name[];                  /* lower-cased */
};

/* A c-ares socket registered on the loop. */
typedef struct dns_sock {
    ioh_t io;
    dns_t *d;
    struct dns_sock *next;
} dns_sock_t;

struct dns {
    loop_t *loop;
    ares_channel ch;
    dns_config_t cfg;
    dns_cache_t *cache;
    dns_query_t **inflight;       /* by name; nqueries entries */
    unsigned mask;
    int nqueries;
    dns_rlist_t ready;            /* answered, cb not yet called */
    ltimer_t timer;               /* c-ares's next timeout */
    ltimer_t kick;                /* delivers `ready` on the next iteration */
    dns_sock_t *socks;
    uint64_t last_log;            /* ms of the last "budget full" line */
    int closing;                  /* dns_free runs: answers are dropped */
};

void dns_config_defaults(dns_config_t *c)
{
    *c = (dns_config_t){
        .servers = NULL, .timeout_ms = 1500, .tries = 2, .max_queries = 256,
        .max_per_owner = 16, .cache_size = 1024, .max_ttl_ms = 60000, .neg_ttl_ms = 5000,
    };
}

/* ---- request lists ---- */

static void dns_rl_push(dns_rlist_t *l, dns_req_t *r)
{
    r->list = l;
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail) l->tail->next = r; else l->head = r;
    l->tail = r;
}

static void dns_rl_unlink(dns_req_t *r)
{
    dns_rlist_t *l = r->list;
    if (r->prev) r->prev->next = r->next; else l->head = r->next;
    if (r->next) r->next->prev = r->prev; else l->tail = r->prev;
    r->prev = r->next = NULL;
    r->list = NULL;
}

static void dns_rl_free_all(dns_rlist_t *l)
{
    for (dns_req_t *r = l->head, *n; r; r = n) { n = r->next; free(r); }
    l->head = l->tail = NULL;
}

/* ---- the in-flight table: name -> query ---- */

static unsigned dns_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static dns_query_t **dns_inflight_slot(dns_t *d, const char *name)
{
    dns_query_t **p = &d->inflight[dns_hash(name) & d->mask];
    while (*p && strcmp((*p)->name, name) != 0) p = &(*p)->hnext;
    return p;
}

static void dns_inflight_remove(dns_t *d, dns_query_t *q)
{
    dns_query_t **p = dns_inflight_slot(d, q->name);
    if (*p == q) *p = q->hnext;
}

/* ---- delivery ---- */

/* Calls the callbacks of answered requests. Only from the top of a loop
 * callback (a timer or a socket event), never from inside c-ares or
 * dns_resolve: a callback may resolve or cancel again. */
static void dns_deliver(dns_t *d)
{
    timer_cancel(d->loop, &d->kick);
    dns_req_t *r;
    while ((r = d->ready.head)) {
        dns_rl_unlink(r);
        dns_req_t copy = *r;
        free(r);   /* first: the handle is dead once cb starts */
        const char *msg = copy.a.status ? ares_strerror(copy.a.status) : NULL;
        copy.cb(d->loop, copy.arg, copy.a.status, msg, &copy.a.ss, copy.a.len);
    }
}

static void dns_kick_cb(loop_t *l, ltimer_t *t) { dns_deliver(t->ud); }

static void dns_schedule(dns_t *d)
{
    if (d->ready.head && d->kick.idx < 0) timer_set(d->loop, &d->kick, 0);
}

/* Answers a request: the port goes into the address. */
static void dns_answer_req(dns_t *d, dns_req_t *r, const dns_answer_t *a)
{
    r->a = *a;
    if (!a->status) {
        if (r->a.ss.ss_family == AF_INET) ((struct sockaddr_in *)&r->a.ss)->sin_port = htons(r->port);
        else ((struct sockaddr_in6 *)&r->a.ss)->sin6_port = htons(r->port);
    }
    dns_rl_unlink(r);
    dns_rl_push(&d->ready, r);
}

/* ---- c-ares on the loop ---- */

/* Arms the loop timer for c-ares's next timeout (rounded up: a timer that
 * fires before the deadline would only spin). */
static void dns_rearm(dns_t *d)
{
    struct timeval tv, *tp = ares_timeout(d->ch, NULL, &tv);
    if (!tp) { timer_cancel(d->loop, &d->timer); return; }
    uint64_t ms = (uint64_t)tp->tv_sec * 1000 + ((uint64_t)tp->tv_usec + 999) / 1000;
    timer_set(d->loop, &d->timer, ms);
}

static void dns_timer_cb(loop_t *l, ltimer_t *t)
{
    dns_t *d = t->ud;
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_rearm(d);
    dns_deliver(d);
}

static void dns_sock_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    dns_sock_t *s = h->ud;
    dns_t *d = s->d;
    ares_socket_t fd = h->fd;
    /* an error or hang-up is read: that is how c-ares learns of it */
    ares_process_fd(d->ch, ev & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
                    ev & EPOLLOUT ? fd : ARES_SOCKET_BAD);
    dns_rearm(d);
    dns_deliver(d);
}

/* c-ares opens, watches and closes its sockets through this. */
static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_t *d = data;
    dns_sock_t **pp = &d->socks, *s;
    while ((s = *pp) && s->io.fd != fd) pp = &s->next;
    uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (!ev) {
        if (!s) return;
        loop_del(d->loop, &s->io);
        *pp = s->next;
        loop_defer_free(d->loop, s, free);  /* an event for it may be pending in this batch */
        return;
    }
    if (s) { loop_mod(d->loop, &s->io, ev); return; }
    s = calloc(1, sizeof *s);
    if (!s || loop_add(d->loop, &s->io, fd, ev, dns_sock_cb, s) < 0) {
        /* its queries end by their timeout */
        log_warn("resolver: cannot watch socket %d: %s", (int)fd, s ? strerror(errno) : "out of memory");
        free(s);
        return;
    }
    s->d = d;
    s->next = d->socks;
    d->socks = s;
}

/* Failures worth remembering: the name's or the servers' fault, not ours. */
static int dns_cacheable(int status)
{
    return status != ARES_ECANCELLED && status != ARES_EDESTRUCTION && status != ARES_ENOMEM;
}

static void dns_query_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    dns_query_t *q = arg;
    dns_t *d = q->d;
    dns_answer_t a = { .status = status };
    int ttl = d->cfg.max_ttl_ms / 1000;
    if (status == ARES_SUCCESS) {
        struct ares_addrinfo_node *pick = NULL;
        for (struct ares_addrinfo_node *n = res ? res->nodes : NULL; n; n = n->ai_next) {
            if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
            if (!pick || (pick->ai_family != AF_INET && n->ai_family == AF_INET)) pick = n;
            if (n->ai_ttl < ttl) ttl = n->ai_ttl;
        }
        for (struct ares_addrinfo_cname *c = res ? res->cnames : NULL; c; c = c->next)
            if (c->ttl < ttl) ttl = c->ttl;
        if (pick && pick->ai_addrlen <= sizeof a.ss) {
            memcpy(&a.ss, pick->ai_addr, pick->ai_addrlen);
            a.len = pick->ai_addrlen;
        } else {
            a.status = ARES_ENODATA;
        }
    }
    if (res) ares_freeaddrinfo(res);
    dns_inflight_remove(d, q);
    if (!d->closing) {
        d->nqueries--;
        if (q->owner) q->owner->queries--;
        uint64_t keep = a.status ? (uint64_t)d->cfg.neg_ttl_ms
                                 : (uint64_t)(ttl > 0 ? ttl : 0) * 1000;
        if (!a.status && keep > (uint64_t)d->cfg.max_ttl_ms) keep = (uint64_t)d->cfg.max_ttl_ms;
        if (keep && dns_cacheable(a.status)) dns_cache_put(d->cache, q->name, &a, now_ms() + keep);
        while (q->waiters.head) dns_answer_req(d, q->waiters.head, &a);
        dns_schedule(d);
    }
    dns_rl_free_all(&q->waiters);   /* only non-empty while closing */
    free(q);
}

/* ---- the budgets ---- */

static dns_req_t *dns_refuse(dns_t *d, dns_owner_t *o, int err)
{
    if (o && err == EBUSY) {
        if (!o->warned)
            log_warn("resolver: lookups for %s: %d running (its cap); refusing more until they end",
                     o->label ? o->label : "one owner", o->queries);
        o->warned = 1;
    } else if (!d->last_log || now_ms() - d->last_log >= DNS_LOG_EVERY_MS) {
        log_warn("resolver: %d lookups running (this worker's cap): refusing new names until some end",
                 d->nqueries);
        d->last_log = now_ms();
    }
    errno = err;
    return NULL;
}

/* ---- the interface ---- */

dns_req_t *dns_resolve(dns_t *d, const char *name, uint16_t port, dns_owner_t *owner,
                       dns_cb_t cb, void *arg)
{
    char key[DNS_NAME_MAX + 1];
    size_t n = strlen(name);
    if (n == 0 || n > DNS_NAME_MAX) { errno = EINVAL; return NULL; }
    for (size_t i = 0; i <= n; i++) key[i] = (char)tolower((unsigned char)name[i]);

    dns_req_t *r = calloc(1, sizeof *r);
    if (!r) { errno = ENOMEM; return NULL; }
    r->port = port; r->cb = cb; r->arg = arg;

    dns_answer_t a;
    if (dns_cache_get(d->cache, key, now_ms(), &a)) {
        dns_rl_push(&d->ready, r);   /* so it can be cancelled until delivered */
        dns_answer_req(d, r, &a);
        dns_schedule(d);
        return r;
    }
    dns_query_t **slot = dns_inflight_slot(d, key);
    if (*slot) { dns_rl_push(&(*slot)->waiters, r); return r; }

    int max = owner ? (owner->max ? owner->max : d->cfg.max_per_owner) : 0;
    if (owner && owner->queries >= max) { free(r); return dns_refuse(d, owner, EBUSY); }
    if (d->nqueries >= d->cfg.max_queries) { free(r); return dns_refuse(d, owner, EAGAIN); }

    dns_query_t *q = calloc(1, sizeof *q + n + 1);
    if (!q) { free(r); errno = ENOMEM; return NULL; }
    memcpy(q->name, key, n + 1);
    q->d = d;
    q->owner = owner;
    if (owner) owner->queries++;
    *slot = q;
    d->nqueries++;
    dns_rl_push(&q->waiters, r);
    /* IPv4 and IPv6 asked together; NOSORT: we pick ourselves, and c-ares's
     * sort would connect() a probe socket per address. May answer at once
     * (/etc/hosts, a bad name): dns_query_done only queues the answer. */
    struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                         .ai_flags = ARES_AI_NOSORT };
    ares_getaddrinfo(d->ch, key, NULL, &hints, dns_query_done, q);
    dns_rearm(d);
    return r;
}

void dns_cancel(dns_req_t *r)
{
    if (!r) return;
    dns_rl_unlink(r);
    free(r);
}

void dns_owner_release(dns_t *d, dns_owner_t *o)
{
    if (!d || !o || o->queries == 0) return;
    for (unsigned b = 0; b <= d->mask; b++)
        for (dns_query_t *q = d->inflight[b]; q; q = q->hnext)
            if (q->owner == o) q->owner = NULL;
    o->queries = 0;
}

int dns_queries(const dns_t *d) { return d->nqueries; }

/* ---- servers ---- */

#define DNS_SERVERS_MAX 1024   /* the list in c-ares's form */

/* One "IP", "IP:port", "[IP]" or "[IP]:port" (n bytes of s), appended to out
 * (at *used, cap bytes; out NULL: only checked) in the form c-ares 1.18 takes:
 * "v4", "v4:port", "v6", "[v6]:port". */
static int dns_parse_server(const char *s, size_t n, char *out, size_t cap, size_t *used,
                            char *err, size_t errcap)
{
    char host[64], esc[200];
    const char *port = NULL;
    size_t hl;
    const char *close = s[0] == '[' ? memchr(s, ']', n) : NULL;
    const char *colon = memchr(s, ':', n);
    if (s[0] == '[') {
        if (!close) goto bad;
        hl = (size_t)(close - s - 1);
        if (hl >= sizeof host) goto bad;
        memcpy(host, s + 1, hl);
        if (close + 1 < s + n) {
            if (close[1] != ':') goto bad;
            port = close + 2;
        }
    } else if (colon && !memchr(colon + 1, ':', (size_t)(s + n - colon - 1))) {
        hl = (size_t)(colon - s);   /* one colon: IPv4:port */
        if (hl >= sizeof host) goto bad;
        memcpy(host, s, hl);
        port = colon + 1;
    } else {
        hl = n;                     /* no colon, or a bare IPv6 address */
        if (hl >= sizeof host) goto bad;
        memcpy(host, s, hl);
    }
    host[hl] = 0;
    unsigned char buf[16];
    int v6 = inet_pton(AF_INET, host, buf) != 1;
    if (v6 && inet_pton(AF_INET6, host, buf) != 1) goto bad;
    long pv = 0;
    if (port) {
        char p[8];
        size_t pl = (size_t)(s + n - port);
        if (pl == 0 || pl >= sizeof p) goto bad;
        memcpy(p, port, pl);
        p[pl] = 0;
        if (parse_int(p, 1, 65535, &pv) < 0) goto bad;
    }
    if (out) {
        char pbuf[8] = "";
        if (port) snprintf(pbuf, sizeof pbuf, "%ld", pv);
        int w = snprintf(out + *used, cap - *used, "%s%s%s%s%s", *used ? "," : "",
                         v6 && port ? "[" : "", host, !port ? "" : v6 ? "]:" : ":", pbuf);
        if (w < 0 || (size_t)w >= cap - *used) { snprintf(err, errcap, "the server list is too long"); return -1; }
        *used += (size_t)w;
    }
    return 0;
bad:
    snprintf(err, errcap, "'%s' is not IP[:port] (an IPv6 address with a port goes in brackets)",
             log_escape(s, n, esc, sizeof esc));
    return -1;
}

static int dns_parse_servers(const char *list, char *out, size_t cap, char *err, size_t errcap)
{
    size_t used = 0;
    if (!*list) { snprintf(err, errcap, "the server list is empty"); return -1; }
    for (const char *s = list;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0) { snprintf(err, errcap, "an empty entry in the server list"); return -1; }
        if (dns_parse_server(s, n, out, cap, &used, err, errcap) < 0) return -1;
        if (!e) return 0;
        s = e + 1;
    }
}

int dns_check_servers(const char *list, char *err, size_t errcap)
{
    char out[DNS_SERVERS_MAX];
    return dns_parse_servers(list, out, sizeof out, err, errcap);
}

/* ---- life cycle ---- */

/* c-ares's process-wide set-up (a no-op on Linux, required by its API). */
static pthread_once_t dns_lib_once = PTHREAD_ONCE_INIT;
static int dns_lib_status;
static void dns_lib_init(void) { dns_lib_status = ares_library_init(ARES_LIB_INIT_ALL); }

dns_t *dns_new(loop_t *l, const dns_config_t *cfg, char *err, size_t errcap)
{
    pthread_once(&dns_lib_once, dns_lib_init);
    if (dns_lib_status != ARES_SUCCESS) {
        snprintf(err, errcap, "c-ares: %s", ares_strerror(dns_lib_status));
        return NULL;
    }
    char servers[DNS_SERVERS_MAX];
    if (cfg->servers && dns_parse_servers(cfg->servers, servers, sizeof servers, err, errcap) < 0)
        return NULL;
    dns_t *d = calloc(1, sizeof *d);
    if (!d) { snprintf(err, errcap, "out of memory"); return NULL; }
    d->loop = l;
    d->cfg = *cfg;
    d->cfg.servers = NULL;   /* not kept: the caller's string */
    timer_init(&d->timer, dns_timer_cb, d);
    timer_init(&d->kick, dns_kick_cb, d);
    unsigned nb = 16;
    while (nb < (unsigned)cfg->max_queries) nb <<= 1;
    d->mask = nb - 1;
    d->inflight = calloc(nb, sizeof *d->inflight);
    d->cache = dns_cache_new(cfg->cache_size);
    if (!d->inflight || !d->cache) { snprintf(err, errcap, "out of memory"); goto fail; }

    struct ares_options o = {
        .timeout = cfg->timeout_ms, .tries = cfg->tries,
        .sock_state_cb = dns_sock_state, .sock_state_cb_data = d,
    };
    int st = ares_init_options(&d->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
    if (st != ARES_SUCCESS) { snprintf(err, errcap, "c-ares: %s", ares_strerror(st)); d->ch = NULL; goto fail; }
    if (cfg->servers && (st = ares_set_servers_ports_csv(d->ch, servers)) != ARES_SUCCESS) {
        snprintf(err, errcap, "c-ares: DNS servers: %s", ares_strerror(st));
        goto fail;
    }
    return d;
fail:
    dns_free(d);
    return NULL;
}

void dns_free(dns_t *d)
{
    if (!d) return;
    d->closing = 1;
    dns_rl_free_all(&d->ready);
    for (unsigned b = 0; d->inflight && b <= d->mask; b++)
        for (dns_query_t *q = d->inflight[b]; q; q = q->hnext) dns_rl_free_all(&q->waiters);
    /* Ends every query (dns_query_done frees each with ARES_EDESTRUCTION) and
     * closes the sockets (dns_sock_state takes them off the loop). */
    if (d->ch) ares_destroy(d->ch);
    for (unsigned b = 0; d->inflight && b <= d->mask; b++)   /* none expected */
        for (dns_query_t *q = d->inflight[b], *n; q; q = n) { n = q->hnext; free(q); }
    timer_cancel(d->loop, &d->timer);
    timer_cancel(d->loop, &d->kick);
    free(d->inflight);
    dns_cache_free(d->cache);
    free(d);
}
