/* loop.h -- one epoll event loop per thread: fd handlers, timers, tasks posted
 * from other threads, and frees deferred to the end of an iteration (so an
 * object closed by one event is never touched by a later event of the same
 * epoll batch). Everything but loop_post/loop_stop is called on the loop's own
 * thread. Level-triggered. */
#ifndef LOOP_H
#define LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop_t;
typedef struct ioh ioh_t;
typedef void (*io_cb_t)(loop_t *l, ioh_t *h, uint32_t events);

struct ioh {             /* embed in the owner; owner keeps it alive until deferred free */
    int fd;
    uint32_t events;     /* registered EPOLLIN/EPOLLOUT */
    io_cb_t cb;
    void *ud;
    unsigned char again; /* queued by loop_again */
};

typedef struct ltimer ltimer_t;
typedef void (*timer_cb_t)(loop_t *l, ltimer_t *t);
struct ltimer {          /* embed in the owner */
    uint64_t when;       /* ms, monotonic */
    int idx;             /* heap slot, -1 when not armed */
    timer_cb_t cb;
    void *ud;
};

loop_t *loop_new(void);
void loop_free(loop_t *l);
void loop_run(loop_t *l);      /* until loop_stop; may be run again after (tests run one in steps) */
void loop_stop(loop_t *l);     /* any thread */
uint64_t loop_now(loop_t *l);  /* ms, cached per iteration */
uint64_t loop_iter(loop_t *l); /* iterations (epoll_wait calls) so far */

/* events 0: the fd is not watched at all, not even for EPOLLHUP/EPOLLERR
 * (which epoll reports whatever the mask), until loop_mod asks for some. */
int loop_add(loop_t *l, ioh_t *h, int fd, uint32_t events, io_cb_t cb, void *ud);
int loop_mod(loop_t *l, ioh_t *h, uint32_t events);  /* no-op if unchanged */
void loop_del(loop_t *l, ioh_t *h);                  /* does not close the fd */

void timer_init(ltimer_t *t, timer_cb_t cb, void *ud);
void timer_set(loop_t *l, ltimer_t *t, uint64_t delay_ms);
void timer_cancel(loop_t *l, ltimer_t *t);

/* Calls h's callback with EPOLLIN at the start of the next iteration (which
 * then does not block): for bytes a reader holds that epoll cannot see, left
 * for later when its per-wake-up budget ran out. Dropped if h is deleted
 * (loop_del) first, as it must be before its owner is freed. */
void loop_again(loop_t *l, ioh_t *h);

/* Runs fn(arg) on the loop's thread soon; safe from any thread. */
int loop_post(loop_t *l, void (*fn)(loop_t *, void *), void *arg);
/* Frees p with fn(p) after the current batch of events. */
void loop_defer_free(loop_t *l, void *p, void (*fn)(void *));

/* Calls fn(arg) once at the end of this iteration's events (before deferred
 * frees). Used to coalesce small writes: many frames, one TLS record. *queued
 * is the caller's flag that avoids double registration; it is cleared before
 * fn runs. */
void loop_at_end(loop_t *l, void (*fn)(loop_t *, void *), void *arg, unsigned char *queued);

/* Out of file descriptors on accept: a level-triggered listener would report
 * the waiting connection again at once and spin. Stops watching the listener
 * for `ms` (t's callback must call listener_resume), logging once per pause. */
void listener_pause(loop_t *l, ioh_t *listener, ltimer_t *t, int ms, const char *who);
void listener_resume(loop_t *l, ioh_t *listener);

/* Per-loop scratch buffer for reads (LOOP_SCRATCH bytes + 64 bytes of headroom
 * in front for a frame header). */
#define LOOP_SCRATCH (64 * 1024)
#define LOOP_HEADROOM 64
uint8_t *loop_scratch(loop_t *l);  /* points after the headroom */

#endif
