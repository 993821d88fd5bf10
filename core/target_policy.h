/* target_policy.h -- which addresses the server may connect to for a client
 * (an SSRF guard), checked after resolution at every dial: streams, spare
 * refills and UDP-over-TCP.
 *
 * Off by default (a proxy's job is to reach what it is asked to). With
 * deny_private, refused: unspecified, loopback, link-local, private (RFC 1918,
 * IPv6 ULA fc00::/7), shared address space (100.64.0.0/10), multicast,
 * reserved and broadcast (240.0.0.0/4), the IPv4 forms embedded in IPv6
 * (::ffff:a.b.c.d, 64:ff9b::/96, 2002::/16) of all of these, and every address
 * of the server's own interfaces at start. An allow list of CIDRs overrides
 * the denial. Read-only once made: shared by all workers without locks. */
#ifndef TARGET_POLICY_H
#define TARGET_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct tpol tpol_t;

/* allow: NULL or "CIDR,CIDR,..." (IPv4 or IPv6; a bare address is /32 or /128).
 * 0 if the list parses, else -1 with the reason in err. */
int tpol_check_list(const char *allow, char *err, size_t errcap);
/* NULL with the reason in err. */
tpol_t *tpol_new(int deny_private, const char *allow, char *err, size_t errcap);
void tpol_free(tpol_t *p);
/* 1 if a connection to sa may be made. NULL policy: everything is allowed. */
int tpol_allows(const tpol_t *p, const struct sockaddr *sa);

#endif
