/* client.h -- the AnyTLS client: a local SOCKS5 / SOCKS4a / HTTP proxy port whose
 * connections ride AnyTLS sessions to the server, one stream per session at a
 * time, idle sessions reused newest first (as the reference client). */
#ifndef CLIENT_H
#define CLIENT_H

/* The name this client gives in its Settings frame, `client=NAME/VERSION`
 * (PROTOCOL.md §3): other implementations give their own, not the reference's
 * anytls/0.0.13. ANYTLS_VERSION comes from the build (git describe). */
#ifndef ANYTLS_VERSION
#define ANYTLS_VERSION "unknown"
#endif
#define ANYTLS_CLIENT_NAME "anytls-c/" ANYTLS_VERSION
/* The Settings text is built in a 160-byte buffer with the 32-hex md5. */
_Static_assert(sizeof ANYTLS_CLIENT_NAME <= 64, "ANYTLS_CLIENT_NAME too long for the Settings frame");

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
