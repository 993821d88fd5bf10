/* fake_dns.h -- the resolver of fuzz_server_session: dns.h's interface over
 * no network, answered when the harness says (linked instead of core/dns.c).
 *
 * It keeps dns.h's promises that the code relies on: one query per name, its
 * requests waiting together; an answer delivered on the loop (a 0 ms timer),
 * never from inside dns_resolve, once, unless cancelled; a cancelled request
 * never called back; the budgets (max_queries: EAGAIN, an owner's max or
 * max_per_owner: EBUSY, counted until the query ends even if cancelled);
 * EINVAL for an empty or over-long name; dns_owner_release stops the charging.
 * No cache: each query is answered by the harness.
 *
 * What it checks: a request handle is used (dns_cancel) only while valid --
 * freed ones are caught by ASan; the harness checks that nothing is left
 * waiting once every stream is gone (fdns_requests) and that no query charges
 * an owner that went away (fdns_charges). */
#ifndef FAKE_DNS_H
#define FAKE_DNS_H

#include "dns.h"

/* Queries (names) not answered yet, and requests not yet called back. */
int fdns_queries(const dns_t *d);
int fdns_requests(const dns_t *d);
/* Queries still charged to o. */
int fdns_charges(const dns_t *d, const dns_owner_t *o);
/* Answers query i (modulo the count; none: nothing): its requests get, on the
 * next loop iteration, 192.0.2.1 (v6: 2001:db8::1) with their port, or
 * ARES_ENOTFOUND's text. */
void fdns_answer(dns_t *d, int i, int ok, int v6);

#endif
