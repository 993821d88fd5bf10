/* server.h -- the AnyTLS server: N workers, each with its own listener
 * (SO_REUSEPORT), epoll loop, sessions and streams; outbound connections come
 * through the pool (pools/pool.h). */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include "pool.h"

typedef struct server_config {
    const char *listen;            /* "0.0.0.0:8443" */
    const char *password;          /* user "default"; may be NULL with users_file */
    const char *users_file;        /* lines name:password (users.h), or NULL */
    int max_sessions_per_user;     /* authenticated sessions of one user, all workers (0: no cap) */
    const char *fallback;          /* HOST:PORT that gets connections that do not authenticate, or NULL */
    int fallback_proxy_protocol;   /* 0, or PROXY protocol version 1 or 2 sent to the fallback first */
    int max_fallback;              /* fallback connections at once, all workers (default 256) */
    const char *padding_file;      /* NULL: default scheme */
    const char *cert, *key;        /* NULL: self-signed */
    int workers;                   /* 0: number of cores */
    int max_streams;               /* per session */
    int auth_timeout_ms;
    int connect_timeout_ms;
    int stall_timeout_ms;          /* a stream that blocks its session this long is reset */
    int stats_interval_s;
    int drain_timeout_ms;
    int tls_tickets;               /* TLS 1.3 tickets per handshake (default 0, see tls.h) */
    int max_sessions;              /* authenticated sessions open at once, all workers (default 10000) */
    int max_preauth;               /* connections not yet authenticated, all workers (default 2048) */
    int max_preauth_per_addr;      /* ... from one IPv4 address or IPv6 /64 (default 32) */
    int max_spare_dials;           /* refill connects started per second per worker (default 200) */
    const char *user;              /* drop privileges to this user after binding, or NULL */
    size_t stream_buf;             /* bytes buffered per stream toward its target before back-pressure */
    size_t session_buf;            /* ... per session, all its streams (default 4 MiB) */
    size_t process_buf;            /* ... all sessions of the process (default 256 MiB) */
    const char *pool_type;
    pool_config_t pool;
    int deny_private_targets;      /* refuse private, loopback, ... destinations (target_policy.h) */
    const char *allow_targets;     /* CIDRs allowed despite that (comma list), or NULL */
    int max_spares;                /* warm spares held or being dialed, whole pool (default 4096) */
    int tcp_fast_open;             /* streams' own dials use TCP_FASTOPEN_CONNECT (outbound.c; start only) */
    int log_targets;               /* targets in log lines (default 1; 0: hidden, for privacy) */
    const char *metrics_listen;    /* loopback admin port for GET /metrics, or NULL */
    const char *dns_servers;       /* "IP[:port],..." for the resolvers, or NULL: /etc/resolv.conf (start only) */
    int log_level;                 /* for reloads: the level the configuration asks for (-1: unchanged) */
    /* SIGHUP: fills *out with the configuration as it reads now (same flags and
     * --config file); 0, or -1 after logging why. NULL: SIGHUP changes nothing. */
    int (*reload)(void *arg, struct server_config *out);
    void *reload_arg;
} server_config_t;

void server_config_defaults(server_config_t *c);
/* Runs until SIGINT/SIGTERM; returns the process exit code. */
int server_run(server_config_t *c);

#endif
