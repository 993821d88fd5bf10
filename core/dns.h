/* dns.h -- name resolution on an event loop (c-ares): one resolver per worker
 * loop, its sockets and timeouts on that loop, no threads and no locks.
 * Everything here is called on the loop's thread.
 *
 * What it promises:
 *  - An answer comes through cb on the loop, never from inside dns_resolve (a
 *    cached answer comes on the next loop iteration), exactly once, unless the
 *    request is cancelled first. A request handle is valid until its cb starts
 *    or dns_cancel; after dns_cancel cb is never called and nothing of the
 *    caller's (arg, owner) is touched.
 *  - One query per name at a time: requests for a name that is being resolved
 *    wait for the same query. c-ares cannot cancel a single query, so a query
 *    whose requests were all cancelled still runs to its end -- bounded by
 *    timeout_ms and tries -- and counts against the budgets until then (so
 *    cancelling is not a way around them). Its answer is cached.
 *  - Cache: an address for min(its TTL, max_ttl_ms); a failure (no such name,
 *    no address, timeout, server failure) for neg_ttl_ms; at most cache_size
 *    names, least recently used dropped first.
 *  - Budgets. Worker: at most max_queries names being resolved at once;
 *    beyond, dns_resolve fails with EAGAIN. Owner (optional, e.g. a session):
 *    at most owner->max (0: max_per_owner) queries it started still running --
 *    counted until the query ends, even if the owner cancelled -- beyond,
 *    EBUSY. A cached answer or a name already being resolved costs nothing and
 *    is never refused. A refusal is logged at most once per owner and once
 *    per 10 s per resolver.
 *  - dns_free drops everything pending: no callback runs, no owner is touched.
 *
 * IPv4 is preferred: the answer is the first IPv4 address, or the first IPv6
 * one if the name has no IPv4 address. /etc/hosts is read as the system
 * resolver would (c-ares follows nsswitch.conf's "hosts:" order). */
#ifndef DNS_H
#define DNS_H

#include <stdint.h>
#include <sys/socket.h>
#include "loop.h"

typedef struct dns dns_t;
typedef struct dns_req dns_req_t;

typedef struct dns_config {
    const char *servers;  /* "IP[:port],..." (IPv6 as [addr]:port); NULL: /etc/resolv.conf */
    int timeout_ms;       /* first try; c-ares doubles it on each round of retries (1500) */
    int tries;            /* per server (2): one server gives up after 1.5 + 3 = 4.5 s */
    int max_queries;      /* names being resolved at once, per resolver (256) */
    int max_per_owner;    /* queries an owner started that are still running (16) */
    int cache_size;       /* names remembered (1024) */
    int max_ttl_ms;       /* an address is remembered at most this long (60000) */
    int neg_ttl_ms;       /* a failure is remembered this long (5000) */
} dns_config_t;

/* Who asked: the caller embeds one per budget holder (a session) and sets
 * label (for the log line) and max (0: the resolver's max_per_owner). The
 * other fields are the resolver's. An owner that goes away while its queries
 * run must be released first (dns_owner_release). */
typedef struct dns_owner {
    const char *label;    /* e.g. the session's peer address; NULL ok */
    int max;
    int queries;          /* queries it started that are still running */
    int warned;           /* its refusal has been logged */
} dns_owner_t;

/* err == 0: ss/len hold the address with `port` set. err != 0: a c-ares
 * status (ARES_*); msg says what it means. */
typedef void (*dns_cb_t)(loop_t *l, void *arg, int err, const char *msg,
                         const struct sockaddr_storage *ss, socklen_t len);

void dns_config_defaults(dns_config_t *c);
/* 0 if `list` is a comma list of IP[:port] (an IPv6 address with a port in
 * brackets); else -1 with the reason in err. */
int dns_check_servers(const char *list, char *err, size_t errcap);

/* NULL with the reason in err (bad server list, c-ares cannot start). */
dns_t *dns_new(loop_t *l, const dns_config_t *cfg, char *err, size_t errcap);
/* Not from inside one of its callbacks. The loop must still exist. NULL ok. */
void dns_free(dns_t *d);

/* NULL with errno: EAGAIN (the resolver's budget is full), EBUSY (the
 * owner's is), EINVAL (name empty or longer than 255 bytes), ENOMEM. */
dns_req_t *dns_resolve(dns_t *d, const char *name, uint16_t port, dns_owner_t *owner,
                       dns_cb_t cb, void *arg);
void dns_cancel(dns_req_t *r);  /* NULL ok */
/* The owner goes away: its running queries stop counting against it. */
void dns_owner_release(dns_t *d, dns_owner_t *o);

/* Names being resolved now (for tests and metrics). */
int dns_queries(const dns_t *d);

#endif
