/* admission.h -- the budget of connections that have not authenticated yet.
 *
 * An unauthenticated connection costs a TLS handshake and an SSL object, and
 * anyone can open one. They get a budget of their own, apart from
 * --max-sessions (which counts authenticated sessions only), so that idle or
 * slow connections cannot lock real clients out:
 *  - at most max_total pre-auth connections in the process;
 *  - once half of that is taken, at most max_per_addr from one address (an
 *    IPv4 address, or an IPv6 /64, the block one host usually has). Below
 *    half there is no per-address limit: one real client opens a session per
 *    concurrent stream, so a browser's burst from one address is legitimate;
 *    under pressure, one address cannot take the rest.
 * One table for the whole process (a client's connections are spread over
 * the workers by SO_REUSEPORT), behind a mutex: it is touched twice per
 * connection, against a TLS handshake's hundreds of microseconds. */
#ifndef ADMISSION_H
#define ADMISSION_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct adm adm_t;

/* What a connection holds while it is admitted (embed it; zero = holds nothing). */
typedef struct adm_slot {
    uint64_t key[2];           /* the address (v4-mapped, or the v6 /64) */
    int held;
} adm_slot_t;

enum { ADM_OK = 0, ADM_FULL = -1, ADM_ADDR_FULL = -2 };

adm_t *adm_new(int max_total, int max_per_addr);
void adm_free(adm_t *a);
/* Admits a connection from `peer` into *slot: ADM_OK, or ADM_FULL / ADM_ADDR_FULL
 * (nothing held). Any thread. */
int adm_enter(adm_t *a, const struct sockaddr_storage *peer, adm_slot_t *slot);
/* The connection authenticated or closed: gives its place back (no-op if none). */
void adm_leave(adm_t *a, adm_slot_t *slot);
/* Connections admitted now (for tests and metrics). */
int adm_count(adm_t *a);

#endif
