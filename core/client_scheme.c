/* client_scheme.c -- the padding scheme in force on the client side (see
 * client_scheme.h). The only state the client's workers share besides their
 * idle counts: one pointer, swapped under a mutex. */
#include "client_scheme.h"

#include <stdlib.h>

/* Shared by all workers on purpose: a scheme a server pushed applies to every
 * later session, whichever worker opens it. The pointer swap is guarded by
 * scheme_mu, counts are atomic. */
static pthread_mutex_t scheme_mu = PTHREAD_MUTEX_INITIALIZER;
static scheme_ref_t *scheme_cur;

scheme_ref_t *scheme_get(void)
{
    pthread_mutex_lock(&scheme_mu);
    scheme_ref_t *r = scheme_cur;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&scheme_mu);
    return r;
}

void scheme_put(scheme_ref_t *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) { padding_free(r->s); free(r); }
}

int scheme_set(padding_scheme_t *s)
{
    scheme_ref_t *r = malloc(sizeof *r);
    if (!r) { padding_free(s); return -1; }
    r->s = s;
    atomic_init(&r->refs, 1);
    pthread_mutex_lock(&scheme_mu);
    scheme_ref_t *old = scheme_cur;
    scheme_cur = r;
    pthread_mutex_unlock(&scheme_mu);
    scheme_put(old);
    return 0;
}

void scheme_clear(void)
{
    pthread_mutex_lock(&scheme_mu);
    scheme_ref_t *old = scheme_cur;
    scheme_cur = NULL;
    pthread_mutex_unlock(&scheme_mu);
    scheme_put(old);
}
