#include "loop.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct task { void (*fn)(loop_t *, void *); void *arg; struct task *next; } task_t;
typedef struct dfree { void *p; void (*fn)(void *); } dfree_t;
typedef struct endcb { void (*fn)(loop_t *, void *); void *arg; unsigned char *queued; } endcb_t;

struct loop {
    int ep, evfd;
    ioh_t evh;
    atomic_int stop;             /* set by any thread, read by the loop */
    uint64_t now, iter;
    ltimer_t **heap; int nheap, capheap;
    pthread_mutex_t mu;          /* guards tasks: the only cross-thread state */
    task_t *tasks, **tail;
    dfree_t *dfree; int ndfree, capdfree;
    endcb_t *ends; int nends, capends;
    ioh_t **again; int nagain, capagain;
    uint8_t *scratch;
};

static void run_ends(loop_t *l);

static void heap_swap(loop_t *l, int a, int b)
{
    ltimer_t *t = l->heap[a];
    l->heap[a] = l->heap[b]; l->heap[b] = t;
    l->heap[a]->idx = a; l->heap[b]->idx = b;
}

static void heap_up(loop_t *l, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p]->when <= l->heap[i]->when) break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(loop_t *l, int i)
{
    for (;;) {
        int c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->when < l->heap[m]->when) m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when) m = c + 1;
        if (m == i) return;
        heap_swap(l, i, m);
        i = m;
    }
}

void timer_init(ltimer_t *t, timer_cb_t cb, void *ud)
{
    t->when = 0; t->idx = -1; t->cb = cb; t->ud = ud;
}

void timer_cancel(loop_t *l, ltimer_t *t)
{
    int i = t->idx;
    if (i < 0) return;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->idx = -1;
}

void timer_set(loop_t *l, ltimer_t *t, uint64_t delay_ms)
{
    timer_cancel(l, t);
    if (l->nheap == l->capheap) {
        int cap = l->capheap ? l->capheap * 2 : 256;
        ltimer_t **h = realloc(l->heap, cap * sizeof *h);
        if (!h) abort(); /* timers are bounded by live objects; out of memory here is fatal */
        l->heap = h; l->capheap = cap;
    }
    t->when = now_ms() + delay_ms;
    t->idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->idx);
}

static void run_tasks(loop_t *l, ioh_t *h, uint32_t ev)
{
    uint64_t v;
    ssize_t r = read(l->evfd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->mu);
    task_t *t = l->tasks;
    l->tasks = NULL; l->tail = &l->tasks;
    pthread_mutex_unlock(&l->mu);
    while (t) {
        task_t *n = t->next;
        t->fn(l, t->arg);
        free(t);
        t = n;
    }
}

loop_t *loop_new(void)
{
    loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->scratch = malloc(LOOP_SCRATCH + LOOP_HEADROOM);
    if (l->ep < 0 || l->evfd < 0 || !l->scratch) { loop_free(l); return NULL; }
    pthread_mutex_init(&l->mu, NULL);
    l->tail = &l->tasks;
    l->now = now_ms();
    loop_add(l, &l->evh, l->evfd, EPOLLIN, run_tasks, l);
    return l;
}

static void flush_dfree(loop_t *l)
{
    for (int i = 0; i < l->ndfree; i++) l->dfree[i].fn(l->dfree[i].p);
    l->ndfree = 0;
}

void loop_free(loop_t *l)
{
    if (!l) return;
    run_tasks(l, &l->evh, 0);  /* tasks posted after the loop stopped free what they carry */
    run_ends(l);
    flush_dfree(l);
    if (l->ep >= 0) close(l->ep);
    if (l->evfd >= 0) close(l->evfd);
    free(l->heap); free(l->dfree); free(l->ends); free(l->again); free(l->scratch);
    free(l);
}

uint8_t *loop_scratch(loop_t *l) { return l->scratch + LOOP_HEADROOM; }
uint64_t loop_now(loop_t *l) { return l->now; }
uint64_t loop_iter(loop_t *l) { return l->iter; }

/* A handler that wants no event is not in the epoll set at all: epoll reports
 * EPOLLHUP and EPOLLERR whatever the mask, so a hung-up socket whose owner
 * stopped reading (back-pressure) would call its handler on every iteration,
 * which could do nothing about it: a busy loop. */
