/* client.h -- the AnyTLS client: a local SOCKS5 / SOCKS4a / HTTP proxy port whose
 * connections ride AnyTLS sessions to the server, one stream per session at a
 * time, idle sessions reused newest first (as the reference client). */
#ifndef CLIENT_H
#define CLIENT_H

typedef struct client_config {
    const char *listen;        /* "127.0.0.1:1080" */
    const char *server_host;
    const char *server_port;
    const char *password;
    const char *sni;           /* NULL/empty: no SNI */
    const char *ca;            /* NULL: do not verify the server (reference behaviour) */
    int min_idle;              /* idle sessions kept past the idle timeout (per worker) */
    int workers;               /* 0: number of cores */
    int idle_timeout_ms;       /* 30 s */
    int check_interval_ms;     /* 30 s */
    int handshake_timeout_ms;  /* local proxy handshake and TLS connect, 10 s */
} client_config_t;

void client_config_defaults(client_config_t *c);
int client_run(client_config_t *c);

#endif
