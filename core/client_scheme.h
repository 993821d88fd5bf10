/* client_scheme.h -- the padding scheme anytls-client is using: the default one
 * until a server sends another (cmd 6), then that one for every new session.
 * Sessions take a counted reference when they start, so a replaced scheme lives
 * until the last session using it ends. Safe from any worker thread. */
#ifndef CLIENT_SCHEME_H
#define CLIENT_SCHEME_H

#include "client_types.h"

/* A reference to the scheme in force (scheme_set must have been called once). */
scheme_ref_t *scheme_get(void);
/* Drops a reference (NULL is a no-op); the last one frees the scheme. */
void scheme_put(scheme_ref_t *r);
/* Makes s (owned from now on) the scheme in force; 0, or -1 out of memory. */
int scheme_set(padding_scheme_t *s);
/* Drops the scheme in force (at exit). */
void scheme_clear(void);

#endif
