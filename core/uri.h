/* uri.h -- the client's -s argument: "host:port" or
 * "anytls://password@host:port[/][?sni=NAME&insecure=1...]". Percent-decoding in
 * the password. Unknown query keys are ignored. */
#ifndef URI_H
#define URI_H

#include <stddef.h>

typedef struct server_uri {
    char host[256];
    char port[6];
    char password[256];   /* empty if the URI had none */
    char sni[256];        /* empty if none */
    int has_password;
} server_uri_t;

/* 0 on success; -1 with a human message in err (cap errcap) on failure. */
int uri_parse(const char *s, server_uri_t *u, char *err, size_t errcap);

#endif
