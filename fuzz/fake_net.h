/* fake_net.h -- the network of the stateful fuzz targets (fuzz_server_session,
 * fuzz_client_session): nothing leaves the process.
 *
 * The targets are linked with -Wl,--wrap for tcp_connect_start, socket,
 * connect, bind, sendto, recvfrom, getsockname, getpeername, getsockopt and
 * close (the Makefile's FUZZ_WRAP_NET), so the code under test runs unchanged:
 *  - a dial (tcp_connect_start) gets one end of an AF_UNIX stream socketpair
 *    whose other end (the "peer") the harness holds, as the target;
 *  - socket(AF_INET or AF_INET6, SOCK_DGRAM) gets one end of an AF_UNIX
 *    datagram socketpair; connect/bind on it only record the address;
 *    recvfrom reports the source the harness set (fnet_sock_t.from);
 *  - any other socket toward the network (TCP outside tcp_connect_start)
 *    fails the input: it would be real network I/O;
 *  - addresses handed to connect/sendto are checked (family, length; an
 *    AF_INET6 socket only gets AF_INET6 addresses, v4 mapped);
 *  - close is tracked, so the harness can check at the end of an input that
 *    the code closed every socket it was given (fnet_open_code_ends).
 * The harness makes the connections the code accepts with fnet_conn.
 *
 * Out of slots (FNET_MAX sockets in one input), a dial or socket() fails with
 * EMFILE, as a process out of descriptors would. */
#ifndef FAKE_NET_H
#define FAKE_NET_H

#include <sys/socket.h>

#define FNET_MAX 48

enum fnet_kind { FNET_TCP = 1, FNET_UDP, FNET_CONN };

/* How the next dial goes (fnet_dial_mode; reset to FNET_DIAL_OK by each dial). */
enum fnet_dial {
    FNET_DIAL_OK,        /* connected at once (writable on the next loop iteration) */
    FNET_DIAL_SLOW,      /* in progress: not writable until the harness reads the peer */
    FNET_DIAL_REFUSED,   /* in progress, then SO_ERROR ECONNREFUSED */
    FNET_DIAL_FAIL,      /* tcp_connect_start fails now (fnet_dial_errno) */
};

typedef struct fnet_sock {
    int kind;                       /* enum fnet_kind; 0: free slot */
    int fd;                         /* the code's end; -1 once the code closed it */
    int peer;                       /* the harness's end; -1 once closed */
    int family;                     /* AF_INET or AF_INET6, as the code asked */
    int so_error;                   /* what getsockopt(SO_ERROR) reports (then 0) */
    struct sockaddr_storage local, remote, from, last_to;
    socklen_t local_len, remote_len, from_len, last_to_len;
} fnet_sock_t;

extern int fnet_dial_mode;          /* enum fnet_dial */
extern int fnet_dial_errno;         /* for FNET_DIAL_FAIL */

/* New input: every earlier socket must be closed on both sides. */
void fnet_reset(void);
int fnet_count(void);               /* slots used in this input */
fnet_sock_t *fnet_at(int i);        /* NULL outside [0, fnet_count()) */
fnet_sock_t *fnet_find(int fd);     /* the live socket whose code end is fd, or NULL */
/* A connection for the code to accept (a client's, a local application's):
 * stream socketpair, code end non-blocking; the addresses are what
 * getsockname/getpeername report. Returns its slot, or -1. */
int fnet_conn(const struct sockaddr_storage *local, const struct sockaddr_storage *remote);
void fnet_close_peer(fnet_sock_t *s);
void fnet_close_peers(void);
/* Code ends still open (the harness calls it once the code closed everything). */
int fnet_open_code_ends(void);

/* "a.b.c.d:port" or "[v6]:port" into ss; the length. Aborts on a bad literal. */
socklen_t fnet_addr(struct sockaddr_storage *ss, const char *text);

#endif
