/* dns.h -- name resolution off the event loop: getaddrinfo on a small pool of
 * resolver threads; the answer comes back as a task on the asking loop. */
#ifndef DNS_H
#define DNS_H

#include <sys/socket.h>
#include "loop.h"

/* err == 0: ss/len hold the first address (IPv4 preferred unless only IPv6).
 * err != 0: a gai error code; msg explains. */
typedef void (*dns_cb_t)(loop_t *l, void *arg, int err, const char *msg,
                         const struct sockaddr_storage *ss, socklen_t len);

int dns_resolve(loop_t *l, const char *name, unsigned short port, dns_cb_t cb, void *arg);
void dns_shutdown(void);

#endif