int loop_add(loop_t *l, ioh_t *h, int fd, uint32_t events, io_cb_t cb, void *ud)
{
    h->fd = fd; h->events = events; h->cb = cb; h->ud = ud; h->again = 0;
    if (!events) return 0;
    struct epoll_event ev = { .events = events, .data.ptr = h };
    return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

int loop_mod(loop_t *l, ioh_t *h, uint32_t events)
{
    if (h->events == events || h->fd < 0) return 0;
    int op = !events ? EPOLL_CTL_DEL : !h->events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    h->events = events;
    struct epoll_event ev = { .events = events, .data.ptr = h };
    return epoll_ctl(l->ep, op, h->fd, &ev);
}

void loop_del(loop_t *l, ioh_t *h)
{
    if (h->fd >= 0 && h->events) epoll_ctl(l->ep, EPOLL_CTL_DEL, h->fd, NULL);
    h->fd = -1;
    h->cb = NULL;
}

void loop_again(loop_t *l, ioh_t *h)
{
    if (h->again || !h->cb) return;
    if (l->nagain == l->capagain) {
        int cap = l->capagain ? l->capagain * 2 : 64;
        ioh_t **a = realloc(l->again, cap * sizeof *a);
        if (!a) return;  /* the reader's next socket event resumes it */
        l->again = a; l->capagain = cap;
    }
    h->again = 1;
    l->again[l->nagain++] = h;
}

/* Before the iteration's deferred frees: handlers deleted meanwhile are
 * forgotten (their owners are about to be freed). */
static void prune_again(loop_t *l)
{
    int k = 0;
    for (int i = 0; i < l->nagain; i++) {
        if (l->again[i]->cb) l->again[k++] = l->again[i];
        else l->again[i]->again = 0;
    }
    l->nagain = k;
}

/* At the start of an iteration, before its events: every entry is alive
 * (pruned at the end of the last one, nothing ran since). Entries queued
 * while these run wait for the next iteration. */
static void run_again(loop_t *l)
{
    int n = l->nagain;
    for (int i = 0; i < n; i++) {
        ioh_t *h = l->again[i];
        h->again = 0;
        l->again[i] = NULL;
        if (h->cb) h->cb(l, h, EPOLLIN);
    }
    int k = 0;
    for (int i = n; i < l->nagain; i++) l->again[k++] = l->again[i];
    l->nagain = k;
}

int loop_post(loop_t *l, void (*fn)(loop_t *, void *), void *arg)
{
    task_t *t = malloc(sizeof *t);
    if (!t) return -1;
    t->fn = fn; t->arg = arg; t->next = NULL;
    pthread_mutex_lock(&l->mu);
    *l->tail = t; l->tail = &t->next;
    pthread_mutex_unlock(&l->mu);
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof one);
    (void)r;
    return 0;
}

void loop_stop(loop_t *l)
{
    l->stop = 1;
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof one);
    (void)r;
}

void loop_defer_free(loop_t *l, void *p, void (*fn)(void *))
{
    if (l->ndfree == l->capdfree) {
        int cap = l->capdfree ? l->capdfree * 2 : 64;
        dfree_t *d = realloc(l->dfree, cap * sizeof *d);
        if (!d) { fn(p); return; } /* cannot defer: nothing else references p in practice */
        l->dfree = d; l->capdfree = cap;
    }
    l->dfree[l->ndfree].p = p;
    l->dfree[l->ndfree++].fn = fn;
}

void loop_at_end(loop_t *l, void (*fn)(loop_t *, void *), void *arg, unsigned char *queued)
{
    if (*queued) return;
    if (l->nends == l->capends) {
        int cap = l->capends ? l->capends * 2 : 64;
        endcb_t *e = realloc(l->ends, cap * sizeof *e);
        if (!e) { fn(l, arg); return; }
        l->ends = e; l->capends = cap;
    }
    *queued = 1;
    l->ends[l->nends++] = (endcb_t){ fn, arg, queued };
}

static void run_ends(loop_t *l)
{
    /* callbacks may queue more (a flush that frees a stream's reads): loop */
    for (int i = 0; i < l->nends; i++) {
        endcb_t e = l->ends[i];
        *e.queued = 0;
        e.fn(l, e.arg);
    }
    l->nends = 0;
}

void listener_pause(loop_t *l, ioh_t *h, ltimer_t *t, int ms, const char *who)
{
    if (h->fd < 0 || !(h->events & EPOLLIN)) return;
    log_warn("%s: out of file descriptors (%s); not accepting for %d ms", who, strerror(errno), ms);
    loop_mod(l, h, 0);
    timer_set(l, t, (uint64_t)ms);
}

void listener_resume(loop_t *l, ioh_t *h)
{
    if (h->fd >= 0) loop_mod(l, h, EPOLLIN);
}

void loop_run(loop_t *l)
{
    struct epoll_event evs[256];
    while (!l->stop) {
        int timeout = -1;
        l->now = now_ms();
        if (l->nheap) {
            uint64_t w = l->heap[0]->when;
            timeout = w <= l->now ? 0 : (int)(w - l->now);
        }
        if (l->nagain) timeout = 0;
        int n = epoll_wait(l->ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) break;
        l->iter++;
        l->now = now_ms();
        if (l->nagain) run_again(l);
        for (int i = 0; i < n; i++) {
            ioh_t *h = evs[i].data.ptr;
            if (h->cb) h->cb(l, h, evs[i].events);
        }
        while (l->nheap && l->heap[0]->when <= l->now) {
            ltimer_t *t = l->heap[0];
            timer_cancel(l, t);
            t->cb(l, t);
        }
        run_ends(l);
        if (l->nagain) prune_again(l);
        flush_dfree(l);
    }
    l->stop = 0;
}
