#include "dns.h"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DNS_THREADS 2

typedef struct dreq {
    loop_t *loop;
    char name[256];
    unsigned short port;
    dns_cb_t cb;
    void *arg;
    int err;
    struct sockaddr_storage ss;
    socklen_t len;
    struct dreq *next;
} dreq_t;

/* The request queue is shared by the workers that ask and the resolver threads
 * that answer: every field below is guarded by mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static dreq_t *head, **tail = &head;
static int started, stopping;
static pthread_t threads[DNS_THREADS];

static void deliver(loop_t *l, void *p)
{
    dreq_t *r = p;
    r->cb(l, r->arg, r->err, r->err ? gai_strerror(r->err) : NULL, &r->ss, r->len);
    free(r);
}

static void resolve(dreq_t *r)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG }, *res = NULL;
    r->err = getaddrinfo(r->name, NULL, &hints, &res);
    if (r->err == 0) {
        struct addrinfo *pick = res;
        for (struct addrinfo *a = res; a; a = a->ai_next)
            if (a->ai_family == AF_INET) { pick = a; break; }
        memcpy(&r->ss, pick->ai_addr, pick->ai_addrlen);
        r->len = pick->ai_addrlen;
        if (r->ss.ss_family == AF_INET) ((struct sockaddr_in *)&r->ss)->sin_port = htons(r->port);
        else ((struct sockaddr_in6 *)&r->ss)->sin6_port = htons(r->port);
        freeaddrinfo(res);
    }
}

static void *resolver(void *unused)
{
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!head && !stopping) pthread_cond_wait(&cv, &mu);
        if (!head) { pthread_mutex_unlock(&mu); return NULL; }
        dreq_t *r = head;
        head = r->next;
        if (!head) tail = &head;
        pthread_mutex_unlock(&mu);
        resolve(r);
        if (loop_post(r->loop, deliver, r) < 0) free(r); /* loop gone or no memory: drop */
    }
}

int dns_resolve(loop_t *l, const char *name, unsigned short port, dns_cb_t cb, void *arg)
{
    dreq_t *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->loop = l; r->port = port; r->cb = cb; r->arg = arg;
    strncpy(r->name, name, sizeof r->name - 1);
    pthread_mutex_lock(&mu);
    if (!started) {
        started = 1;
        for (int i = 0; i < DNS_THREADS; i++) pthread_create(&threads[i], NULL, resolver, NULL);
    }
    *tail = r; tail = &r->next;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

void dns_shutdown(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    int was = started;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (was)
        for (int i = 0; i < DNS_THREADS; i++) pthread_join(threads[i], NULL);
}
