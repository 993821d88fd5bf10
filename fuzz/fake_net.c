/* fake_net.c -- the stateful targets' network (fake_net.h): the --wrap'ed
 * socket calls. Calls on descriptors that are not ours go to the real ones. */
#include "fake_net.h"
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/types.h>
#include <unistd.h>

int __real_close(int fd);
int __real_socket(int domain, int type, int proto);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
ssize_t __real_sendto(int fd, const void *p, size_t n, int flags, const struct sockaddr *sa, socklen_t len);
ssize_t __real_recvfrom(int fd, void *p, size_t n, int flags, struct sockaddr *sa, socklen_t *len);
int __real_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int __real_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int __real_getsockopt(int fd, int level, int name, void *v, socklen_t *len);

static fnet_sock_t socks[FNET_MAX];
static int nsocks;
int fnet_dial_mode;
int fnet_dial_errno;

void fnet_reset(void)
{
    FUZZ_CHECK(fnet_open_code_ends() == 0);
    fnet_close_peers();
    memset(socks, 0, sizeof socks);
    nsocks = 0;
    fnet_dial_mode = FNET_DIAL_OK;
    fnet_dial_errno = 0;
}

int fnet_count(void) { return nsocks; }

fnet_sock_t *fnet_at(int i) { return i >= 0 && i < nsocks ? &socks[i] : NULL; }

fnet_sock_t *fnet_find(int fd)
{
    if (fd < 0) return NULL;
    for (int i = 0; i < nsocks; i++)
        if (socks[i].fd == fd) return &socks[i];
    return NULL;
}

void fnet_close_peer(fnet_sock_t *s)
{
    if (s->peer >= 0) __real_close(s->peer);
    s->peer = -1;
}

void fnet_close_peers(void)
{
    for (int i = 0; i < nsocks; i++) fnet_close_peer(&socks[i]);
}

int fnet_open_code_ends(void)
{
    int n = 0;
    for (int i = 0; i < nsocks; i++) n += socks[i].fd >= 0;
    return n;
}

