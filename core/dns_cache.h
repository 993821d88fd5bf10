/* dns_cache.h -- a resolver's memory of recent answers: name -> (status,
 * address) until an expiry time, for one thread (no locks).
 *
 * What it promises:
 *  - At most `cap` names are held; putting a new name into a full cache drops
 *    the least recently used one (a get counts as a use).
 *  - A get never returns an entry whose expiry has passed (it is dropped).
 *  - Names are matched exactly: the caller lower-cases them first (DNS names
 *    are case-insensitive, and one spelling per name keeps the key simple).
 *  - Every operation is O(1) on average (hash table + LRU list). */
#ifndef DNS_CACHE_H
#define DNS_CACHE_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct dns_cache dns_cache_t;

/* A remembered answer: status 0 with an address (port 0), or a failure status
 * (a c-ares ARES_* code) with no address. */
typedef struct dns_answer {
    int status;
    struct sockaddr_storage ss;
    socklen_t len;
} dns_answer_t;

dns_cache_t *dns_cache_new(int cap);  /* NULL: out of memory */
void dns_cache_free(dns_cache_t *c);  /* NULL ok */

/* 1 with *out filled if `name` is held and expires after now_ms; else 0. */
int dns_cache_get(dns_cache_t *c, const char *name, uint64_t now_ms, dns_answer_t *out);
/* Holds (name, *a) until expires_ms, replacing what it held for name. Out of
 * memory: nothing is held (a cache may forget). */
void dns_cache_put(dns_cache_t *c, const char *name, const dns_answer_t *a, uint64_t expires_ms);
int dns_cache_count(const dns_cache_t *c);

#endif