socklen_t fnet_addr(struct sockaddr_storage *ss, const char *text)
{
    char host[64];
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(text, ':');
    FUZZ_CHECK(colon && (size_t)(colon - text) < sizeof host);
    int port = atoi(colon + 1);
    if (text[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        memcpy(host, text + 1, (size_t)(colon - text - 2));
        host[colon - text - 2] = 0;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        FUZZ_CHECK(inet_pton(AF_INET6, host, &s6->sin6_addr) == 1);
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    FUZZ_CHECK(inet_pton(AF_INET, host, &s4->sin_addr) == 1);
    return sizeof *s4;
}

/* A new slot with a socketpair of `type`; NULL (errno EMFILE) when full. */
static fnet_sock_t *new_sock(int kind, int type, int family)
{
    int sv[2];
    if (nsocks == FNET_MAX) { errno = EMFILE; return NULL; }
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        FUZZ_CHECK(errno == EMFILE || errno == ENFILE); /* else the harness is broken */
        return NULL;
    }
    fnet_sock_t *s = &socks[nsocks++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->fd = sv[0];
    s->peer = sv[1];
    s->family = family;
    return s;
}

static socklen_t family_len(int family)
{
    return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

int fnet_conn(const struct sockaddr_storage *local, const struct sockaddr_storage *remote)
{
    fnet_sock_t *s = new_sock(FNET_CONN, SOCK_STREAM, remote->ss_family);
    if (!s) return -1;
    s->local = *local;
    s->local_len = family_len(local->ss_family);
    s->remote = *remote;
    s->remote_len = family_len(remote->ss_family);
    return (int)(s - socks);
}

/* A socket address the code built: its family and length agree, and an
 * AF_INET6 socket is given AF_INET6 addresses only. */
static void check_addr(const fnet_sock_t *s, const struct sockaddr *sa, socklen_t len)
{
    FUZZ_CHECK(sa != NULL);
    FUZZ_CHECK(sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
    FUZZ_CHECK(len == family_len(sa->sa_family));
    if (s) FUZZ_CHECK(sa->sa_family == s->family);
}

/* ---- the wrapped calls ---- */

int __wrap_tcp_connect_start(const struct sockaddr *sa, socklen_t len)
{
    check_addr(NULL, sa, len);
    int mode = fnet_dial_mode;
    fnet_dial_mode = FNET_DIAL_OK;
    if (mode == FNET_DIAL_FAIL) {
        errno = fnet_dial_errno ? fnet_dial_errno : ECONNREFUSED;
        return -1;
    }
    fnet_sock_t *s = new_sock(FNET_TCP, SOCK_STREAM, sa->sa_family);
    if (!s) return -1;
    memcpy(&s->remote, sa, len);
    s->remote_len = len;
    if (mode == FNET_DIAL_REFUSED) s->so_error = ECONNREFUSED;
    if (mode == FNET_DIAL_SLOW) {
        /* Not writable (the "connect" goes on) until the harness reads the peer:
         * a minimal send buffer, filled. */
        int one = 1;
        static const uint8_t junk[512];
        setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
        while (send(s->fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {}
    }
    return s->fd;
}

int __wrap_socket(int domain, int type, int proto)
{
    if (domain != AF_INET && domain != AF_INET6) return __real_socket(domain, type, proto);
    /* A TCP socket toward the network outside tcp_connect_start: real I/O. */
    FUZZ_CHECK((type & 0xf) == SOCK_DGRAM);
    fnet_sock_t *s = new_sock(FNET_UDP, SOCK_DGRAM, domain);
    if (!s) return -1;
    s->local.ss_family = (sa_family_t)domain;
    s->local_len = family_len(domain);
    return s->fd;
}

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    fnet_sock_t *s = fnet_find(fd);
    FUZZ_CHECK(s != NULL && s->kind == FNET_UDP); /* no real connect, ever */
    check_addr(s, sa, len);
    memcpy(&s->remote, sa, len);
    s->remote_len = len;
    return 0;
}

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s) return __real_bind(fd, sa, len);
    FUZZ_CHECK(s->kind == FNET_UDP);
    check_addr(s, sa, len);
    memcpy(&s->local, sa, len);
    s->local_len = len;
    /* port 0: the system would pick one */
    uint16_t *port = sa->sa_family == AF_INET ? &((struct sockaddr_in *)&s->local)->sin_port
                                              : &((struct sockaddr_in6 *)&s->local)->sin6_port;
    if (!*port) *port = htons((uint16_t)(40000 + (s - socks)));
    return 0;
}

ssize_t __wrap_sendto(int fd, const void *p, size_t n, int flags, const struct sockaddr *sa, socklen_t len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s) return __real_sendto(fd, p, n, flags, sa, len);
    if (sa) {
        check_addr(s, sa, len);
        memcpy(&s->last_to, sa, len);
        s->last_to_len = len;
    } else {
        FUZZ_CHECK(s->kind != FNET_UDP || s->remote_len); /* unconnected, no address */
        s->last_to_len = 0;
    }
    return send(fd, p, n, flags | MSG_DONTWAIT);
}

ssize_t __wrap_recvfrom(int fd, void *p, size_t n, int flags, struct sockaddr *sa, socklen_t *len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s) return __real_recvfrom(fd, p, n, flags, sa, len);
    ssize_t k = recv(fd, p, n, flags);
    if (k >= 0 && sa && len) {
        socklen_t fl = s->from_len ? s->from_len : 0;
        memcpy(sa, &s->from, fl < *len ? fl : *len);
        if (!fl) sa->sa_family = AF_UNSPEC; /* unknown: what an AF_UNIX peer gives */
        *len = fl;
    }
    return k;
}

static int name_of(const struct sockaddr_storage *a, socklen_t alen, struct sockaddr *sa, socklen_t *len)
{
    memcpy(sa, a, alen < *len ? alen : *len);
    *len = alen;
    return 0;
}

int __wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s) return __real_getsockname(fd, sa, len);
    if (!s->local_len) { /* a dialed socket: an ephemeral port */
        fnet_addr(&s->local, s->family == AF_INET ? "10.0.0.2:50001" : "[fd00::2]:50001");
        s->local_len = family_len(s->family);
    }
    return name_of(&s->local, s->local_len, sa, len);
}

int __wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s) return __real_getpeername(fd, sa, len);
    if (!s->remote_len) { errno = ENOTCONN; return -1; }
    return name_of(&s->remote, s->remote_len, sa, len);
}

int __wrap_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
    fnet_sock_t *s = fnet_find(fd);
    if (!s || level != SOL_SOCKET || name != SO_ERROR) return __real_getsockopt(fd, level, name, v, len);
    FUZZ_CHECK(*len >= sizeof(int));
    *(int *)v = s->so_error;
    *len = sizeof(int);
    s->so_error = 0;
    return 0;
}

int __wrap_close(int fd)
{
    fnet_sock_t *s = fnet_find(fd);
    if (s) s->fd = -1;
    return __real_close(fd);
}
